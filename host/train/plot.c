/* The training-curves figure, drawn with PLplot's pngcairo device.
 *
 * Reproduces the seed's matplotlib figure (figsize 15x5, two subplots):
 *   left  "Accuracy over N Epochs": Train = accuracy, Test = val_accuracy
 *   right "Loss over N Epochs":     Train = loss,     Test = val_loss
 * x axis "Epoch", legend, grid, white background, 1500x500 pixels; and when the history has
 * learning rates, a third panel "Learning rate over N Epochs" (the figure is then 2100x500).
 *
 * PLplot keeps global state and calls exit() on fatal errors, so: every call
 * holds one lock, draws in a stream of its own (plmkstrm ... plend1, then the
 * caller's stream is made current again), reports plabort()s through
 * plsError() instead of stderr, and turns plexit() into a longjmp back here
 * (the exit handler never returns to PLplot). The PNG goes to the writer's
 * temporary file, is checked to be complete, and only then renamed over the
 * target. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <plplot.h>

#include "clnet/io.h"
#include "core/error.h"
#include "io/atomic_file.h"

enum { PLOT_WIDTH_PX = 1500, PLOT_WIDTH3_PX = 2100, PLOT_HEIGHT_PX = 500 };

/* cmap0 entries. 0 is the background. */
enum { COL_BG = 0, COL_FG = 1, COL_GRID = 2, COL_TRAIN = 3, COL_TEST = 4, COL_COUNT = 16 };

/* Draw markers on every point up to this many epochs (and always on points
 * with no finite neighbour, so an isolated point still shows). */
enum { PLOT_MARKER_MAX_POINTS = 40 };

/* Character heights relative to PLplot's default. */
#define PLOT_TEXT_SCALE 0.85
#define PLOT_MARKER_SCALE 0.45

/* "●" (U+25CF), drawn with the device's Unicode font. */
#define PLOT_MARKER "\xe2\x97\x8f"

static pthread_mutex_t plot_lock = PTHREAD_MUTEX_INITIALIZER;
static jmp_buf plot_jmp;
static char plot_exit_msg[256];

/* plsexit handler: remember the message and unwind to clnet_history_plot. */
static int plot_on_exit(const char *msg) {
  snprintf(plot_exit_msg, sizeof plot_exit_msg, "%s", msg ? msg : "");
  for (char *p = plot_exit_msg; *p; p++)
    if (*p == '\n') *p = ' ';
  longjmp(plot_jmp, 1);
}

/* plsabort handler: the message also lands in the stream's plsError buffer. */
static void plot_on_abort(const char *msg) { (void)msg; }

/* Smallest and largest finite values of a and b (b may be NULL); 0 if there are none. */
static int finite_range(const PLFLT *a, const PLFLT *b, int32_t n, PLFLT *lo, PLFLT *hi) {
  int any = 0;
  for (int32_t i = 0; i < n; i++) {
    const PLFLT v[2] = {a[i], b ? b[i] : NAN};
    for (int k = 0; k < 2; k++) {
      if (!isfinite(v[k])) continue;
      if (!any || v[k] < *lo) *lo = v[k];
      if (!any || v[k] > *hi) *hi = v[k];
      any = 1;
    }
  }
  return any;
}

/* One curve: line through each run of finite points, markers where needed. */
static void draw_series(const PLFLT *x, const PLFLT *y, int32_t n, int color, int markers) {
  plcol0(color);
  plwidth(2.5);
  int32_t i = 0;
  while (i < n) {
    if (!isfinite(y[i])) {
      i++;
      continue;
    }
    int32_t j = i;
    while (j < n && isfinite(y[j])) j++;
    if (j - i >= 2) plline((PLINT)(j - i), x + i, y + i);
    if (markers || j - i == 1) {
      plschr(0.0, PLOT_MARKER_SCALE);
      plstring((PLINT)(j - i), x + i, y + i, PLOT_MARKER);
      plschr(0.0, PLOT_TEXT_SCALE);
    }
    i = j;
  }
  plwidth(1.0);
}

