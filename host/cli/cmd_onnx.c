/* clnet export (a checkpoint as ONNX) and clnet onnx-test (ONNX's backend test cases). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/error.h"

typedef struct onnx_test_state {
  int verbose;
  /* unsupported cases per op type, for the summary */
  char ops[128][32];
  int32_t op_count[128];
  int32_t n_ops;
} onnx_test_state;

static void on_case(const clnet_onnx_case_result *r, void *user) {
  onnx_test_state *s = user;
  static const char *const words[] = {"pass", "FAIL", "skip", "ERROR"};
  if (r->status == CLNET_ONNX_CASE_UNSUPPORTED) {
    const char *op = r->op[0] ? r->op : "(model)";
    int32_t i = 0;
    while (i < s->n_ops && strcmp(s->ops[i], op)) ++i;
    if (i == s->n_ops && s->n_ops < 128) snprintf(s->ops[s->n_ops++], sizeof s->ops[0], "%s", op);
    if (i < 128) s->op_count[i]++;
  }
  if (r->status == CLNET_ONNX_CASE_PASSED) {
    if (s->verbose) printf("pass  %s (%d data set%s, max abs error %.3g)\n", r->name, r->data_sets,
                           r->data_sets == 1 ? "" : "s", r->max_abs_err);
  } else if (r->status != CLNET_ONNX_CASE_UNSUPPORTED || s->verbose) {
    printf("%s  %s: %s\n", words[r->status], r->name, r->detail);
  }
  fflush(stdout);
}

int cmd_onnx_test(int argc, char **argv) {
  const char *device = NULL, *dir = NULL, *filter = NULL, *v = NULL;
  onnx_test_state s;
  memset(&s, 0, sizeof s);
  for (int i = 1; i < argc; ++i) {
    int r;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet onnx-test [DIR] [--device D] [--filter S] [--verbose]\n"
             "Runs ONNX's backend test cases under DIR (default /usr/share/libonnx-testdata/data: node/ and\n"
             "pytorch-converted/, from Debian's libonnx-testdata; or one case directory) forward on D, against\n"
             "their expected outputs (|out - ref| <= 1e-7 + 1e-3 |ref|, ONNX's own tolerance). Cases whose\n"
             "model needs what clnet lacks are skipped and counted per op. Prints failures and a summary;\n"
             "--verbose prints every case. Exit status 1 if any case failed or errored.\n");
      return CLI_OK;
    }
    if ((r = cli_flag(argc, argv, &i, "--device", &v))) {
      if (r < 0) return cli_usage_error("onnx-test", "--device needs a value");
      device = v;
    } else if ((r = cli_flag(argc, argv, &i, "--filter", &v))) {
      if (r < 0) return cli_usage_error("onnx-test", "--filter needs a value");
      filter = v;
    } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
      s.verbose = 1;
    } else if (argv[i][0] == '-') {
      return cli_usage_error("onnx-test", "unknown argument '%s'", argv[i]);
    } else {
      if (dir) return cli_usage_error("onnx-test", "one directory at most, got '%s' and '%s'", dir, argv[i]);
      dir = argv[i];
    }
  }
  if (!dir) dir = "/usr/share/libonnx-testdata/data";
  clnet_ctx *ctx = NULL;
  int rc = cli_open_ctx(device, &ctx);
  if (rc != CLI_OK) return rc;
  printf("ONNX backend test cases under %s on %s\n", dir, clnet_ctx_device_name(ctx));
  clnet_onnx_test_summary sum;
  clnet_status st = clnet_onnx_test_dir(ctx, dir, filter, on_case, &s, &sum);
  clnet_ctx_free(ctx);
  if (st != CLNET_SUCCESS) return cli_fail(st, "onnx-test");
  printf("%d cases: %d passed, %d failed, %d errors, %d skipped as unsupported\n", sum.cases, sum.passed, sum.failed,
         sum.errors, sum.unsupported);
  if (s.n_ops) {
    printf("skipped, by the op that is unsupported (or '(model)': its input or output):\n");
    for (int32_t i = 0; i < s.n_ops; ++i) printf("  %-24s %d\n", s.ops[i], s.op_count[i]);
  }
  return sum.failed || sum.errors ? CLI_FAIL : CLI_OK;
}

/* ---- --model FILE.onnx ---- */
int cli_onnx_is_model(const char *arg) {
  const size_t n = arg ? strlen(arg) : 0;
  return n > 5 && !strcmp(arg + n - 5, ".onnx");
}

