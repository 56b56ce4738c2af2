/* Image-folder trees: layout detection, class folders, the image files below
 * them, and the seeded stratified validation split. See imagefolder.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/imagefolder.h"

#define MAX_DEPTH 64 /* folders below a class folder */

/* Validation split stream: one per class, so adding a class leaves the others' splits alone. */
#define SPLIT_STREAM 0x5e1175117ull

/* ---- small lists -------------------------------------------------------- */

static int grow_ptrs(void **p, int32_t *cap, int32_t n, size_t elem) {
  if (n < *cap) return 1;
  int32_t c = *cap ? *cap * 2 : 64;
  if (c < *cap) return 0;
  void *q = realloc(*p, (size_t)c * elem);
  if (!q) return 0;
  *p = q;
  *cap = c;
  return 1;
}

void clnet_image_list_free(clnet_image_list *l) {
  if (!l) return;
  for (int32_t i = 0; i < l->n; i++) free(l->paths[i]);
  free(l->paths);
  free(l->labels);
  memset(l, 0, sizeof *l);
}

int clnet_image_list_add(clnet_image_list *l, const char *path, int32_t label) {
  if (l->n == INT32_MAX) return 0;
  if (l->n >= l->cap) {
    int32_t cap = l->cap;
    if (!grow_ptrs((void **)&l->paths, &cap, l->n, sizeof *l->paths)) return 0;
    int32_t cap2 = l->cap;
    if (!grow_ptrs((void **)&l->labels, &cap2, l->n, sizeof *l->labels)) return 0;
    l->cap = cap < cap2 ? cap : cap2;
  }
  char *p = strdup(path);
  if (!p) return 0;
  l->paths[l->n] = p;
  l->labels[l->n] = label;
  l->n++;
  return 1;
}

void clnet_bad_list_free(clnet_bad_list *b) {
  if (!b) return;
  for (int32_t i = 0; i < b->n; i++) free(b->lines[i]);
  free(b->lines);
  memset(b, 0, sizeof *b);
}

int clnet_bad_list_add(clnet_bad_list *b, const char *line) {
  if (!grow_ptrs((void **)&b->lines, &b->cap, b->n, sizeof *b->lines)) return 0;
  char *p = strdup(line);
  if (!p) return 0;
  b->lines[b->n++] = p;
  return 1;
}

typedef struct {
  int32_t n, cap;
  char **s;
} strvec;

static void strvec_free(strvec *v) {
  for (int32_t i = 0; i < v->n; i++) free(v->s[i]);
  free(v->s);
  memset(v, 0, sizeof *v);
}

