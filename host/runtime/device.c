/* Device enumeration and selection. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ctx.h"

static void get_str(cl_device_id d, cl_device_info what, char *dst, size_t cap) {
  dst[0] = '\0';
  if (clGetDeviceInfo(d, what, cap, dst, NULL) != CL_SUCCESS) dst[0] = '\0';
  dst[cap - 1] = '\0';
}

static int has_extension(cl_device_id d, const char *ext) {
  size_t n = 0;
  if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0) return 0;
  char *s = malloc(n + 1);
  if (!s) return 0;
  int found = 0;
  if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
    s[n] = '\0';
    found = strstr(s, ext) != NULL;
  }
  free(s);
  return found;
}

clnet_status clnet_devices_list(clnet_device_info **out, int32_t *count) {
  *out = NULL;
  *count = 0;
  cl_uint n_platforms = 0;
  cl_int err = clGetPlatformIDs(0, NULL, &n_platforms);
  if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: no ICD installed */ || n_platforms == 0) return CLNET_SUCCESS;
  CLNET_CL_CHECK(err);
  cl_platform_id *platforms = calloc(n_platforms, sizeof *platforms);
  if (!platforms) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "listing platforms");
  clnet_status st = CLNET_SUCCESS;
  CLNET_CL_GOTO(clGetPlatformIDs(n_platforms, platforms, NULL), st, done);
  int32_t total = 0, cap = 0;
  clnet_device_info *list = NULL;
  for (cl_uint p = 0; p < n_platforms; ++p) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
      continue;
    cl_device_id *ids = calloc(nd, sizeof *ids);
    if (!ids || clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL) != CL_SUCCESS) {
      free(ids);
      continue;
    }
    for (cl_uint d = 0; d < nd; ++d) {
      if (total == cap) {
        cap = cap ? cap * 2 : 8;
        clnet_device_info *grown = realloc(list, (size_t)cap * sizeof *list);
        if (!grown) {
          free(ids);
          free(list);
          st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "listing devices");
          goto done;
        }
        list = grown;
      }
      clnet_device_info *di = &list[total];
      memset(di, 0, sizeof *di);
      di->index = total;
      di->platform_index = (int32_t)p;
      di->device_index = (int32_t)d;
      di->platform = platforms[p];
      di->device = ids[d];
      get_str(ids[d], CL_DEVICE_NAME, di->name, sizeof di->name);
      get_str(ids[d], CL_DEVICE_VENDOR, di->vendor, sizeof di->vendor);
      get_str(ids[d], CL_DRIVER_VERSION, di->driver_version, sizeof di->driver_version);
      get_str(ids[d], CL_DEVICE_OPENCL_C_VERSION, di->opencl_c_version, sizeof di->opencl_c_version);
      clGetPlatformInfo(platforms[p], CL_PLATFORM_NAME, sizeof di->platform_name, di->platform_name, NULL);
      clGetPlatformInfo(platforms[p], CL_PLATFORM_VERSION, sizeof di->platform_version,
                        di->platform_version, NULL);
      di->platform_name[sizeof di->platform_name - 1] = '\0';
      di->platform_version[sizeof di->platform_version - 1] = '\0';
      cl_uint cu = 0, align_bits = 0;
      cl_ulong gmem = 0, maxalloc = 0, lmem = 0;
      size_t wg = 0;
      clGetDeviceInfo(ids[d], CL_DEVICE_TYPE, sizeof di->type, &di->type, NULL);
      clGetDeviceInfo(ids[d], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
      clGetDeviceInfo(ids[d], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
      clGetDeviceInfo(ids[d], CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL);
      clGetDeviceInfo(ids[d], CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
      clGetDeviceInfo(ids[d], CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
      clGetDeviceInfo(ids[d], CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
      di->compute_units = cu;
      di->global_mem_bytes = gmem;
      di->max_alloc_bytes = maxalloc;
      di->local_mem_bytes = lmem;
      di->max_work_group_size = wg;
      di->mem_base_addr_align_bytes = align_bits / 8 < 4 ? 4 : align_bits / 8;
      size_t items[3] = {0, 0, 0};
      cl_uint item_dims = 0;
      clGetDeviceInfo(ids[d], CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, sizeof item_dims, &item_dims, NULL);
      if (item_dims >= 3) {
        size_t *all = calloc(item_dims, sizeof *all);
        if (all && clGetDeviceInfo(ids[d], CL_DEVICE_MAX_WORK_ITEM_SIZES, item_dims * sizeof *all, all, NULL) == CL_SUCCESS)
          memcpy(items, all, sizeof items);
        free(all);
      }
      for (int k = 0; k < 3; ++k) di->max_work_item_sizes[k] = items[k] ? items[k] : wg; /* unreadable: the group limit */
      if (sscanf(di->opencl_c_version, "OpenCL C %d.%d", &di->opencl_c_major, &di->opencl_c_minor) != 2)
        di->opencl_c_major = di->opencl_c_minor = 0;
      di->has_fp16 = has_extension(ids[d], "cl_khr_fp16");
      di->has_fp64 = has_extension(ids[d], "cl_khr_fp64");
      ++total;
    }
    free(ids);
  }
  *out = list;
  *count = total;
done:
  free(platforms);
  return st;
}

/* "64", "16K", "1M", "2G" -> bytes; 0 when not a number with an optional K/M/G suffix */
static uint64_t parse_size(const char *v, const char *end) {
  if (v >= end || *v < '0' || *v > '9') return 0;
  char *stop = NULL;
  unsigned long long n = strtoull(v, &stop, 10);
  if (stop == v) return 0;
  uint64_t mul = 1;
  if (stop < end && (*stop == 'K' || *stop == 'k')) mul = 1ull << 10, ++stop;
  else if (stop < end && (*stop == 'M' || *stop == 'm')) mul = 1ull << 20, ++stop;
  else if (stop < end && (*stop == 'G' || *stop == 'g')) mul = 1ull << 30, ++stop;
  if (stop != end || n == 0 || n > UINT64_MAX / mul) return 0;
  return (uint64_t)n * mul;
}

clnet_status clnet_device_limits_apply(clnet_device_info *info, const char *spec) {
  if (!spec || !*spec) return CLNET_SUCCESS;
  for (const char *p = spec;;) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    const uint64_t v = eq ? parse_size(eq + 1, end) : 0;
    const size_t klen = eq ? (size_t)(eq - p) : 0;
#define KEY(k) (klen == sizeof k - 1 && !strncmp(p, k, klen))
    if (KEY("type") && end - eq - 1 == 3 && !strncmp(eq + 1, "gpu", 3)) {
      info->type = CL_DEVICE_TYPE_GPU; /* the GPU-shaped paths on any device (work-groups, no CPU barriers) */
    } else if (!v || !(KEY("wg") || KEY("local") || KEY("alloc") || KEY("global"))) {
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "device limits '%s': '%.*s' is not wg=N, local=BYTES, alloc=BYTES, global=BYTES "
                             "(N > 0, optional K/M/G suffix) or type=gpu", spec, (int)(end - p), p);
    } else if (KEY("wg")) {
      if (v < info->max_work_group_size) info->max_work_group_size = (size_t)v;
      for (int k = 0; k < 3; ++k)
        if (v < info->max_work_item_sizes[k]) info->max_work_item_sizes[k] = (size_t)v;
    } else if (KEY("local")) {
      if (v < info->local_mem_bytes) info->local_mem_bytes = v;
    } else if (KEY("alloc")) {
      if (v < info->max_alloc_bytes) info->max_alloc_bytes = v;
    } else if (v < info->global_mem_bytes) {
      info->global_mem_bytes = v;
    }
#undef KEY
    if (!*end) return CLNET_SUCCESS;
    p = end + 1; /* an empty item after a comma fails above */
  }
}

