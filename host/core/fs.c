/* Small file-system helpers (core/fs.h). */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/fs.h"

int clnet_mkdir_p(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; ++p)
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0755);
      *p = '/';
    }
  return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : errno;
}
