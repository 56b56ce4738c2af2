/* clnet bench --data DIR: how fast the loader makes training batches from a data
 * set: decoding, cropping, resizing, flipping and normalising, per thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "data/image_source.h"
#include "data/pool.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Images per second of the first `images` training images through a loader (shuffled,
 * flipped, the training crop), with `threads` decoding threads. */
static clnet_status time_loader(clnet_dataset *ds, int32_t threads, int32_t batch, int32_t images, double *rate) {
  if (ds->source) clnet_image_source_set_threads(ds->source, threads);
  float mean[4], std[4];
  clnet_dataset_default_norm(ds, mean, std);
  const clnet_loader_config lc = {.batch = batch, .shuffle = 1, .flip = 1, .seed = 1, .mean = mean, .std = std};
  clnet_loader *ld = NULL;
  clnet_status st = clnet_loader_create(ds, &lc, &ld);
  if (st != CLNET_SUCCESS) return st;
  const double t0 = now_s();
  int32_t done = 0;
  st = clnet_loader_start_epoch(ld, 0, 0);
  while (st == CLNET_SUCCESS && done < images) {
    clnet_batch b;
    int32_t has = 0;
    st = clnet_loader_next(ld, &b, &has);
    if (!has) break;
    done += b.count;
  }
  const double dt = now_s() - t0;
  clnet_loader_free(ld);
  *rate = done / (dt > 0 ? dt : 1e-9);
  return st;
}

int cmd_bench_data(int argc, char **argv) {
  const char *dir = NULL, *v = NULL;
  int64_t batch = 64, images = 4096, threads_max = 0;
  clnet_image_options o = {.note = cli_image_note};
  for (int i = 1; i < argc; ++i) {
    int r, image_rc = CLI_OK;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet bench --data DIR [--images N] [--batch B] [--decode-threads T] [image options]\n"
             "Images per second of training batches from DIR (any format; image folders: decoded,\n"
             "cropped, resized, flipped and normalised, as clnet train makes them) on 1 thread and on T\n"
             "(default: what clnet train uses), per thread; for image folders without the cache (every\n"
             "file decoded again) and with it. Times the first N training images (default 4096).\n");
      cli_image_flags_usage(stdout, 1);
      return CLI_OK;
    }
    if ((r = cli_flag(argc, argv, &i, "--data", &v))) {
      if (r < 0) return cli_usage_error("bench", "--data needs a value");
      dir = v;
    } else if ((r = cli_flag(argc, argv, &i, "--batch", &v))) {
      if (r < 0 || !cli_parse_pos_int(v, 65536, &batch)) return cli_usage_error("bench", "--batch must be in 1..65536");
    } else if ((r = cli_flag(argc, argv, &i, "--images", &v))) {
      if (r < 0 || !cli_parse_pos_int(v, INT32_MAX, &images)) return cli_usage_error("bench", "--images must be a positive integer");
    } else if (cli_image_flag("bench", argc, argv, &i, &o, &image_rc)) {
      if (image_rc != CLI_OK) return image_rc;
    } else {
      return cli_usage_error("bench", "--data: unknown argument '%s'", argv[i]);
    }
  }
  threads_max = o.threads;
  const clnet_image_cache want = o.cache;
  clnet_dataset train = {0}, test = {0};
  const char *fmt = NULL;
  int rc = CLI_OK;
  for (int pass = 0; pass < 2 && rc == CLI_OK; ++pass) {
    /* pass 0: without the cache (decoding every time); pass 1: cached (image folders only) */
    o.cache = pass == 0 ? CLNET_IMAGE_CACHE_NONE : CLNET_IMAGE_CACHE_RAM;
    if (pass == 0 && want == CLNET_IMAGE_CACHE_RAM) continue;
    if (pass == 1 && want == CLNET_IMAGE_CACHE_NONE) break;
    const double t0 = now_s();
    clnet_status st = clnet_dataset_open_dir_ex(dir ? dir : CLNET_DEFAULT_DATA_DIR, &o, &train, &test, &fmt);
    if (st != CLNET_SUCCESS) return cli_fail(st, "bench --data");
    const double open_s = now_s() - t0;
    o.note = NULL; /* said once */
    const int32_t t_all = train.source ? clnet_image_source_threads(train.source) : 1;
    if (pass == 0 || !train.source)
      printf("data: %s (%s): %d training images, %dx%dx%d; opened in %.2f s%s\n", dir ? dir : CLNET_DEFAULT_DATA_DIR, fmt,
             train.count, train.height, train.width, train.channels, open_s,
             train.source ? " (every header checked, every image decoded once)" : "");
    if (!train.source && pass == 1) {
      clnet_dataset_free(&train);
      clnet_dataset_free(&test);
      break;
    }
    const int32_t n = images < train.count ? (int32_t)images : train.count;
    const int32_t counts[2] = {1, threads_max ? (int32_t)threads_max : t_all};
    for (int k = 0; k < 2 && rc == CLI_OK; ++k) {
      if (k == 1 && counts[1] == 1) break;
      double rate = 0;
      st = time_loader(&train, counts[k], (int32_t)batch, n, &rate);
      if (st != CLNET_SUCCESS) {
        rc = cli_fail(st, "bench --data");
        break;
      }
      const char *what = !train.source ? "batches from memory (normalise, flip)"
                         : pass == 0  ? "decode + crop/resize + flip + normalise"
                                      : "cached: crop/resize + flip + normalise";
      printf("%-44s %2d thread%s %10.0f images/s %10.0f per thread\n", what, counts[k], counts[k] == 1 ? " " : "s",
             rate, rate / counts[k]);
    }
    if (train.source && pass == 0)
      printf("(%d images timed, batch %d; the loader's prefetch thread hands each batch to the decoding threads; "
             "%d CPUs online)\n", n, (int)batch, clnet_cpu_count());
    clnet_dataset_free(&train);
    clnet_dataset_free(&test);
    if (!fmt || strcmp(fmt, "images")) break; /* in-memory formats: one pass says it all */
  }
  return rc;
}