const char *clnet_device_type_str(cl_device_type t) {
  if (t & CL_DEVICE_TYPE_GPU) return "GPU";
  if (t & CL_DEVICE_TYPE_CPU) return "CPU";
  if (t & CL_DEVICE_TYPE_ACCELERATOR) return "ACCELERATOR";
  return "OTHER";
}

static int contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; ++hay) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) ++i;
    if (i == n) return 1;
  }
  return n == 0;
}

static void append_device_list(char *msg, size_t cap, const clnet_device_info *devs, int32_t count,
                               const int32_t *only, int32_t n_only) {
  size_t len = strlen(msg);
  for (int32_t i = 0; i < count; ++i) {
    if (only) {
      int keep = 0;
      for (int32_t j = 0; j < n_only; ++j) keep |= only[j] == i;
      if (!keep) continue;
    }
    len += (size_t)snprintf(msg + len, len < cap ? cap - len : 0, "%s %d (%d:%d) %s [%s]",
                            (len && msg[len - 1] != ':') ? ";" : "", devs[i].index,
                            devs[i].platform_index, devs[i].device_index, devs[i].name,
                            clnet_device_type_str(devs[i].type));
    if (len >= cap) break;
  }
}

clnet_status clnet_device_select(const char *sel, const clnet_device_info *devs, int32_t count,
                                 int32_t *index, int32_t *is_ref) {
  *index = -1;
  *is_ref = 0;
  if (!sel || !*sel) sel = getenv("CLNET_DEVICE");
  if (sel && (!strcmp(sel, "ref") || !strcmp(sel, "REF") || !strcmp(sel, "reference"))) {
    *is_ref = 1;
    return CLNET_SUCCESS;
  }
  char msg[900];
  if (!sel || !*sel) {
    if (count == 0)
      return clnet_set_error(CLNET_ERR_DEVICE_NOT_FOUND,
                             "no OpenCL device found (is an ICD such as pocl-opencl-icd installed?); "
                             "use --device ref for the CPU reference");
    for (int32_t i = 0; i < count; ++i)
      if (devs[i].type & CL_DEVICE_TYPE_GPU) {
        *index = i;
        return CLNET_SUCCESS;
      }
    *index = 0;
    return CLNET_SUCCESS;
  }
  /* global index */
  char *end = NULL;
  long v = strtol(sel, &end, 10);
  if (end != sel && *end == '\0') {
    if (v >= 0 && v < count) {
      *index = (int32_t)v;
      return CLNET_SUCCESS;
    }
  } else {
    /* P:D */
    long p = v;
    if (end != sel && *end == ':') {
      char *end2 = NULL;
      long d = strtol(end + 1, &end2, 10);
      if (end2 != end + 1 && *end2 == '\0') {
        for (int32_t i = 0; i < count; ++i)
          if (devs[i].platform_index == p && devs[i].device_index == d) {
            *index = i;
            return CLNET_SUCCESS;
          }
        goto not_found;
      }
    }
    /* name substring */
    int32_t matches[64], n = 0;
    for (int32_t i = 0; i < count && n < 64; ++i)
      if (contains_ci(devs[i].name, sel)) matches[n++] = i;
    if (n == 1) {
      *index = matches[0];
      return CLNET_SUCCESS;
    }
    if (n > 1) {
      snprintf(msg, sizeof msg, "device '%s' is ambiguous, it matches:", sel);
      append_device_list(msg, sizeof msg, devs, count, matches, n);
      return clnet_set_error(CLNET_ERR_DEVICE_AMBIGUOUS, "%s; use an index or P:D", msg);
    }
  }
not_found:
  snprintf(msg, sizeof msg, "no device matches '%s'; devices are:", sel);
  append_device_list(msg, sizeof msg, devs, count, NULL, 0);
  return clnet_set_error(CLNET_ERR_DEVICE_NOT_FOUND, "%s; ref (CPU reference)", msg);
}
