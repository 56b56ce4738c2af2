/* clnet devices: everything a user needs to pick a device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cmd_devices(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet devices\nLists every OpenCL platform and device with its selector.\n");
      return CLI_OK;
    }
    return cli_usage_error("devices", "unknown argument '%s'", argv[i]);
  }
  clnet_device_info *devs = NULL;
  int32_t n = 0;
  clnet_status st = clnet_devices_list(&devs, &n);
  if (st != CLNET_SUCCESS) return cli_fail(st, "listing devices");
  int32_t def = -1, is_ref = 0;
  clnet_clear_error();
  if (clnet_device_select(NULL, devs, n, &def, &is_ref) != CLNET_SUCCESS) def = -1;
  printf("%-4s %-5s %-11s %-5s %9s %9s %9s %-10s %-4s %-4s %s\n", "idx", "P:D", "type", "CUs", "global",
         "max-alloc", "local", "OpenCL C", "fp16", "fp64", "name / vendor / platform");
  const char *last_platform = NULL;
  for (int32_t i = 0; i < n; ++i) {
    const clnet_device_info *d = &devs[i];
    char pd[16];
    snprintf(pd, sizeof pd, "%d:%d", d->platform_index, d->device_index);
    const char *ver = d->opencl_c_version;
    if (!strncmp(ver, "OpenCL C ", 9)) ver += 9;
    printf("%-4d %-5s %-11s %-5u %7.2f G %7.2f G %7.0f K %-10.10s %-4s %-4s %s%s\n", d->index, pd,
           clnet_device_type_str(d->type), d->compute_units, (double)d->global_mem_bytes / (1 << 30),
           (double)d->max_alloc_bytes / (1 << 30), (double)d->local_mem_bytes / 1024, ver,
           d->has_fp16 ? "yes" : "no", d->has_fp64 ? "yes" : "no", d->name, i == def && !is_ref ? "  (default)" : "");
    if (!last_platform || strcmp(last_platform, d->platform_name))
      printf("%45s vendor: %s; platform: %s (%s); driver %s\n", "", d->vendor, d->platform_name,
             d->platform_version, d->driver_version);
    last_platform = d->platform_name;
  }
  printf("ref  -     CPU         -     (the plain-C reference backend, --device ref)%s\n",
         is_ref ? "  (default)" : "");
  if (n == 0) printf("no OpenCL devices found: install an ICD (e.g. pocl-opencl-icd) or use --device ref\n");
  free(devs);
  return CLI_OK;
}