int cli_onnx_open(const char *path, int init_random, cli_onnx *o) {
  (void)init_random;
  memset(o, 0, sizeof *o);
  snprintf(o->path, sizeof o->path, "%s", path);
  clnet_status st = clnet_onnx_read(path, &o->m);
  if (st != CLNET_SUCCESS) return cli_fail(st, "reading the ONNX model");
  clnet_onnx_info info;
  clnet_onnx_get_info(o->m, &info);
  /* a fixed input shape: convert it now, so that what clnet cannot run is said before any device
   * work (an open one is converted for the data's shape, also before the device is used) */
  if (info.in_rank != 4 || (info.in_c && info.in_h && info.in_w)) {
    clnet_onnx_build_options bo = {.with_loss = 1};
    clnet_graph *g = NULL;
    st = clnet_onnx_build(o->m, &bo, &g);
    clnet_graph_free(g);
    if (st != CLNET_SUCCESS) {
      cli_onnx_close(o);
      return cli_fail(st, "importing the ONNX model");
    }
  }
  return CLI_OK;
}

void cli_onnx_close(cli_onnx *o) {
  clnet_onnx_free(o->m);
  o->m = NULL;
}

clnet_status cli_onnx_build(void *user, const clnet_model_config *cfg, clnet_graph **out) {
  cli_onnx *o = user;
  clnet_onnx_build_options bo = {.in_h = cfg->in_h, .in_w = cfg->in_w, .in_c = cfg->in_c, .with_loss = 1,
                                 .classes = cfg->classes};
  return clnet_onnx_build(o->m, &bo, out);
}

clnet_status cli_onnx_init(void *user, clnet_graph *g) {
  cli_onnx *o = user;
  return clnet_onnx_load_weights(o->m, g);
}

/* ---- clnet eval --logits / --inputs ---- */
static FILE *npy_open(const char *path, int64_t n, int64_t d1, int64_t d2, int64_t d3, int rank) {
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  char hdr[256];
  int len;
  if (rank == 2) len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                                (long long)n, (long long)d1);
  else
    len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld, %lld, %lld), }",
                   (long long)n, (long long)d1, (long long)d2, (long long)d3);
  const int total = (10 + len + 1 + 63) / 64 * 64; /* magic, version, length, header, '\n': a multiple of 64 */
  const int pad = total - 10 - len - 1;
  const unsigned char pre[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const uint16_t hl = (uint16_t)(total - 10);
  fwrite(pre, 1, 8, f);
  fputc(hl & 0xff, f);
  fputc(hl >> 8, f);
  fwrite(hdr, 1, (size_t)len, f);
  for (int i = 0; i < pad; ++i) fputc(' ', f);
  fputc('\n', f);
  return f;
}

clnet_status cli_dump_eval(clnet_graph *g, const clnet_dataset *ds, const float *mean, const float *std, int32_t limit,
                           const char *logits_path, const char *inputs_path) {
  const int32_t k = clnet_graph_classes(g), H = ds->height, W = ds->width, C = ds->channels;
  const int32_t n = limit > 0 && limit < ds->count ? limit : ds->count;
  clnet_loader_config lc = {.batch = clnet_graph_max_batch(g), .mean = mean, .std = std};
  clnet_loader *ld = NULL;
  FILE *fl = NULL, *fi = NULL;
  float *logits = malloc((size_t)lc.batch * (size_t)k * sizeof *logits);
  float *chw = malloc((size_t)H * W * C * sizeof *chw);
  clnet_status st = logits && chw ? CLNET_SUCCESS : clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "eval dump");
  if (st == CLNET_SUCCESS && logits_path && !(fl = npy_open(logits_path, n, k, 0, 0, 2)))
    st = clnet_set_error(CLNET_ERR_IO, "%s: cannot write", logits_path);
  if (st == CLNET_SUCCESS && inputs_path && !(fi = npy_open(inputs_path, n, C, H, W, 4)))
    st = clnet_set_error(CLNET_ERR_IO, "%s: cannot write", inputs_path);
  if (st == CLNET_SUCCESS) st = clnet_loader_create(ds, &lc, &ld);
  if (st == CLNET_SUCCESS) st = clnet_loader_start_epoch(ld, 0, 0);
  for (int32_t done = 0; st == CLNET_SUCCESS && done < n;) {
    clnet_batch b;
    int32_t has = 0;
    st = clnet_loader_next(ld, &b, &has);
    if (st != CLNET_SUCCESS || !has) break;
    const int32_t m = b.count < n - done ? b.count : n - done;
    float loss;
    int32_t correct;
    st = clnet_graph_set_batch(g, b.images, b.labels, m);
    if (st == CLNET_SUCCESS) st = clnet_graph_evaluate(g, &loss, &correct);
    if (st == CLNET_SUCCESS) st = clnet_graph_read_logits(g, logits);
    if (st == CLNET_SUCCESS && fl) fwrite(logits, sizeof *logits, (size_t)m * k, fl);
    for (int32_t i = 0; st == CLNET_SUCCESS && fi && i < m; ++i) {
      const float *img = b.images + (size_t)i * H * W * C; /* NHWC -> CHW */
      for (int32_t c = 0; c < C; ++c)
        for (int32_t p = 0; p < H * W; ++p) chw[(size_t)c * H * W + p] = img[(size_t)p * C + c];
      fwrite(chw, sizeof *chw, (size_t)H * W * C, fi);
    }
    done += m;
  }
  if (fl && fclose(fl) != 0 && st == CLNET_SUCCESS) st = clnet_set_error(CLNET_ERR_IO, "%s: write failed", logits_path);
  if (fi && fclose(fi) != 0 && st == CLNET_SUCCESS) st = clnet_set_error(CLNET_ERR_IO, "%s: write failed", inputs_path);
  clnet_loader_free(ld);
  free(logits);
  free(chw);
  return st;
}

