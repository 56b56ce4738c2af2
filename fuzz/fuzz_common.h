/* Shared by the fuzz harnesses (fuzz/fuzz_*.c): input files, the error
 * contract and a file-descriptor leak check.
 *
 * clnet's readers take paths, so a harness writes its input to an in-memory
 * file (memfd, reached as /proc/self/fd/N; a per-process file in /tmp where
 * memfd is missing) and passes that path. Every harness then checks the
 * contract of status.h: a reader returns CLNET_SUCCESS, or a clean error -- a
 * clnet status for a bad file (CLNET_ERR_IO, _FORMAT, _TOO_LARGE,
 * _OUT_OF_HOST_MEMORY) with a non-empty, one-line clnet_last_error() that
 * names the file. Whatever breaks the contract aborts, which libFuzzer and the
 * replay driver (fuzz/replay_main.c) report as a crash.
 *
 * Header-only (static functions): each harness is one translation unit. */
#ifndef CLNET_FUZZ_COMMON_H
#define CLNET_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memfd_create */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clnet/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_FILES 2

/* Report a broken contract and abort (libFuzzer saves the input). */
#define FUZZ_FAIL(...)                                                   \
  do {                                                                   \
    fprintf(stderr, "fuzz contract violated (%s:%d): ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                        \
    fprintf(stderr, "\n");                                               \
    abort();                                                             \
  } while (0)

#define FUZZ_REQUIRE(cond, ...)                                          \
  do {                                                                   \
    if (!(cond)) FUZZ_FAIL(__VA_ARGS__);                                 \
  } while (0)

static int fuzz_fds[FUZZ_MAX_FILES] = {-1, -1}; /* memfd, or -2 for a /tmp file */
static char fuzz_paths[FUZZ_MAX_FILES][64];

static inline void fuzz_remove_tmp_files(void) {
  for (int i = 0; i < FUZZ_MAX_FILES; i++)
    if (fuzz_fds[i] == -2) unlink(fuzz_paths[i]);
}

/* Make file `slot` (0 .. FUZZ_MAX_FILES-1) hold exactly data[0..size) and
 * return its path, valid for the life of the process. */
static inline const char *fuzz_file(int slot, const uint8_t *data, size_t size) {
  if (fuzz_fds[slot] == -1) {
    char name[32];
    snprintf(name, sizeof name, "clnet-fuzz-%d", slot);
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd >= 0) {
      snprintf(fuzz_paths[slot], sizeof fuzz_paths[slot], "/proc/self/fd/%d", fd);
    } else {
      snprintf(fuzz_paths[slot], sizeof fuzz_paths[slot], "/tmp/clnet-fuzz-%ld-%d", (long)getpid(), slot);
      fd = -2;
      atexit(fuzz_remove_tmp_files);
    }
    fuzz_fds[slot] = fd;
  }
  if (fuzz_fds[slot] == -2) {
    FILE *f = fopen(fuzz_paths[slot], "wb");
    if (!f) FUZZ_FAIL("cannot create %s: %s", fuzz_paths[slot], strerror(errno));
    int ok = (size == 0 || fwrite(data, 1, size, f) == size);
    if (fclose(f) != 0 || !ok) FUZZ_FAIL("cannot write %s", fuzz_paths[slot]);
    return fuzz_paths[slot];
  }
  int fd = fuzz_fds[slot];
  if (ftruncate(fd, 0) != 0) FUZZ_FAIL("ftruncate: %s", strerror(errno));
  size_t done = 0;
  while (done < size) {
    ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) FUZZ_FAIL("pwrite: %s", strerror(errno));
    done += (size_t)w;
  }
  return fuzz_paths[slot];
}

/* The lowest free file descriptor: equal before and after a reader call,
 * unless the reader leaked one. */
static inline int fuzz_lowest_free_fd(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) FUZZ_FAIL("open /dev/null: %s", strerror(errno));
  close(fd);
  return fd;
}

static inline void fuzz_check_no_fd_leak(int before, const char *reader) {
  int after = fuzz_lowest_free_fd();
  FUZZ_REQUIRE(after <= before, "%s leaked a file descriptor (lowest free fd %d, was %d)", reader,
               after, before);
}

/* The error contract. `paths`: the n files the reader was given; the message
 * must name at least one of them. */
static inline void fuzz_check_status(const char *reader, clnet_status st, const char *const *paths, int n) {
  if (st == CLNET_SUCCESS) return;
  const char *msg = clnet_last_error();
  FUZZ_REQUIRE(st == CLNET_ERR_IO || st == CLNET_ERR_FORMAT || st == CLNET_ERR_TOO_LARGE ||
                   st == CLNET_ERR_OUT_OF_HOST_MEMORY,
               "%s returned %s (%d) for a file; message '%s'", reader, clnet_status_str(st), (int)st, msg);
  FUZZ_REQUIRE(msg[0] != '\0', "%s returned %s with an empty clnet_last_error()", reader,
               clnet_status_str(st));
  int named = 0;
  for (int i = 0; i < n; i++) named |= strstr(msg, paths[i]) != NULL;
  FUZZ_REQUIRE(named, "%s: error message does not name the file: '%s'", reader, msg);
  for (const char *p = msg; *p; p++) {
    unsigned char c = (unsigned char)*p;
    FUZZ_REQUIRE(c >= 0x20 && c != 0x7f,
                 "%s: error message is not one printable line (byte 0x%02x at %zu): '%s'", reader, c,
                 (size_t)(p - msg), msg);
  }
}

/* Read every byte of p[0..n) so AddressSanitizer sees an undersized buffer. */
static inline uint8_t fuzz_touch(const void *p, size_t n) {
  const volatile uint8_t *b = p;
  uint8_t x = 0;
  for (size_t i = 0; i < n; i++) x ^= b[i];
  return x;
}

#endif