static int strvec_add(strvec *v, const char *s) {
  if (!grow_ptrs((void **)&v->s, &v->cap, v->n, sizeof *v->s)) return 0;
  char *p = strdup(s);
  if (!p) return 0;
  v->s[v->n++] = p;
  return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static void strvec_sort(strvec *v) {
  if (v->n > 1) qsort(v->s, (size_t)v->n, sizeof *v->s, cmp_str);
}

static clnet_status oom(const char *where) {
  return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory while listing its files", where);
}

/* ---- names and paths ------------------------------------------------------ */

int clnet_is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && dot != name && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static char *join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", a, b);
  return p;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The non-hidden entries of dir, sorted. */
static clnet_status list_dir(const char *dir, strvec *out) {
  memset(out, 0, sizeof *out);
  DIR *d = opendir(dir);
  if (!d) return clnet_set_error(CLNET_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
  struct dirent *e;
  clnet_status st = CLNET_SUCCESS;
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue; /* ., .., and hidden files (.DS_Store, .ipynb_checkpoints) */
    if (!strvec_add(out, e->d_name)) {
      st = oom(dir);
      break;
    }
    errno = 0;
  }
  if (st == CLNET_SUCCESS && errno != 0) st = clnet_set_error(CLNET_ERR_IO, "%s: cannot list folder: %s", dir, strerror(errno));
  closedir(d);
  if (st != CLNET_SUCCESS) strvec_free(out);
  else strvec_sort(out);
  return st;
}

/* ---- one class folder ------------------------------------------------------- */

typedef struct {
  dev_t dev[MAX_DEPTH + 2];
  ino_t ino[MAX_DEPTH + 2];
  char *path[MAX_DEPTH + 2];
  int32_t depth;
} dir_stack;

typedef struct {
  const clnet_tree_options *o;
  clnet_image_tree *t;
  int32_t entries; /* non-hidden entries met below the class folder */
} scan_state;

static void note_ignored(scan_state *s, const char *path) {
  s->t->ignored++;
  if (!s->t->ignored_example) s->t->ignored_example = strdup(path);
}

/* Every image below dir (recursively), appended to files. */
static clnet_status scan_tree(scan_state *s, const char *dir, dir_stack *stack, strvec *files) {
  strvec names;
  CLNET_TRY(list_dir(dir, &names));
  clnet_status st = CLNET_SUCCESS;
  for (int32_t i = 0; i < names.n && st == CLNET_SUCCESS; i++) {
    char *p = join(dir, names.s[i]);
    if (!p) {
      st = oom(dir);
      break;
    }
    s->entries++;
    struct stat sb;
    if (stat(p, &sb) != 0) {
      const int e = errno;
      char line[4200];
      if (e == ELOOP) {
        st = clnet_set_error(CLNET_ERR_IO, "%s: symbolic-link loop (%s)", p, strerror(e));
      } else if (clnet_is_image_name(names.s[i])) {
        struct stat lb;
        const int dangling = lstat(p, &lb) == 0 && S_ISLNK(lb.st_mode);
        snprintf(line, sizeof line, "%s: cannot read: %s%s", p, strerror(e),
                 dangling ? " (a symbolic link to nothing)" : "");
        if (s->o->skip_bad) {
          if (!clnet_bad_list_add(&s->t->bad, line)) st = oom(dir);
        } else {
          st = clnet_set_error(CLNET_ERR_IO, "%s", line);
        }
      } else {
        note_ignored(s, p);
      }
    } else if (S_ISDIR(sb.st_mode)) {
      for (int32_t k = 0; k < stack->depth; k++)
        if (stack->dev[k] == sb.st_dev && stack->ino[k] == sb.st_ino) {
          st = clnet_set_error(CLNET_ERR_IO, "%s: symbolic-link loop: it leads back to %s", p, stack->path[k]);
          break;
        }
      if (st == CLNET_SUCCESS && stack->depth > MAX_DEPTH)
        st = clnet_set_error(CLNET_ERR_IO, "%s: more than %d folders deep below the class folder", p, MAX_DEPTH);
      if (st == CLNET_SUCCESS) {
        stack->dev[stack->depth] = sb.st_dev;
        stack->ino[stack->depth] = sb.st_ino;
        stack->path[stack->depth] = p;
        stack->depth++;
        st = scan_tree(s, p, stack, files);
        stack->depth--;
      }
    } else if (S_ISREG(sb.st_mode) && clnet_is_image_name(names.s[i])) {
      if (!strvec_add(files, p)) st = oom(dir);
    } else if (clnet_is_image_name(names.s[i])) {
      char line[4200];
      snprintf(line, sizeof line, "%s: not a regular file", p);
      if (s->o->skip_bad) {
        if (!clnet_bad_list_add(&s->t->bad, line)) st = oom(dir);
      } else {
        st = clnet_set_error(CLNET_ERR_IO, "%s", line);
      }
    } else {
      note_ignored(s, p);
    }
    free(p);
  }
  strvec_free(&names);
  return st;
}

/* The images of class folder `dir` (label `label`), sorted by path, into out. */
static clnet_status scan_class(const clnet_tree_options *o, clnet_image_tree *t, const char *dir, int32_t label,
                               clnet_image_list *out) {
  scan_state s = {.o = o, .t = t};
  dir_stack stack;
  struct stat sb;
  if (stat(dir, &sb) != 0) return clnet_set_error(CLNET_ERR_IO, "%s: cannot open class folder: %s", dir, strerror(errno));
  stack.dev[0] = sb.st_dev;
  stack.ino[0] = sb.st_ino;
  stack.path[0] = (char *)dir;
  stack.depth = 1;
  strvec files = {0};
  const int32_t bad_before = t->bad.n, ignored_before = t->ignored;
  clnet_status st = scan_tree(&s, dir, &stack, &files);
  if (st == CLNET_SUCCESS) {
    strvec_sort(&files);
    if (s.entries == 0) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: empty class folder (every class needs at least one image)", dir);
    } else if (files.n == 0 && t->bad.n == bad_before) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: class folder without .png, .jpg or .jpeg images (%d other file%s%s%s)",
                           dir, (int)(t->ignored - ignored_before), t->ignored - ignored_before == 1 ? "" : "s",
                           t->ignored_example ? ", e.g. " : "", t->ignored_example ? t->ignored_example : "");
    }
  }
  for (int32_t i = 0; i < files.n && st == CLNET_SUCCESS; i++)
    if (!clnet_image_list_add(out, files.s[i], label)) st = oom(dir);
  strvec_free(&files);
  return st;
}

