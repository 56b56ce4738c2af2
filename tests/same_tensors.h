/* Test helper: two safetensors files hold the same tensors, bit for bit (metadata may differ). */
#ifndef CLNET_TESTS_SAME_TENSORS_H
#define CLNET_TESTS_SAME_TENSORS_H

#include <criterion/criterion.h>
#include <string.h>

#include "clnet/io.h"

static inline void assert_same_tensors(const char *a, const char *b) {
  clnet_st_file *fa = NULL, *fb = NULL;
  cr_assert_eq(clnet_safetensors_read(a, &fa), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_safetensors_read(b, &fb), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_st_count(fa), clnet_st_count(fb), "%s and %s hold different numbers of tensors", a, b);
  for (int32_t i = 0; i < clnet_st_count(fa); ++i) {
    const clnet_st_tensor *ta = clnet_st_get(fa, i), *tb = clnet_st_find(fb, ta->name);
    cr_assert_not_null(tb, "%s: tensor %s missing", b, ta->name);
    int64_t n = 1;
    for (int32_t d = 0; d < ta->ndim; ++d) n *= ta->shape[d];
    cr_assert_eq(memcmp(ta->data, tb->data, (size_t)n * (size_t)clnet_dtype_size(ta->dtype)), 0,
                 "%s and %s differ in tensor %s", a, b, ta->name);
  }
  clnet_st_free(fa);
  clnet_st_free(fb);
}

#endif
