/* Internal to host/train: class names in checkpoint metadata (checkpoint_classes.c). */
#ifndef CLNET_TRAIN_CHECKPOINT_CLASSES_H
#define CLNET_TRAIN_CHECKPOINT_CLASSES_H

#include <stdint.h>

/* names[0..n) as a compact JSON array (malloc'd), NULL when out of memory. */
char *clnet_class_names_json(const char *const *names, int32_t n);

#endif