/* ---- the tree ------------------------------------------------------------------ */

void clnet_image_tree_free(clnet_image_tree *t) {
  if (!t) return;
  for (int32_t i = 0; i < t->classes; i++) free(t->class_names[i]);
  free(t->class_names);
  clnet_image_list_free(&t->train);
  clnet_image_list_free(&t->test);
  free(t->ignored_example);
  clnet_bad_list_free(&t->bad);
  memset(t, 0, sizeof *t);
}

/* The subfolders of root (sorted) into dirs; loose files there are ignored (counted). */
static clnet_status class_folders(const char *root, clnet_image_tree *t, strvec *dirs) {
  strvec names;
  memset(dirs, 0, sizeof *dirs);
  CLNET_TRY(list_dir(root, &names));
  clnet_status st = CLNET_SUCCESS;
  for (int32_t i = 0; i < names.n && st == CLNET_SUCCESS; i++) {
    char *p = join(root, names.s[i]);
    if (!p) {
      st = oom(root);
      break;
    }
    struct stat sb;
    if (stat(p, &sb) != 0 && errno == ELOOP) st = clnet_set_error(CLNET_ERR_IO, "%s: symbolic-link loop (%s)", p, strerror(ELOOP));
    else if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
      if (!strvec_add(dirs, names.s[i])) st = oom(root);
    } else {
      t->ignored++;
      if (!t->ignored_example) t->ignored_example = strdup(p);
    }
    free(p);
  }
  strvec_free(&names);
  if (st != CLNET_SUCCESS) strvec_free(dirs);
  return st;
}

/* Every image of every class folder of root. */
static clnet_status scan_classes(const clnet_tree_options *o, clnet_image_tree *t, const char *root,
                                 const strvec *dirs, clnet_image_list *out) {
  for (int32_t c = 0; c < dirs->n; c++) {
    char *p = join(root, dirs->s[c]);
    if (!p) return oom(root);
    clnet_status st = scan_class(o, t, p, c, out);
    free(p);
    CLNET_TRY(st);
  }
  return CLNET_SUCCESS;
}

/* Holds out round(F * n) images of each class of n (at least 1 when n >= 2, never all),
 * chosen by a shuffle seeded with (split_seed, class): all into t->train / t->test in
 * their original order. */
static clnet_status split(const clnet_tree_options *o, clnet_image_list *all, clnet_image_tree *t) {
  uint8_t *held = calloc((size_t)all->n + 1, 1);
  int32_t *idx = malloc(((size_t)all->n + 1) * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!held || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "validation split of %d images: out of memory", (int)all->n);
    goto out;
  }
  for (int32_t lo = 0; lo < all->n;) {
    int32_t hi = lo;
    while (hi < all->n && all->labels[hi] == all->labels[lo]) hi++;
    const int32_t n = hi - lo;
    int32_t k = (int32_t)(o->val_split * n + 0.5);
    if (k == 0 && n >= 2 && o->val_split > 0) k = 1;
    if (k >= n) k = n - 1;
    for (int32_t i = 0; i < n; i++) idx[i] = i;
    clnet_rng r;
    clnet_rng_seed_stream(&r, o->split_seed, SPLIT_STREAM + (uint64_t)all->labels[lo]);
    clnet_rng_shuffle_i32(&r, idx, n);
    for (int32_t i = 0; i < k; i++) held[lo + idx[i]] = 1;
    lo = hi;
  }
  for (int32_t i = 0; i < all->n && st == CLNET_SUCCESS; i++)
    if (!clnet_image_list_add(held[i] ? &t->test : &t->train, all->paths[i], all->labels[i]))
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "validation split of %d images: out of memory", (int)all->n);
out:
  free(held);
  free(idx);
  return st;
}

static clnet_status take_names(clnet_image_tree *t, strvec *dirs) {
  t->classes = dirs->n;
  t->class_names = dirs->s;
  dirs->s = NULL;
  dirs->n = dirs->cap = 0;
  return CLNET_SUCCESS;
}