static void draw_panel(PLFLT vx0, PLFLT vx1, const char *title, const char *ylabel,
                       const PLFLT *x, const PLFLT *train, const PLFLT *test, int32_t n,
                       PLINT legend_position) {
  PLFLT xmin = x[0], xmax = x[n - 1];
  if (xmax - xmin < 1.0) {
    xmin -= 1.0;
    xmax += 1.0;
  } else {
    PLFLT pad = 0.04 * (xmax - xmin);
    xmin -= pad;
    xmax += pad;
  }
  PLFLT ymin = 0.0, ymax = 1.0;
  if (finite_range(train, test, n, &ymin, &ymax)) {
    PLFLT span = ymax - ymin;
    PLFLT pad = span > 0 ? 0.06 * span : fmax(0.05 * fabs(ymax), 0.05);
    int nonneg = ymin >= 0.0;
    ymin -= pad;
    ymax += pad;
    if (nonneg && ymin < 0.0) ymin = 0.0;
  } else {
    ymin = 0.0;
    ymax = 1.0;
  }

  plschr(0.0, PLOT_TEXT_SCALE);
  plvpor(vx0, vx1, 0.16, 0.90);
  plwind(xmin, xmax, ymin, ymax);
  /* Whole-number epoch ticks when the range is short. */
  PLFLT xtick = (xmax - xmin) <= 12.0 ? 1.0 : 0.0;

  plcol0(COL_GRID);
  pllsty(1);
  plwidth(1.0);
  plbox("g", xtick, 0, "g", 0.0, 0);
  plcol0(COL_FG);
  plbox("bcnst", xtick, 0, "bcnstv", 0.0, 0);
  plschr(0.0, 1.1);
  plmtex("t", 1.0, 0.5, 0.5, title);
  plschr(0.0, PLOT_TEXT_SCALE);
  plmtex("b", 3.0, 0.5, 0.5, "Epoch");
  plmtex("l", 4.4, 0.5, 0.5, ylabel);

  int markers = n <= PLOT_MARKER_MAX_POINTS;
  draw_series(x, train, n, COL_TRAIN, markers);
  if (test) draw_series(x, test, n, COL_TEST, markers);

  PLINT opt_array[2], text_colors[2] = {COL_FG, COL_FG}, line_colors[2] = {COL_TRAIN, COL_TEST};
  PLINT line_styles[2] = {1, 1}, symbol_colors[2] = {COL_TRAIN, COL_TEST};
  PLINT symbol_numbers[2] = {1, 1};
  PLFLT line_widths[2] = {2.5, 2.5};
  PLFLT symbol_scales[2] = {PLOT_MARKER_SCALE / PLOT_TEXT_SCALE, PLOT_MARKER_SCALE / PLOT_TEXT_SCALE};
  const char *text[2] = {test ? "Train" : ylabel, "Test"};
  const char *symbols[2] = {PLOT_MARKER, PLOT_MARKER};
  for (int k = 0; k < 2; k++) opt_array[k] = PL_LEGEND_LINE | (markers ? PL_LEGEND_SYMBOL : 0);
  PLFLT legend_w, legend_h;
  pllegend(&legend_w, &legend_h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           legend_position | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.03, 0.07, COL_BG,
           COL_GRID, 1, 0, 0, test ? 2 : 1, opt_array, 0.8, 0.85, 1.8, 0.0, text_colors, text, NULL, NULL,
           NULL, NULL, line_colors, line_styles, line_widths, symbol_colors, symbol_scales,
           symbol_numbers, symbols);
}

/* Is PLplot's pngcairo device available? */
static int have_pngcairo(void) {
  enum { MAX_DEVS = 256 };
  const char **menu = calloc(MAX_DEVS, sizeof *menu);
  const char **names = calloc(MAX_DEVS, sizeof *names);
  int found = 0, n = MAX_DEVS;
  if (menu != NULL && names != NULL) {
    plgFileDevs(&menu, &names, &n);
    for (int i = 0; i < n && i < MAX_DEVS; i++)
      if (names[i] != NULL && strcmp(names[i], "pngcairo") == 0) found = 1;
  }
  free(menu);
  free(names);
  return found;
}

