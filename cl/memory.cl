/* Host stores done by a kernel, for devices whose checkers lose track of what a host write,
 * fill or copy initialised (Oclgrind's --uninitialized: host/runtime/memory.c and
 * docs/RELIABILITY.md, "Oclgrind"). Index space (n): one work-item per 32-bit word or byte;
 * offsets count words (bytes for the _bytes kernels) from the start of each buffer. */

__kernel void mem_copy_words(__global const uint *src, const int src_off, __global uint *dst, const int dst_off,
                             const int n) {
  const int i = get_global_id(0);
  if (i < n) dst[dst_off + i] = src[src_off + i];
}

__kernel void mem_copy_bytes(__global const uchar *src, const int src_off, __global uchar *dst, const int dst_off,
                             const int n) {
  const int i = get_global_id(0);
  if (i < n) dst[dst_off + i] = src[src_off + i];
}

__kernel void mem_fill_words(__global uint *dst, const int off, const int n, const uint pattern) {
  const int i = get_global_id(0);
  if (i < n) dst[off + i] = pattern;
}

/* Marks dst[0, bytes) uninitialised for Oclgrind (host/runtime/memory.c, "init tracking"): each
 * work-item copies one 16-byte block from local memory nobody wrote, as one struct copy -- a
 * memcpy, whose shadow Oclgrind copies without a report, where a plain store of the value would be
 * reported. The last work-item also copies the tail (bytes % 16, overlapping its own block).
 * bytes >= 16. Index space (bytes / 16). The data become whatever that local memory held: undefined,
 * as a new buffer's are. */
typedef struct { uchar b[16]; } mem_block16;

__kernel void mem_poison(__global uchar *dst, const int bytes) {
  __local mem_block16 junk[1];
  const int n = bytes / 16, i = get_global_id(0);
  if (i >= n) return;
  *(__global mem_block16 *)(dst + 16 * i) = junk[0];
  if (i == n - 1 && bytes % 16) *(__global mem_block16 *)(dst + bytes - 16) = junk[0];
}
