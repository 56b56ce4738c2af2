/* Internal to host/data: finding the images of an image-folder tree and
 * splitting them (imagefolder.c).
 *
 * Layouts (class folders are the non-hidden subdirectories, sorted by byte
 * value; the images are the *.png, *.jpg, *.jpeg files anywhere below a class
 * folder, case-insensitive, following symbolic links, sorted by path):
 *   DIR/train/<class>/... and DIR/val/<class>/... (or DIR/test/<class>/...)
 *   DIR/train/<class>/... alone, or DIR/<class>/...: one tree; a seeded,
 *       stratified fraction of each class is held out for validation. */
#ifndef CLNET_DATA_IMAGEFOLDER_H
#define CLNET_DATA_IMAGEFOLDER_H

#include <stdint.h>

#include "clnet/status.h"

/* Image files and their class indices, in class-major, path order. */
typedef struct clnet_image_list {
  int32_t n, cap;
  char **paths;    /* (n) malloc'd full paths */
  int32_t *labels; /* (n) */
} clnet_image_list;

void clnet_image_list_free(clnet_image_list *l);
/* Appends a copy of path; returns 0 when out of memory. */
int clnet_image_list_add(clnet_image_list *l, const char *path, int32_t label);

/* Files skipped during the scan (a dangling link named like an image) or found
 * bad later: a path and its one-line reason each. */
typedef struct clnet_bad_list {
  int32_t n, cap;
  char **lines; /* "path: reason" */
} clnet_bad_list;
void clnet_bad_list_free(clnet_bad_list *b);
int clnet_bad_list_add(clnet_bad_list *b, const char *line);

typedef struct clnet_image_tree {
  int32_t classes;
  char **class_names;          /* (classes) */
  clnet_image_list train, test; /* test: the val/ (or test/) folder, or the held-out part */
  const char *layout;          /* static description, e.g. "train/ and val/" */
  int32_t ignored;             /* files that are not .png/.jpg/.jpeg (or lie outside class folders) */
  char *ignored_example;       /* one of them, or NULL */
  clnet_bad_list bad;          /* image files that cannot even be opened (skip_bad) */
} clnet_image_tree;

typedef struct clnet_tree_options {
  double val_split;    /* one-tree layouts: fraction of each class held out; 0: none */
  uint64_t split_seed; /* which images are held out depends only on this and the files */
  int32_t eval_only;   /* only the test split's files are needed (a one-tree layout without val_split is
                          all test) */
  int32_t skip_bad;    /* dangling links named like images: into `bad` instead of an error */
} clnet_tree_options;

/* Scans dir. *found = 0 (and success) when dir has no subdirectories: not an
 * image folder. Errors (with found = 1) name the folder or file: empty class
 * folder, class folder without images, symbolic-link loop, unreadable entry,
 * val/ classes that differ from train/'s, a one-tree layout without val_split
 * (unless eval_only). */
clnet_status clnet_image_tree_scan(const char *dir, const clnet_tree_options *o, clnet_image_tree *out, int *found);
void clnet_image_tree_free(clnet_image_tree *t);

/* Files to predict: each arg is a file (taken as it is) or a directory (every
 * image below it, sorted, label 0). */
clnet_status clnet_image_paths_collect(const char *const *args, int32_t n, clnet_image_list *out);

/* 1 when name ends in .png, .jpg or .jpeg (any case). */
int clnet_is_image_name(const char *name);

#endif
