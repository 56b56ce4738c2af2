/* clnet predict: the top classes of image files under a checkpoint, in batches. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "clnet/train.h"

#define MAX_TOP 1000

static void predict_usage(FILE *f) {
  fprintf(f,
          "usage: clnet predict --checkpoint FILE [--top K] [--json] [--device D] [--batch B] IMAGE_OR_DIR...\n"
          "The K most likely classes (default 5) of every PNG or JPEG image, by name when the checkpoint\n"
          "has them (an image-folder run), with their softmax probabilities; a folder stands for every\n"
          "image below it, sorted. Images are scaled to cover the checkpoint's input and centre-cropped,\n"
          "normalised as in training, and run in batches of B (default 64) on any device.\n"
          "  --json          one JSON array: [{\"file\": ..., \"top\": [{\"class\": ..., \"index\": ...,\n"
          "                \"probability\": ...}, ...]}, ...]\n");
  fprintf(f,
          "  --skip-bad-images  leave out files that cannot be read or decoded (named on stderr, with\n"
          "                a count); default: the first one is an error\n"
          "  --decode-threads N, --max-image-pixels N  as for clnet train\n");
}

static void note_stderr(void *user, const char *line) {
  (void)user;
  fprintf(stderr, "clnet: predict: %s\n", line);
}

typedef struct {
  int32_t index;
  double p;
} ranked;

static int by_p_desc(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->p != y->p) return x->p < y->p ? 1 : -1;
  return x->index - y->index;
}

/* Softmax of logits[0..k) into r, sorted most likely first. */
static void rank_logits(const float *logits, int32_t k, ranked *r) {
  double m = logits[0], sum = 0;
  for (int32_t j = 1; j < k; ++j)
    if (logits[j] > m) m = logits[j];
  for (int32_t j = 0; j < k; ++j) {
    r[j].index = j;
    r[j].p = exp((double)logits[j] - m);
    sum += r[j].p;
  }
  for (int32_t j = 0; j < k; ++j) r[j].p /= sum;
  qsort(r, (size_t)k, sizeof *r, by_p_desc);
}