/* ---- clnet export ---- */
int cmd_export(int argc, char **argv) {
  const char *ckpt = NULL, *out = NULL, *device = "ref", *v = NULL;
  int64_t opset = 17;
  for (int i = 1; i < argc; ++i) {
    int r;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet export --checkpoint FILE --onnx OUT.onnx [--opset N] [--device D]\n"
             "Writes the network a checkpoint holds as an ONNX model for inference (ONNX Runtime, or anything\n"
             "that reads ONNX): input 'input' (N, C, H, W) float with a dynamic batch, output 'logits' (N, K);\n"
             "the trained weights as initializers, batch norm in inference form with its moving statistics,\n"
             "the checkpoint's input normalisation as metadata (clnet.norm_mean, clnet.norm_std: feed\n"
             "((x / 255) - mean) / std). clnet train --model OUT.onnx trains it further.\n"
             "  --opset N   13..21 (default 17)\n"
             "  --device D  where the weights are read (default ref: no OpenCL work)\n");
      return CLI_OK;
    }
    if ((r = cli_flag(argc, argv, &i, "--checkpoint", &v))) {
      if (r < 0) return cli_usage_error("export", "--checkpoint needs a value");
      ckpt = v;
    } else if ((r = cli_flag(argc, argv, &i, "--onnx", &v))) {
      if (r < 0) return cli_usage_error("export", "--onnx needs a value");
      out = v;
    } else if ((r = cli_flag(argc, argv, &i, "--opset", &v))) {
      if (r < 0 || !cli_parse_pos_int(v, 21, &opset) || opset < 13) return cli_usage_error("export", "--opset must be in 13..21");
    } else if ((r = cli_flag(argc, argv, &i, "--device", &v))) {
      if (r < 0) return cli_usage_error("export", "--device needs a value");
      device = v;
    } else {
      return cli_usage_error("export", "unknown argument '%s'", argv[i]);
    }
  }
  if (!ckpt || !out) return cli_usage_error("export", "--checkpoint FILE and --onnx OUT.onnx are required");
  clnet_checkpoint_meta meta;
  clnet_status st = clnet_checkpoint_read_meta(ckpt, &meta);
  if (st != CLNET_SUCCESS) return cli_fail(st, "export");
  clnet_graph *g = NULL;
  st = clnet_checkpoint_read_graph(ckpt, &g);
  if (st != CLNET_SUCCESS) return cli_fail(st, "export");
  clnet_ctx *ctx = NULL;
  int rc = cli_open_ctx(device, &ctx);
  if (rc != CLI_OK) {
    clnet_graph_free(g);
    return rc;
  }
  st = clnet_graph_setup(g, ctx, 1);
  if (st == CLNET_SUCCESS) st = clnet_checkpoint_load(g, ckpt, &meta);
  clnet_onnx_export_options eo = {.opset = opset, .norm_mean = meta.norm_mean, .norm_std = meta.norm_std};
  if (st == CLNET_SUCCESS) st = clnet_onnx_export(g, out, &eo);
  if (st == CLNET_SUCCESS)
    printf("wrote %s: %s (epoch %d), %d layers, %lld parameters, opset %lld; input 'input' (N, %d, %d, %d), output "
           "'logits' (N, %d)\n", out, meta.model, meta.epoch, clnet_graph_layer_count(g),
           (long long)clnet_graph_param_total(g, CLNET_PARAM_TRAINABLE), (long long)opset, meta.in_c, meta.in_h,
           meta.in_w, meta.classes);
  clnet_graph_free(g);
  clnet_ctx_free(ctx);
  return st == CLNET_SUCCESS ? CLI_OK : cli_fail(st, "export");
}