/* Is fd's content a complete PNG (signature first, IEND chunk last)? */
static int png_complete(int fd, off_t *size) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
  struct stat sb;
  unsigned char head[8], tail[12];
  if (fstat(fd, &sb) != 0) return 0;
  *size = sb.st_size;
  if (sb.st_size < (off_t)(sizeof sig + sizeof iend)) return 0;
  if (pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head) return 0;
  if (pread(fd, tail, sizeof tail, sb.st_size - (off_t)sizeof tail) != (ssize_t)sizeof tail) return 0;
  return memcmp(head, sig, sizeof sig) == 0 && memcmp(tail, iend, sizeof iend) == 0;
}

/* State that must survive a longjmp out of PLplot. */
typedef struct plot_job {
  const clnet_history *h;
  PLFLT *x, *acc, *val_acc, *loss, *val_loss, *lr;
  int with_lr; /* some epoch has a learning rate: the third panel */
  FILE *pl_fp;  /* handed to PLplot, which closes it */
  PLINT old_stream;
  PLINT errcode;
  char errmsg[1024];
  clnet_atomic_file af; /* the temporary PNG */
  int af_open;          /* af must be aborted on failure */
} plot_job;

static void plot_draw(plot_job *job) {
  int32_t n = job->h->count;
  char title_acc[96], title_loss[96], title_lr[96];
  const char *unit = n == 1 ? "Epoch" : "Epochs";
  snprintf(title_acc, sizeof title_acc, "Accuracy over %d %s", (int)n, unit);
  snprintf(title_loss, sizeof title_loss, "Loss over %d %s", (int)n, unit);
  snprintf(title_lr, sizeof title_lr, "Learning rate over %d %s", (int)n, unit);

  plsError(&job->errcode, job->errmsg);
  plsdev("pngcairo");
  plsfile(job->pl_fp);
  job->pl_fp = NULL; /* PLplot owns it now */
  plspage(0.0, 0.0, job->with_lr ? PLOT_WIDTH3_PX : PLOT_WIDTH_PX, PLOT_HEIGHT_PX, 0, 0);
  plscmap0n(COL_COUNT);
  plscolbg(255, 255, 255);
  plscol0(COL_FG, 0, 0, 0);
  plscol0(COL_GRID, 215, 215, 215);
  plscol0(COL_TRAIN, 31, 119, 180); /* matplotlib's first two colours */
  plscol0(COL_TEST, 255, 127, 14);
  plinit();
  pladv(0);
  if (!job->with_lr) {
    draw_panel(0.065, 0.485, title_acc, "Accuracy", job->x, job->acc, job->val_acc, n, PL_POSITION_BOTTOM);
    draw_panel(0.565, 0.985, title_loss, "Loss", job->x, job->loss, job->val_loss, n, PL_POSITION_TOP);
  } else { /* the same panel widths in pixels on the wider page */
    draw_panel(0.065, 0.33, title_acc, "Accuracy", job->x, job->acc, job->val_acc, n, PL_POSITION_BOTTOM);
    draw_panel(0.395, 0.66, title_loss, "Loss", job->x, job->loss, job->val_loss, n, PL_POSITION_TOP);
    draw_panel(0.725, 0.99, title_lr, "Learning rate", job->x, job->lr, NULL, n, PL_POSITION_TOP);
  }
  plend1();
}

