/* Training history: per-epoch records, written to and read back from CSV. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/io.h"
#include "core/error.h"
#include "io/fs.h"
#include "io/atomic_file.h"

#define HISTORY_HEADER "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s,lr"
#define HISTORY_FIELDS 8
/* files from before the learning-rate column: read with lr = NaN */
#define HISTORY_HEADER_V1 "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s"
#define HISTORY_MAX_LINE 4096

static const char *const field_names[HISTORY_FIELDS] = {
    "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_s", "lr"};

static clnet_status history_push(clnet_history *h, const clnet_epoch_record *r) {
  if (h->count == h->capacity) {
    if (h->capacity > INT32_MAX / 2)
      return clnet_set_error(CLNET_ERR_TOO_LARGE, "history: too many epochs (%d)", (int)h->count);
    int32_t cap = h->capacity ? h->capacity * 2 : 64;
    clnet_epoch_record *rows = realloc(h->rows, (size_t)cap * sizeof *rows);
    if (rows == NULL)
      return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "history: out of host memory for %d rows",
                             (int)cap);
    h->rows = rows;
    h->capacity = cap;
  }
  h->rows[h->count++] = *r;
  return CLNET_SUCCESS;
}

clnet_status clnet_history_append(clnet_history *h, const clnet_epoch_record *r) {
  if (h == NULL || r == NULL)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "history append: NULL %s",
                           h == NULL ? "history" : "record");
  if (h->count < 0 || h->capacity < h->count || (h->capacity > 0 && h->rows == NULL))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "history append: history is not initialised (count %d, capacity %d)",
                           (int)h->count, (int)h->capacity);
  if (r->epoch < 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "history append: epoch %d is negative",
                           (int)r->epoch);
  if (h->count > 0 && (int64_t)r->epoch != (int64_t)h->rows[h->count - 1].epoch + 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "history append: epoch %d does not follow the last epoch %d",
                           (int)r->epoch, (int)h->rows[h->count - 1].epoch);
  return history_push(h, r);
}

void clnet_history_free(clnet_history *h) {
  if (h == NULL) return;
  free(h->rows);
  h->rows = NULL;
  h->count = h->capacity = 0;
}

/* The shortest "%.*g" form that reads back to exactly v; nan/inf spelled out. */
static int format_double(char *buf, size_t size, double v) {
  if (isnan(v)) return snprintf(buf, size, "nan");
  if (isinf(v)) return snprintf(buf, size, v > 0 ? "inf" : "-inf");
  int n = 0;
  for (int prec = 6; prec <= 17; prec++) {
    n = snprintf(buf, size, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  return n;
}

clnet_status clnet_history_write_csv(const clnet_history *h, const char *path) {
  if (h == NULL || path == NULL || path[0] == '\0')
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "history write: NULL history or empty path");
  if (h->count < 0 || (h->count > 0 && h->rows == NULL))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: history has %d rows and no storage", path,
                           (int)h->count);
  clnet_atomic_file af;
  CLNET_TRY(clnet_atomic_open(&af, path));
  clnet_status st = clnet_atomic_write(&af, HISTORY_HEADER "\n", strlen(HISTORY_HEADER "\n"));
  for (int32_t i = 0; i < h->count && st == CLNET_SUCCESS; i++) {
    const clnet_epoch_record *r = &h->rows[i];
    const double v[HISTORY_FIELDS - 1] = {r->loss,    r->accuracy,     r->val_loss, r->val_accuracy,
                                          r->seconds, r->images_per_s, r->lr};
    char line[HISTORY_FIELDS * 32 + 8];
    int len = snprintf(line, sizeof line, "%d", (int)r->epoch);
    for (int k = 0; k < HISTORY_FIELDS - 1; k++) {
      line[len++] = ',';
      len += format_double(line + len, sizeof line - (size_t)len, v[k]);
    }
    line[len++] = '\n';
    st = clnet_atomic_write(&af, line, (size_t)len);
  }
  if (st != CLNET_SUCCESS) {
    clnet_atomic_abort(&af);
    return st;
  }
  return clnet_atomic_commit(&af);
}

/* A printable excerpt of a field for messages. */
static const char *excerpt(const char *s, char buf[48]) {
  size_t i = 0;
  for (; s[i] != '\0' && i < 40; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
  }
  if (s[i] != '\0') {
    memcpy(buf + i, "...", 3);
    i += 3;
  }
  buf[i] = '\0';
  return buf;
}

/* Strict number: no leading/trailing space, the whole field consumed. */
static int parse_double(const char *s, double *out) {
  if (s[0] == '\0' || s[0] == ' ' || s[0] == '\t' || s[0] == '+') return 0;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (*end != '\0') return 0;
  /* Overflow (ERANGE with +-HUGE_VAL) is an error; underflow to a tiny value
   * is fine. Explicit "inf" does not set errno. */
  if (errno == ERANGE && isinf(v)) return 0;
  *out = v;
  return 1;
}

static int parse_epoch(const char *s, int32_t *out) {
  if (s[0] < '0' || s[0] > '9') return 0;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || errno != 0 || v > INT32_MAX) return 0;
  *out = (int32_t)v;
  return 1;
}

