/* clnet layers and clnet models: what this build can build, from the layer registry and the zoo. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "clnet/graph.h"

int cmd_layers(int argc, char **argv) {
  const char *only = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet layers [KIND]\n"
             "Every layer kind clnet_graph_add_layer takes (or one), with its inputs and attributes:\n"
             "name, default (or 'required') and meaning. Attributes are written name=value, lists\n"
             "comma-separated: \"filters=64 kernel=3 stride=2 padding=same\".\n");
      return CLI_OK;
    }
    if (only) return cli_usage_error("layers", "one kind at most, got '%s' and '%s'", only, argv[i]);
    only = argv[i];
  }
  int shown = 0;
  for (int32_t k = 0; k < clnet_layer_kinds(); ++k) {
    clnet_layer_kind_info info;
    if (clnet_layer_kind_describe(k, &info) != CLNET_SUCCESS) continue;
    if (only && strcmp(only, info.name)) continue;
    ++shown;
    char ins[32];
    if (info.min_inputs == info.max_inputs) snprintf(ins, sizeof ins, "%d input%s", info.min_inputs, info.min_inputs > 1 ? "s" : "");
    else snprintf(ins, sizeof ins, "%d..%d inputs", info.min_inputs, info.max_inputs);
    printf("%s (%s): %s\n", info.name, ins, info.doc);
    for (int32_t a = 0; a < info.n_attrs; ++a)
      printf("    %-18s %-12s %s\n", info.attr_name[a], info.attr_default[a] ? info.attr_default[a] : "required",
             info.attr_doc[a]);
  }
  if (only && !shown) return cli_usage_error("layers", "no layer kind '%s' (clnet layers lists them)", only);
  return CLI_OK;
}

int cmd_models(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet models\nThe model zoo: clnet train/bench/check --model NAME [--width W].\n");
      return CLI_OK;
    }
    return cli_usage_error("models", "unknown argument '%s'", argv[i]);
  }
  for (int32_t m = 0; m < clnet_model_count(); ++m)
    printf("%-14s width %-4d %s\n", clnet_model_name(m), clnet_model_default_width(m), clnet_model_doc(m));
  return CLI_OK;
}
