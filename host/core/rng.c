/* xoshiro256** seeded by splitmix64. See rng.h. */
#include "core/rng.h"

#include <math.h>

uint64_t clnet_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void clnet_rng_seed(clnet_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = clnet_splitmix64(&x);
  /* splitmix64 is a bijection of its counter, so four consecutive outputs are
   * never all zero; keep the guard anyway, xoshiro must not start at zero. */
  if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1;
}

void clnet_rng_seed_stream(clnet_rng *r, uint64_t seed, uint64_t stream) {
  uint64_t a = seed, b = stream ^ 0x6A09E667F3BCC909ull; /* sqrt(2) bits: stream 0 != plain seed */
  uint64_t key = clnet_splitmix64(&a);
  key ^= clnet_splitmix64(&b) * 0xD1342543DE82EF95ull;
  clnet_rng_seed(r, key);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t clnet_rng_u64(clnet_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint32_t clnet_rng_u32(clnet_rng *r) { return (uint32_t)(clnet_rng_u64(r) >> 32); }

float clnet_rng_uniform(clnet_rng *r) {
  return (float)(clnet_rng_u64(r) >> 40) * (1.0f / 16777216.0f); /* 24 bits: exact in float */
}

double clnet_rng_uniform_double(clnet_rng *r) {
  return (double)(clnet_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); /* 53 bits */
}

uint32_t clnet_rng_below(clnet_rng *r, uint32_t n) {
  if (n == 0) return 0;
  uint64_t m = (uint64_t)clnet_rng_u32(r) * n;
  uint32_t low = (uint32_t)m;
  if (low < n) {
    uint32_t threshold = (uint32_t)(-n) % n; /* 2^32 mod n */
    while (low < threshold) {
      m = (uint64_t)clnet_rng_u32(r) * n;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

float clnet_rng_normal(clnet_rng *r) {
  /* u1 in (0, 1] so log(u1) is finite; |result| <= sqrt(-2 ln 2^-53) ~ 8.6. */
  double u1 = (double)((clnet_rng_u64(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
  double u2 = clnet_rng_uniform_double(r);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925286766559 * u2));
}

void clnet_rng_shuffle_i32(clnet_rng *r, int32_t *a, int32_t n) {
  for (int32_t i = n - 1; i > 0; i--) {
    int32_t j = (int32_t)clnet_rng_below(r, (uint32_t)i + 1u);
    int32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
