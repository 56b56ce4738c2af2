#include <stdio.h>
#include "cli/cli.h"
int cmd_train(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "train: in progress\n"); return CLI_FAIL; }
int cmd_eval(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "eval: in progress\n"); return CLI_FAIL; }
