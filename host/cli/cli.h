/* Internal to the clnet executable: commands and argument helpers. */
#ifndef CLNET_CLI_H
#define CLNET_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clnet/clnet.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 /* Ctrl-C: state saved */ };

int cmd_devices(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench_data(int argc, char **argv); /* clnet bench --data */
int cmd_export(int argc, char **argv);
int cmd_onnx_test(int argc, char **argv);

/* Prints "clnet: <what>: <last error>" to stderr; returns CLI_FAIL. */
int cli_fail(clnet_status st, const char *what);
/* Prints "clnet <cmd>: <msg>" and the hint to run --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...);

/* Flag parsing: `--name value` or `--name=value`. Returns 1 and sets *value
 * when argv[*i] is that flag (advancing *i past a separate value), 0 when it is
 * another flag, -1 when the value is missing. */
int cli_flag(int argc, char **argv, int *i, const char *name, const char **value);
/* Parses a positive int (1..max); 0 on failure. */
int cli_parse_pos_int(const char *s, int64_t max, int64_t *out);
int cli_parse_double(const char *s, double *out);
/* A finite number in [lo, hi], the whole string read (host/cli/options.c); 0 otherwise. */
int cli_parse_real(const char *s, double lo, double hi, double *out);

/* Strings clnet did not write itself (paths, arguments, messages quoting them) as the terminal
 * gets them (host/cli/safe_print.c): control bytes escaped (\n, \t, \xNN; newlines kept when
 * keep_newlines, for build logs), C1 controls and bytes that are not UTF-8 as \xNN; cut to cap.
 * cli_safe returns dst. */
const char *cli_safe(const char *s, int keep_newlines, char *dst, size_t cap);
void cli_put_safe(FILE *f, const char *s, int keep_newlines);

/* Opens the backend named by --device (NULL: default), printing errors. */
int cli_open_ctx(const char *device, clnet_ctx **ctx);
/* Same, naming `source` (e.g. "environment variable CLNET_DEVICE") in its messages when not NULL. */
int cli_open_ctx_from(const char *device, const char *source, clnet_ctx **ctx);

/* Prints ctx's profile (clnet_profile_report) by kernel and by op, the first max_rows rows of
 * each and one line for the rest: per step when steps > 0 (else totals), with the device time
 * against the wall time wall_s when wall_s > 0 (host/cli/profile_print.c). */
clnet_status cli_print_profile(clnet_ctx *ctx, int32_t steps, double wall_s, int32_t max_rows);

/* Image-folder flags (host/cli/image_flags.c): when argv[*i] is one of them, parses it into o
 * and returns 1, with *rc CLI_OK or the usage error's code; 0 for another argument. */
int cli_image_flag(const char *cmd, int argc, char **argv, int *i, clnet_image_options *o, int *rc);
/* Their usage lines (train: the training-only ones too). */
void cli_image_flags_usage(FILE *f, int train);
/* Prints "<user or 'data'>: line" (the library's image-folder notes). */
void cli_image_note(void *user, const char *line);
/* "HxW" or "HxWxC" (C 1 or 3; 0 when not given); 0 when malformed. */
int cli_parse_input(const char *v, int32_t *h, int32_t *w, int32_t *c);
/* --model FILE.onnx (host/cli/cmd_onnx.c): the model read and converted once to check it, then
 * the trainer's build and init callbacks (user: the cli_onnx). */
typedef struct cli_onnx {
  clnet_onnx_model *m;
  char path[4096];
} cli_onnx;
int cli_onnx_is_model(const char *arg); /* names an .onnx file */
int cli_onnx_open(const char *path, int init_random, cli_onnx *o);
void cli_onnx_close(cli_onnx *o);
clnet_status cli_onnx_build(void *user, const clnet_model_config *cfg, clnet_graph **out);
clnet_status cli_onnx_init(void *user, clnet_graph *g);
/* clnet eval --logits / --inputs: the logits (n, K) and the normalised images as ONNX takes them
 * (n, C, H, W) of the first `limit` test images (0: all), as .npy files. */
clnet_status cli_dump_eval(clnet_graph *g, const clnet_dataset *ds, const float *mean, const float *std, int32_t limit,
                           const char *logits_path, const char *inputs_path);

/* 1 when stdout is a terminal and CI is not set. */
int cli_is_tty(void);

#endif
