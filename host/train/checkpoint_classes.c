/* Class names in checkpoints: clnet.class_names = ["cat","dog",...] (JSON),
 * written for image-folder runs and shown by eval and predict. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/train.h"
#include "core/error.h"
#include "train/checkpoint_classes.h"

char *clnet_class_names_json(const char *const *names, int32_t n) {
  cJSON *a = cJSON_CreateArray();
  if (!a) return NULL;
  for (int32_t i = 0; i < n; i++) {
    cJSON *s = cJSON_CreateString(names[i]);
    if (!s || !cJSON_AddItemToArray(a, s)) {
      cJSON_Delete(s);
      cJSON_Delete(a);
      return NULL;
    }
  }
  char *text = cJSON_PrintUnformatted(a);
  cJSON_Delete(a);
  char *copy = text ? strdup(text) : NULL; /* the caller frees it with free() */
  cJSON_free(text);
  return copy;
}

void clnet_class_names_free(char **names, int32_t n) {
  if (!names) return;
  for (int32_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

clnet_status clnet_checkpoint_read_class_names(const char *path, char ***names, int32_t *n) {
  *names = NULL;
  *n = 0;
  clnet_checkpoint_meta m;
  CLNET_TRY(clnet_checkpoint_read_meta(path, &m));
  clnet_st_file *f = NULL;
  CLNET_TRY(clnet_safetensors_read(path, &f));
  const char *text = clnet_st_meta(f, "clnet.class_names");
  clnet_status st = CLNET_SUCCESS;
  cJSON *a = NULL;
  char **out = NULL;
  if (!text) goto done;
  a = cJSON_Parse(text);
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != m.classes) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.class_names' is not an array of %d names", path,
                         (int)m.classes);
    goto done;
  }
  out = calloc((size_t)m.classes, sizeof *out);
  if (!out) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: class names: out of memory", path);
    goto done;
  }
  for (int32_t i = 0; i < m.classes; i++) {
    const cJSON *s = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsString(s) || !s->valuestring[0]) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.class_names': entry %d is not a name", path, (int)i);
      goto done;
    }
    if (!(out[i] = strdup(s->valuestring))) {
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: class names: out of memory", path);
      goto done;
    }
  }
  *names = out;
  *n = m.classes;
  out = NULL;
done:
  if (out) clnet_class_names_free(out, m.classes);
  cJSON_Delete(a);
  clnet_st_free(f);
  return st;
}