/* Parse one data line (terminators already stripped) into *r. */
/* fields: HISTORY_FIELDS, or one fewer for a file with the old header (no lr) */
static clnet_status parse_row(const char *path, long lineno, char *line, int fields, clnet_epoch_record *r) {
  char *field[HISTORY_FIELDS];
  int n = 0;
  char *p = line;
  for (;;) {
    char *comma = strchr(p, ',');
    if (n < HISTORY_FIELDS) field[n] = p;
    n++;
    if (comma == NULL) break;
    *comma = '\0';
    p = comma + 1;
  }
  if (n != fields)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s:%ld: expected %d comma-separated fields, found %d",
                           path, lineno, fields, n);
  r->lr = NAN;
  char eb[48];
  if (!parse_epoch(field[0], &r->epoch))
    return clnet_set_error(CLNET_ERR_FORMAT,
                           "%s:%ld: field 1 (epoch) is not a non-negative integer: '%s'", path,
                           lineno, excerpt(field[0], eb));
  double *dst[HISTORY_FIELDS - 1] = {&r->loss,    &r->accuracy,     &r->val_loss, &r->val_accuracy,
                                     &r->seconds, &r->images_per_s, &r->lr};
  for (int k = 1; k < fields; k++)
    if (!parse_double(field[k], dst[k - 1]))
      return clnet_set_error(CLNET_ERR_FORMAT, "%s:%ld: field %d (%s) is not a number: '%s'", path,
                             lineno, k + 1, field_names[k], excerpt(field[k], eb));
  return CLNET_SUCCESS;
}

/* Read one line into buf (without its "\n" or "\r\n"). Returns 1 for a line,
 * 0 at end of file, -1 if the line is too long, -2 on a read error, -3 if
 * the line holds a NUL byte. */
static int read_line(FILE *fp, char *buf, size_t size) {
  size_t len = 0;
  int c;
  while ((c = fgetc(fp)) != EOF) {
    if (c == '\n') break;
    if (c == '\0') return -3;
    if (len + 1 >= size) return -1;
    buf[len++] = (char)c;
  }
  if (c == EOF) {
    if (ferror(fp)) return -2;
    if (len == 0) return 0;
  }
  if (len > 0 && buf[len - 1] == '\r') len--;
  buf[len] = '\0';
  return 1;
}

clnet_status clnet_history_read_csv(const char *path, clnet_history *h) {
  if (path == NULL || path[0] == '\0' || h == NULL)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "history read: empty path or NULL history");
  FILE *fp = NULL;
  CLNET_TRY(clnet_fopen_regular(path, &fp)); /* a FIFO or a directory is named, never read */

  clnet_history tmp = {0};
  clnet_status st = CLNET_SUCCESS;
  char *line = malloc(HISTORY_MAX_LINE);
  if (line == NULL) {
    fclose(fp);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
  }
  int fields = HISTORY_FIELDS;
  for (long lineno = 1;; lineno++) {
    int rc = read_line(fp, line, HISTORY_MAX_LINE);
    if (rc == 0) {
      if (lineno == 1) st = clnet_set_error(CLNET_ERR_FORMAT, "%s: file is empty, expected the header "
                                            "line '" HISTORY_HEADER "'", path);
      break;
    }
    if (rc == -1) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s:%ld: line is longer than %d bytes", path, lineno,
                           HISTORY_MAX_LINE - 1);
      break;
    }
    if (rc == -2) {
      st = clnet_set_error(CLNET_ERR_IO, "%s: read failed: %s", path, strerror(errno));
      break;
    }
    if (rc == -3) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s:%ld: line contains a NUL byte", path, lineno);
      break;
    }
    if (lineno == 1) {
      if (!strcmp(line, HISTORY_HEADER_V1)) fields = HISTORY_FIELDS - 1;
      else if (strcmp(line, HISTORY_HEADER) != 0) {
        char eb[48];
        st = clnet_set_error(CLNET_ERR_FORMAT, "%s:1: header is '%s', expected '" HISTORY_HEADER "'",
                             path, excerpt(line, eb));
        break;
      }
      continue;
    }
    if (line[0] == '\0') {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s:%ld: empty line", path, lineno);
      break;
    }
    clnet_epoch_record r;
    st = parse_row(path, lineno, line, fields, &r);
    if (st != CLNET_SUCCESS) break;
    if (tmp.count > 0 && (int64_t)r.epoch != (int64_t)tmp.rows[tmp.count - 1].epoch + 1) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s:%ld: epoch %d does not follow epoch %d", path,
                           lineno, (int)r.epoch, (int)tmp.rows[tmp.count - 1].epoch);
      break;
    }
    st = history_push(&tmp, &r);
    if (st != CLNET_SUCCESS) {
      clnet_wrap_error(st, "%s", path);
      break;
    }
  }
  free(line);
  fclose(fp);
  if (st != CLNET_SUCCESS) {
    clnet_history_free(&tmp);
    return st;
  }
  clnet_history_free(h);
  *h = tmp;
  return CLNET_SUCCESS;
}