int cmd_predict(int argc, char **argv) {
  const char *ckpt = NULL, *device = NULL, *v = NULL;
  int64_t top = 5, batch = 64;
  int json = 0;
  clnet_image_options images = {.note = note_stderr, .eval_only = 1};
  const char **paths = calloc((size_t)argc + 1, sizeof *paths);
  int32_t n_paths = 0;
  if (!paths) return cli_usage_error("predict", "out of memory");
  for (int i = 1; i < argc; ++i) {
    int r, image_rc = CLI_OK;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      predict_usage(stdout);
      free(paths);
      return CLI_OK;
    }
    if ((r = cli_flag(argc, argv, &i, "--checkpoint", &v))) {
      if (r < 0) goto needs_value;
      ckpt = v;
    } else if ((r = cli_flag(argc, argv, &i, "--device", &v))) {
      if (r < 0) goto needs_value;
      device = v;
    } else if ((r = cli_flag(argc, argv, &i, "--top", &v))) {
      if (r < 0 || !cli_parse_pos_int(v, MAX_TOP, &top)) {
        free(paths);
        return cli_usage_error("predict", "--top must be an integer in 1..%d", MAX_TOP);
      }
    } else if ((r = cli_flag(argc, argv, &i, "--batch", &v))) {
      if (r < 0 || !cli_parse_pos_int(v, 65536, &batch)) {
        free(paths);
        return cli_usage_error("predict", "--batch must be in 1..65536");
      }
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (cli_image_flag("predict", argc, argv, &i, &images, &image_rc)) {
      if (image_rc != CLI_OK) {
        free(paths);
        return image_rc;
      }
    } else if (argv[i][0] == '-' && argv[i][1] == '-') {
      free(paths);
      return cli_usage_error("predict", "unknown argument '%s'", argv[i]);
    } else {
      paths[n_paths++] = argv[i];
    }
    continue;
  needs_value:
    free(paths);
    return cli_usage_error("predict", "%s needs a value", argv[i]);
  }
  if (!ckpt) {
    free(paths);
    return cli_usage_error("predict", "--checkpoint FILE is required");
  }
  if (n_paths == 0) {
    free(paths);
    return cli_usage_error("predict", "no images given (IMAGE_OR_DIR...)");
  }

  clnet_checkpoint_meta meta;
  clnet_dataset ds = {0};
  clnet_ctx *ctx = NULL;
  clnet_graph *g = NULL;
  clnet_loader *ld = NULL;
  char **names = NULL;
  int32_t n_names = 0;
  float *logits = NULL;
  ranked *rk = NULL;
  cJSON *out = NULL;
  int rc = CLI_OK;
  clnet_status st = clnet_checkpoint_read_meta(ckpt, &meta);
  if (st == CLNET_SUCCESS) st = clnet_checkpoint_read_class_names(ckpt, &names, &n_names);
  if (st != CLNET_SUCCESS) goto fail;
  images.height = meta.in_h;
  images.width = meta.in_w;
  images.channels = meta.in_c;
  if ((st = clnet_dataset_open_images(paths, n_paths, &images, &ds)) != CLNET_SUCCESS) goto fail;
  if ((rc = cli_open_ctx(device, &ctx)) != CLI_OK) goto done;
  const int32_t b = ds.count < batch ? ds.count : (int32_t)batch;
  st = clnet_checkpoint_read_graph(ckpt, &g);
  if (st == CLNET_SUCCESS) st = clnet_graph_setup(g, ctx, b);
  if (st == CLNET_SUCCESS) st = clnet_checkpoint_load(g, ckpt, &meta);
  if (st != CLNET_SUCCESS) goto fail;
  const int32_t k = clnet_graph_classes(g);
  const clnet_loader_config lc = {.batch = b, .mean = meta.norm_mean, .std = meta.norm_std};
  if ((st = clnet_loader_create(&ds, &lc, &ld)) != CLNET_SUCCESS || (st = clnet_loader_start_epoch(ld, 0, 0)) != CLNET_SUCCESS)
    goto fail;
  logits = malloc((size_t)b * (size_t)k * sizeof *logits);
  rk = malloc((size_t)k * sizeof *rk);
  if (json) out = cJSON_CreateArray();
  if (!logits || !rk || (json && !out)) {
    fprintf(stderr, "clnet: predict: out of memory\n");
    rc = CLI_FAIL;
    goto done;
  }
  const int32_t kk = top < k ? (int32_t)top : k;
  for (int32_t seen = 0;;) {
    clnet_batch bt;
    int32_t has = 0;
    if ((st = clnet_loader_next(ld, &bt, &has)) != CLNET_SUCCESS) goto fail;
    if (!has) break;
    float loss = 0;
    int32_t correct = 0;
    st = clnet_graph_set_batch(g, bt.images, bt.labels, bt.count);
    if (st == CLNET_SUCCESS) st = clnet_graph_evaluate(g, &loss, &correct);
    if (st == CLNET_SUCCESS) st = clnet_graph_read_logits(g, logits);
    if (st != CLNET_SUCCESS) goto fail;
    for (int32_t i = 0; i < bt.count; ++i, ++seen) {
      const char *file = clnet_dataset_image_path(&ds, seen);
      rank_logits(logits + (size_t)i * k, k, rk);
      cJSON *item = NULL, *list = NULL;
      if (json) {
        item = cJSON_CreateObject();
        cJSON_AddItemToArray(out, item);
        cJSON_AddStringToObject(item, "file", file);
        list = cJSON_AddArrayToObject(item, "top");
      } else {
        printf("%s:", file);
      }
      for (int32_t j = 0; j < kk; ++j) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", (int)rk[j].index);
        const char *name = names && rk[j].index < n_names ? names[rk[j].index] : idx;
        if (json) {
          cJSON *e = cJSON_CreateObject();
          cJSON_AddItemToArray(list, e);
          cJSON_AddStringToObject(e, "class", name);
          cJSON_AddNumberToObject(e, "index", rk[j].index);
          cJSON_AddNumberToObject(e, "probability", rk[j].p);
        } else {
          printf("%s %s %.4f", j ? "," : "", name, rk[j].p);
        }
      }
      if (!json) printf("\n");
    }
  }
  if (json) {
    char *text = cJSON_Print(out);
    if (text) printf("%s\n", text);
    cJSON_free(text);
  }
  goto done;
fail:
  rc = cli_fail(st, "predict");
done:
  cJSON_Delete(out);
  free(logits);
  free(rk);
  clnet_loader_free(ld);
  clnet_graph_free(g);
  clnet_ctx_free(ctx);
  clnet_dataset_free(&ds);
  clnet_class_names_free(names, n_names);
  free(paths);
  return rc;
}