clnet_status clnet_image_tree_scan(const char *dir, const clnet_tree_options *o, clnet_image_tree *t, int *found) {
  memset(t, 0, sizeof *t);
  *found = 0;
  char *train_dir = join(dir, "train"), *val_dir = join(dir, "val"), *test_dir = join(dir, "test");
  strvec dirs = {0}, other = {0};
  clnet_image_list all = {0};
  clnet_status st = CLNET_SUCCESS;
  if (!train_dir || !val_dir || !test_dir) {
    st = oom(dir);
    goto out;
  }
  const int has_train = is_dir(train_dir), has_val = is_dir(val_dir), has_test = is_dir(test_dir);
  if (has_train && (has_val || has_test)) {
    *found = 1;
    const char *held = has_val ? val_dir : test_dir;
    t->layout = has_val ? "train/ and val/" : "train/ and test/";
    if (o->val_split > 0) {
      st = clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "%s: has train/ and %s/ already; a validation split (--val-split) is for one-tree layouts",
                           dir, has_val ? "val" : "test");
      goto out;
    }
    CLNET_TRY_GOTO(class_folders(train_dir, t, &dirs), st, out);
    CLNET_TRY_GOTO(class_folders(held, t, &other), st, out);
    if (dirs.n == 0) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: no class folders (train/<class>/<image>)", train_dir);
      goto out;
    }
    /* the same classes on both sides: both lists are sorted */
    for (int32_t i = 0; i < dirs.n || i < other.n; i++) {
      const char *a = i < dirs.n ? dirs.s[i] : NULL, *b = i < other.n ? other.s[i] : NULL;
      if (a && b && !strcmp(a, b)) continue;
      const int extra = !a || (b && strcmp(b, a) < 0); /* b is in held but not in train */
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s/%s: class folder %s; train/ and %s/ must hold the same classes",
                           extra ? held : train_dir, extra ? b : a, extra ? "missing from train/" : "missing from the validation folder",
                           has_val ? "val" : "test");
      goto out;
    }
    if (!o->eval_only) CLNET_TRY_GOTO(scan_classes(o, t, train_dir, &dirs, &t->train), st, out);
    CLNET_TRY_GOTO(scan_classes(o, t, held, &other, &t->test), st, out);
    take_names(t, &dirs);
    goto out;
  }
  const char *root = has_train ? train_dir : dir;
  CLNET_TRY_GOTO(class_folders(root, t, &dirs), st, out);
  if (dirs.n == 0) goto out; /* not an image folder (found = 0) */
  *found = 1;
  t->layout = has_train ? "train/<class>/ with a validation split" : "<class>/ with a validation split";
  if (!(o->val_split > 0)) {
    if (!o->eval_only) {
      st = clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "%s: image folders without train/ and val/ (or test/): hold out a fraction of each class "
                           "for validation with a validation split (--val-split F, e.g. 0.1)", root);
      goto out;
    }
    t->layout = has_train ? "train/<class>/, all of it" : "<class>/, all of it";
    CLNET_TRY_GOTO(scan_classes(o, t, root, &dirs, &t->test), st, out);
    take_names(t, &dirs);
    goto out;
  }
  CLNET_TRY_GOTO(scan_classes(o, t, root, &dirs, &all), st, out);
  CLNET_TRY_GOTO(split(o, &all, t), st, out);
  take_names(t, &dirs);
out:
  free(train_dir);
  free(val_dir);
  free(test_dir);
  strvec_free(&dirs);
  strvec_free(&other);
  clnet_image_list_free(&all);
  if (st != CLNET_SUCCESS) clnet_image_tree_free(t);
  return st;
}

clnet_status clnet_image_paths_collect(const char *const *args, int32_t n, clnet_image_list *out) {
  memset(out, 0, sizeof *out);
  clnet_image_tree scratch = {0};
  const clnet_tree_options o = {0};
  clnet_status st = CLNET_SUCCESS;
  for (int32_t i = 0; i < n && st == CLNET_SUCCESS; i++) {
    struct stat sb;
    if (stat(args[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
      scan_state s = {.o = &o, .t = &scratch};
      dir_stack stack = {.dev = {sb.st_dev}, .ino = {sb.st_ino}, .path = {(char *)args[i]}, .depth = 1};
      strvec files = {0};
      st = scan_tree(&s, args[i], &stack, &files);
      if (st == CLNET_SUCCESS) {
        strvec_sort(&files);
        if (files.n == 0) st = clnet_set_error(CLNET_ERR_IO, "%s: no .png, .jpg or .jpeg images in this folder", args[i]);
      }
      for (int32_t k = 0; k < files.n && st == CLNET_SUCCESS; k++)
        if (!clnet_image_list_add(out, files.s[k], 0)) st = oom(args[i]);
      strvec_free(&files);
    } else if (!clnet_image_list_add(out, args[i], 0)) {
      st = oom(args[i]);
    }
  }
  clnet_image_tree_free(&scratch);
  if (st != CLNET_SUCCESS) clnet_image_list_free(out);
  return st;
}
