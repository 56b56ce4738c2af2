/* The image-folder options that train, eval, predict and bench share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void cli_image_flags_usage(FILE *f, int train) {
  if (train)
    fprintf(f,
            "  image folders (--data DIR with train/<class>/ and val/<class>/, or <class>/ with --val-split):\n"
            "  --input HxW[xC] the network's input (default: the training images' common size; C 3 when\n"
            "                any image is colour, else 1); grey images are expanded, colour ones reduced\n"
            "  --crop M        training crop: random (default: scale to cover 9/8 of the input, random\n"
            "                window), rrc (random-resized crop, 8%%-100%% of the area), none (as evaluation:\n"
            "                scale to cover, centre). Evaluation always takes the centre.\n"
            "  --norm N        data (default: the training split's per-channel mean/std) or imagenet\n");
  fprintf(f,
          "  --val-split F   <class>/ trees: hold out a fraction F of each class (seeded, stratified)\n"
          "  --split-seed S  which images --val-split holds out (default 0; independent of --seed)\n"
          "  --cache-images M  auto (default: keep decoded images in memory when they fit in half of\n"
          "                the memory available), ram, none\n"
          "  --skip-bad-images  leave out files that cannot be read or decoded, each one named, with\n"
          "                a count (default: the first is an error)\n"
          "  --decode-threads N  decoding threads (default: one per CPU, at most 8)\n"
          "  --max-image-pixels N  refuse larger images from their header (default %d)\n",
          CLNET_IMAGE_MAX_PIXELS);
}

void cli_image_note(void *user, const char *line) {
  const char *prefix = user ? user : "data";
  printf("%s: %s\n", prefix, line);
  fflush(stdout);
}

/* "28x28" or "224x224x3" */
int cli_parse_input(const char *v, int32_t *h, int32_t *w, int32_t *c) {
  int a = 0, b = 0, k = 0, n = 0;
  *c = 0;
  if (sscanf(v, "%dx%dx%d%n", &a, &b, &k, &n) == 3 && v[n] == '\0') {
    if (k != 1 && k != 3) return 0;
    *c = k;
  } else if (!(sscanf(v, "%dx%d%n", &a, &b, &n) == 2 && v[n] == '\0')) {
    return 0;
  }
  if (a < 1 || b < 1 || a > 65536 || b > 65536) return 0;
  *h = a;
  *w = b;
  return 1;
}

int cli_image_flag(const char *cmd, int argc, char **argv, int *i, clnet_image_options *o, int *rc) {
  const char *v = NULL;
  int r = 0;
  int64_t iv = 0;
  *rc = CLI_OK;
#define FLAG(name) ((r = cli_flag(argc, argv, i, name, &v)) != 0)
#define NEED(name)                                                   \
  if (r < 0) {                                                       \
    *rc = cli_usage_error(cmd, "%s needs a value", name);            \
    return 1;                                                        \
  }
#define BAD(...)                                                     \
  do {                                                               \
    *rc = cli_usage_error(cmd, __VA_ARGS__);                         \
    return 1;                                                        \
  } while (0)
  if (!strcmp(argv[*i], "--skip-bad-images")) {
    o->skip_bad = 1;
  } else if (FLAG("--input")) {
    NEED("--input");
    if (!cli_parse_input(v, &o->height, &o->width, &o->channels))
      BAD("--input must be HxW or HxWxC with C 1 or 3, e.g. 224x224x3, got '%s'", v);
  } else if (FLAG("--val-split")) {
    NEED("--val-split");
    if (!cli_parse_double(v, &o->val_split) || !(o->val_split > 0 && o->val_split < 1))
      BAD("--val-split must be a fraction between 0 and 1, e.g. 0.1, got '%s'", v);
  } else if (FLAG("--split-seed")) {
    NEED("--split-seed");
    char *end = NULL;
    unsigned long long s = strtoull(v, &end, 10);
    if (!*v || *end || v[0] == '-') BAD("--split-seed must be a non-negative integer, got '%s'", v);
    o->split_seed = s;
  } else if (FLAG("--cache-images")) {
    NEED("--cache-images");
    if (!strcmp(v, "auto")) o->cache = CLNET_IMAGE_CACHE_AUTO;
    else if (!strcmp(v, "ram")) o->cache = CLNET_IMAGE_CACHE_RAM;
    else if (!strcmp(v, "none")) o->cache = CLNET_IMAGE_CACHE_NONE;
    else BAD("--cache-images must be auto, ram or none, got '%s'", v);
  } else if (FLAG("--norm")) {
    NEED("--norm");
    if (!strcmp(v, "data")) o->norm = CLNET_IMAGE_NORM_DATA;
    else if (!strcmp(v, "imagenet")) o->norm = CLNET_IMAGE_NORM_IMAGENET;
    else BAD("--norm must be data or imagenet, got '%s'", v);
  } else if (FLAG("--crop")) {
    NEED("--crop");
    if (!strcmp(v, "random")) o->crop = CLNET_IMAGE_CROP_RANDOM;
    else if (!strcmp(v, "rrc")) o->crop = CLNET_IMAGE_CROP_RRC;
    else if (!strcmp(v, "none")) o->crop = CLNET_IMAGE_CROP_NONE;
    else BAD("--crop must be random, rrc or none, got '%s'", v);
  } else if (FLAG("--decode-threads")) {
    NEED("--decode-threads");
    if (!cli_parse_pos_int(v, 256, &iv)) BAD("--decode-threads must be an integer in 1..256, got '%s'", v);
    o->threads = (int32_t)iv;
  } else if (FLAG("--max-image-pixels")) {
    NEED("--max-image-pixels");
    if (!cli_parse_pos_int(v, (int64_t)1 << 40, &iv)) BAD("--max-image-pixels must be a positive integer, got '%s'", v);
    o->max_pixels = iv;
  } else {
    return 0;
  }
  return 1;
#undef FLAG
#undef NEED
#undef BAD
}
