/* Internal: a small, fast, seeded random number generator.
 *
 * xoshiro256** (Blackman & Vigna) with its state filled by splitmix64, so any
 * 64-bit seed (0 included) gives a good state. Same seed -> same sequence on every
 * platform: the generator uses only 64-bit integer arithmetic, and the float
 * helpers round the same way everywhere.
 *
 *   clnet_rng r;
 *   clnet_rng_seed(&r, 42);
 *   float u = clnet_rng_uniform(&r);          // [0, 1)
 *   uint32_t k = clnet_rng_below(&r, 10);     // 0..9, unbiased
 *
 * For independent streams derived from one user seed (one per epoch, one per
 * purpose) use clnet_rng_seed_stream(&r, seed, stream). Not thread-safe: give each
 * thread its own clnet_rng. */
#ifndef CLNET_CORE_RNG_H
#define CLNET_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct clnet_rng {
  uint64_t s[4]; /* xoshiro256** state; never all zero after seeding */
} clnet_rng;

/* One step of splitmix64: advances *x and returns a well-mixed 64-bit value. */
uint64_t clnet_splitmix64(uint64_t *x);

/* Seed from one 64-bit value (any value, 0 included). */
void clnet_rng_seed(clnet_rng *r, uint64_t seed);

/* Seed an independent stream: (seed, stream) pairs that differ give unrelated
 * sequences. Use it to make e.g. epoch e's shuffle depend only on (seed, e). */
void clnet_rng_seed_stream(clnet_rng *r, uint64_t seed, uint64_t stream);

/* Next 64 random bits. */
uint64_t clnet_rng_u64(clnet_rng *r);

/* Next 32 random bits (the high half of a 64-bit draw). */
uint32_t clnet_rng_u32(clnet_rng *r);

/* Uniform float in [0, 1), a multiple of 2^-24 (never 1.0f). */
float clnet_rng_uniform(clnet_rng *r);

/* Uniform double in [0, 1), a multiple of 2^-53. */
double clnet_rng_uniform_double(clnet_rng *r);

/* Uniform integer in [0, n), without modulo bias (Lemire's method). n = 0 gives 0. */
uint32_t clnet_rng_below(clnet_rng *r, uint32_t n);

/* Standard normal N(0, 1) sample (Box-Muller, computed in double). Always finite. */
float clnet_rng_normal(clnet_rng *r);

/* Fisher-Yates shuffle of a[0..n): every permutation equally likely. n <= 0 does nothing. */
void clnet_rng_shuffle_i32(clnet_rng *r, int32_t *a, int32_t n);

#endif
