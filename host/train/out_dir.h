/* Internal: a training run's output directory, held for the run.
 *
 *   clnet_out_dir od;
 *   CLNET_TRY(clnet_out_dir_open(dir, resume, overwrite, &od));
 *   ... write DIR/history.csv, DIR/last.safetensors, ...
 *   clnet_out_dir_close(&od);
 *
 * open creates the directory, takes an exclusive flock on DIR/.clnet.lock (released by close,
 * or by the kernel when the process dies, however it dies) and writes its pid there, so that a
 * second run on the same directory is refused with the holder's pid instead of silently
 * replacing its files. It then removes the temporaries of writers that died mid-save (clnet's
 * own, io/fs.h, whose process is gone; nothing else), checks that files can be created there
 * (before any data loads), and refuses a directory that holds a previous run (history.csv or a
 * checkpoint) unless the run resumes it, or `overwrite` asks to replace it (its files are then
 * removed). */
#ifndef CLNET_TRAIN_OUT_DIR_H
#define CLNET_TRAIN_OUT_DIR_H

#include <stdint.h>

#include "clnet/status.h"

#define CLNET_OUT_DIR_LOCK ".clnet.lock"

typedef struct clnet_out_dir {
  int fd; /* the lock file, -1 when not held */
} clnet_out_dir;

clnet_status clnet_out_dir_open(const char *dir, int32_t resume, int32_t overwrite, clnet_out_dir *od);
void clnet_out_dir_close(clnet_out_dir *od);

#endif