clnet_status clnet_history_plot(const clnet_history *h, const char *png_path) {
  if (h == NULL || png_path == NULL || png_path[0] == '\0')
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "history plot: NULL history or empty path");
  if (h->count <= 0 || h->rows == NULL)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: no epochs to plot", png_path);

  size_t n = (size_t)h->count;
  PLFLT *buf = malloc(6 * n * sizeof *buf);
  if (buf == NULL)
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", png_path);

  pthread_mutex_lock(&plot_lock);
  /* Static, not automatic: it is read after a longjmp (guarded by plot_lock). */
  static plot_job job;
  memset(&job, 0, sizeof job);
  job.h = h;
  job.x = buf;
  job.acc = buf + n;
  job.val_acc = buf + 2 * n;
  job.loss = buf + 3 * n;
  job.val_loss = buf + 4 * n;
  job.lr = buf + 5 * n;
  for (size_t i = 0; i < n; i++) {
    job.x[i] = h->rows[i].epoch;
    job.acc[i] = h->rows[i].accuracy;
    job.val_acc[i] = h->rows[i].val_accuracy;
    job.loss[i] = h->rows[i].loss;
    job.val_loss[i] = h->rows[i].val_loss;
    job.lr[i] = h->rows[i].lr;
    job.with_lr |= isfinite(h->rows[i].lr);
  }

  clnet_status st = CLNET_SUCCESS;
  plot_exit_msg[0] = '\0';
  plsexit(plot_on_exit);
  plsabort(plot_on_abort);
  plgstrm(&job.old_stream);
  if (setjmp(plot_jmp) != 0) {
    /* PLplot hit a fatal error and plexit() unwound to here. A stream it was
     * drawing is abandoned (a little of its memory may leak). */
    if (job.pl_fp != NULL) fclose(job.pl_fp);
    if (job.af_open) clnet_atomic_abort(&job.af);
    st = clnet_set_error(CLNET_ERR_IO, "%s: PLplot failed: %s", png_path, plot_exit_msg);
    goto restore;
  }
  if (!have_pngcairo()) {
    st = clnet_set_error(CLNET_ERR_UNSUPPORTED,
                         "%s: PLplot has no pngcairo device (install plplot-driver-cairo)", png_path);
    goto restore;
  }
  CLNET_TRY_GOTO(clnet_atomic_open(&job.af, png_path), st, restore);
  job.af_open = 1;
  /* PLplot fcloses the FILE it is given; give it a duplicate descriptor and
   * keep ours to check and fsync the result. */
  int dup_fd = dup(fileno(job.af.fp));
  if (dup_fd >= 0) {
    job.pl_fp = fdopen(dup_fd, "wb");
    if (job.pl_fp == NULL) close(dup_fd);
  }
  if (job.pl_fp == NULL) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: cannot duplicate the temporary file's descriptor",
                         png_path);
    goto fail_file;
  }
  PLINT stream = -1;
  plmkstrm(&stream);
  if (stream < 0) {
    fclose(job.pl_fp);
    job.pl_fp = NULL;
    st = clnet_set_error(CLNET_ERR_IO, "%s: PLplot cannot create another stream", png_path);
    goto fail_file;
  }
  plot_draw(&job);
  if (job.errcode != 0) {
    /* PLplot writes "<message>, aborting operation\n": make it one line. */
    char *msg = job.errmsg;
    for (char *p = msg; *p; p++)
      if (*p == '\n') *p = ' ';
    while (*msg == ' ') msg++;
    for (size_t k = strlen(msg); k > 0 && msg[k - 1] == ' '; k--) msg[k - 1] = '\0';
    st = clnet_set_error(CLNET_ERR_IO, "%s: PLplot error: %s", png_path, msg);
    goto fail_file;
  }
  off_t size = 0;
  if (!png_complete(fileno(job.af.fp), &size)) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: PLplot wrote an incomplete PNG (%lld bytes; disk full?)",
                         png_path, (long long)size);
    goto fail_file;
  }
  job.af_open = 0;
  st = clnet_atomic_commit(&job.af);
  goto restore;

fail_file:
  job.af_open = 0;
  clnet_atomic_abort(&job.af);
restore:
  plsstrm(job.old_stream);
  plsexit(NULL);
  plsabort(NULL);
  pthread_mutex_unlock(&plot_lock);
  free(buf);
  return st;
}
