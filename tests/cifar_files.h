/* Test helper: small learnable CIFAR-10 binary files (the class sets which
 * colour channel is bright), for the end-to-end tests. */
#ifndef CLNET_TESTS_CIFAR_FILES_H
#define CLNET_TESTS_CIFAR_FILES_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"

static inline void write_cifar(const char *path, int n, uint64_t seed) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot write %s", path);
  clnet_rng r;
  clnet_rng_seed(&r, seed);
  unsigned char rec[3073];
  for (int i = 0; i < n; ++i) {
    int label = (int)clnet_rng_below(&r, 10);
    rec[0] = (unsigned char)label;
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 1024; ++p) {
        int base = (label % 3 == c) ? 150 + 10 * (label / 3) : 40;
        rec[1 + c * 1024 + p] = (unsigned char)(base + (int)clnet_rng_below(&r, 40));
      }
    cr_assert_eq(fwrite(rec, 1, sizeof rec, f), sizeof rec);
  }
  fclose(f);
}

/* A fresh directory (/tmp/clnet-<tag>-XXXXXX into dir) with 160 + 96 training images in two
 * batch files and 64 test images: 6 batches of 48 per epoch. */
static inline void write_small_cifar_dir(char *dir, size_t cap, const char *tag) {
  snprintf(dir, cap, "/tmp/clnet-%s-XXXXXX", tag);
  cr_assert_not_null(mkdtemp(dir));
  char p[512];
  snprintf(p, sizeof p, "%s/data_batch_1.bin", dir);
  write_cifar(p, 160, 1);
  snprintf(p, sizeof p, "%s/data_batch_2.bin", dir);
  write_cifar(p, 96, 2);
  snprintf(p, sizeof p, "%s/test_batch.bin", dir);
  write_cifar(p, 64, 3);
}

#endif
