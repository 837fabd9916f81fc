/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * CRC-32C by carry-less multiplication folding on x86-64 (VPCLMULQDQ on
 * 256 or 512 bits); walx_crc32c.c dispatches to it for long buffers.
 *
 * The CRC is linear over GF(2): a 16-byte lane X = L*x^64 + H that lies D
 * bytes before the end of a region contributes X*x^(8D) to it, and
 * X*x^(8D) == clmul(L, x^(8D+31) mod P) + clmul(H, x^(8D-33) mod P) mod P
 * when both constants are stored as 32-bit reflected values (a reflected
 * 64x64 product carries one extra factor of x, and a 32-bit constant read
 * as 64 bits another x^32). So the lanes of a long buffer fold forward into
 * the lanes 128 or 256 bytes later at one multiply-add each, independent
 * of each other, which the CPU overlaps; the last 16 bytes left standing
 * are congruent to the whole region, and two crc32 instructions finish
 * (the Intel white paper "Fast CRC Computation for Generic Polynomials
 * Using PCLMULQDQ" and Linux's crc-pclmul describe the method). The
 * constants are computed at init from the polynomial, not tabled. */
#include "walx_crc32c_impl.h"

#if WALX_HAVE_FOLD_IMPL
#include <immintrin.h>

/* x^m mod P, as a 32-bit reflected value (bit i is the coefficient of
 * x^(31-i)). */
static uint32_t xpow_mod(unsigned m) {
    uint32_t v = 0x80000000u; /* x^0 */
    while (m--)
        v = (v & 1) ? (v >> 1) ^ WALX_CRC_POLY : v >> 1;
    return v;
}

/* Multiplier pairs {lo, hi} for folding a lane forward by 16 << i bytes. */
#define FOLD_DISTANCES 6 /* 16 .. 512 */
static uint64_t fold_k[FOLD_DISTANCES][2];

void walx_fold_build_constants(void) {
    for (unsigned i = 0; i < FOLD_DISTANCES; i++) {
        unsigned dist = 16u << i;
        fold_k[i][0] = xpow_mod(8 * dist + 31);
        fold_k[i][1] = xpow_mod(8 * dist - 33);
    }
}

int walx_fold_cpu_width(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul") &&
          __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq")))
        return 0;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? 2 : 1;
}

#define FOLD_TARGET __attribute__((target("sse4.2,pclmul,avx2,vpclmulqdq")))
#define FOLD512_TARGET \
    __attribute__((target("sse4.2,pclmul,avx2,vpclmulqdq,avx512f,avx512vl")))

FOLD_TARGET static WALX_INLINE __m128i fold128(__m128i x, __m128i k, __m128i next) {
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

FOLD_TARGET static WALX_INLINE __m256i fold256(__m256i x, __m256i k, __m256i next) {
    __m256i lo = _mm256_clmulepi64_epi128(x, k, 0x00);
    __m256i hi = _mm256_clmulepi64_epi128(x, k, 0x11);
    return _mm256_xor_si256(_mm256_xor_si256(lo, hi), next);
}

FOLD512_TARGET static WALX_INLINE __m512i fold512(__m512i x, __m512i k, __m512i next) {
    __m512i lo = _mm512_clmulepi64_epi128(x, k, 0x00);
    __m512i hi = _mm512_clmulepi64_epi128(x, k, 0x11);
    return _mm512_ternarylogic_epi64(lo, hi, next, 0x96); /* lo ^ hi ^ next */
}

FOLD_TARGET static WALX_INLINE __m128i kpair128(int i) {
    return _mm_set_epi64x((long long)fold_k[i][1], (long long)fold_k[i][0]);
}

FOLD_TARGET static WALX_INLINE __m256i kpair256(int i) {
    return _mm256_broadcastsi128_si256(kpair128(i));
}

FOLD512_TARGET static WALX_INLINE __m512i kpair512(int i) {
    return _mm512_broadcast_i32x4(kpair128(i));
}

FOLD_TARGET static WALX_INLINE __m256i load256(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

FOLD512_TARGET static WALX_INLINE __m512i load512(const uint8_t *p) {
    return _mm512_loadu_si512((const void *)p);
}

/* Loads 32 or 64 bytes at p + i and, when copying (d not NULL), stores
 * them at d + i. */
FOLD_TARGET static WALX_INLINE __m256i ld256(const uint8_t *p, uint8_t *d, size_t i) {
    __m256i v = load256(p + i);
    if (d)
        _mm256_storeu_si256((__m256i *)(void *)(d + i), v);
    return v;
}

FOLD512_TARGET static WALX_INLINE __m512i ld512(const uint8_t *p, uint8_t *d, size_t i) {
    __m512i v = load512(p + i);
    if (d)
        _mm512_storeu_si512((void *)(d + i), v);
    return v;
}

/* Finishes a fold: `x` (16 bytes congruent to everything before p), then
 * the n bytes at p (copied to d unless d is NULL). Returns the raw
 * register. */
FOLD_TARGET static WALX_INLINE uint64_t fold_finish(__m128i x, const uint8_t *p, uint8_t *d,
                                                    size_t n) {
    if (d && n) {
        /* Checksum the copy, not the source again: the source may change
         * under a writer (another thread's bytearray), and the record
         * written must match its CRC, as the folded body's does. */
        memcpy(d, p, n);
        p = d;
    }
    __m128i k16 = kpair128(0);
    while (n >= 16) {
        x = fold128(x, k16, _mm_loadu_si128((const __m128i *)(const void *)p));
        p += 16;
        n -= 16;
    }
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(x));
    c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(x, 1));
    if (n >= 8) {
        c = _mm_crc32_u64(c, walx_load_le64(p));
        p += 8;
        n -= 8;
    }
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return c;
}

/* The running CRC enters the first lane of the first accumulator. */
FOLD_TARGET static WALX_INLINE __m256i first256(const uint8_t *p, uint8_t *d, uint32_t crc) {
    return _mm256_xor_si256(ld256(p, d, 0), _mm256_set_epi64x(0, 0, 0, (long long)(uint32_t)~crc));
}

FOLD512_TARGET static WALX_INLINE __m512i first512(const uint8_t *p, uint8_t *d, uint32_t crc) {
    return _mm512_xor_si512(ld512(p, d, 0),
                            _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, (long long)(uint32_t)~crc));
}

/* Folds the last accumulator down to the 16 bytes fold_finish takes. */
FOLD_TARGET static WALX_INLINE __m128i narrow256(__m256i a) {
    return fold128(_mm256_castsi256_si128(a), kpair128(0), _mm256_extracti128_si256(a, 1));
}

FOLD512_TARGET static WALX_INLINE __m128i narrow512(__m512i a) {
    return narrow256(fold256(_mm512_castsi512_si256(a), kpair256(1),
                             _mm512_extracti64x4_epi64(a, 1)));
}

/* The body of both kernels, for W = 256 or 512 bits: eight W-bit
 * accumulators over W bytes per round (K: the fold_k index for W bytes),
 * copying the bytes to d on the way unless d is NULL. At the end each
 * accumulator folds into the one 4, 2 and 1 places on, leaving one that is
 * congruent to everything read. REQUIRES: n >= W. */
#define FOLD_KERNEL(W, K)                                                                \
    __m##W##i a0 = first##W(p, d, crc);                                                  \
    __m##W##i a1 = ld##W(p, d, W / 8), a2 = ld##W(p, d, 2 * W / 8);                      \
    __m##W##i a3 = ld##W(p, d, 3 * W / 8), a4 = ld##W(p, d, 4 * W / 8);                  \
    __m##W##i a5 = ld##W(p, d, 5 * W / 8), a6 = ld##W(p, d, 6 * W / 8);                  \
    __m##W##i a7 = ld##W(p, d, 7 * W / 8);                                               \
    p += W;                                                                              \
    d = d ? d + W : NULL;                                                                \
    n -= W;                                                                              \
    __m##W##i k = kpair##W(K);                                                           \
    while (n >= W) {                                                                     \
        a0 = fold##W(a0, k, ld##W(p, d, 0));                                             \
        a1 = fold##W(a1, k, ld##W(p, d, W / 8));                                         \
        a2 = fold##W(a2, k, ld##W(p, d, 2 * W / 8));                                     \
        a3 = fold##W(a3, k, ld##W(p, d, 3 * W / 8));                                     \
        a4 = fold##W(a4, k, ld##W(p, d, 4 * W / 8));                                     \
        a5 = fold##W(a5, k, ld##W(p, d, 5 * W / 8));                                     \
        a6 = fold##W(a6, k, ld##W(p, d, 6 * W / 8));                                     \
        a7 = fold##W(a7, k, ld##W(p, d, 7 * W / 8));                                     \
        p += W;                                                                          \
        d = d ? d + W : NULL;                                                            \
        n -= W;                                                                          \
    }                                                                                    \
    k = kpair##W(K - 1);                                                                 \
    a0 = fold##W(a0, k, a4);                                                             \
    a1 = fold##W(a1, k, a5);                                                             \
    a2 = fold##W(a2, k, a6);                                                             \
    a3 = fold##W(a3, k, a7);                                                             \
    k = kpair##W(K - 2);                                                                 \
    a0 = fold##W(a0, k, a2);                                                             \
    a1 = fold##W(a1, k, a3);                                                             \
    a0 = fold##W(a0, kpair##W(K - 3), a1);                                               \
    return ~(uint32_t)fold_finish(narrow##W(a0), p, d, n)

FOLD_TARGET static WALX_INLINE uint32_t fold256_body(uint32_t crc, const uint8_t *p, uint8_t *d,
                                                     size_t n) {
    FOLD_KERNEL(256, 4);
}

FOLD512_TARGET static WALX_INLINE uint32_t fold512_body(uint32_t crc, const uint8_t *p,
                                                        uint8_t *d, size_t n) {
    FOLD_KERNEL(512, 5);
}

/* Separate copying and non-copying kernels: with d a constant NULL the
 * stores compile away. */
FOLD_TARGET uint32_t walx_fold256(uint32_t crc, const uint8_t *p, size_t n) {
    return fold256_body(crc, p, NULL, n);
}

FOLD512_TARGET uint32_t walx_fold512(uint32_t crc, const uint8_t *p, size_t n) {
    return fold512_body(crc, p, NULL, n);
}

FOLD_TARGET uint32_t walx_fold256_copy(uint32_t crc, const uint8_t *p, uint8_t *d, size_t n) {
    return fold256_body(crc, p, d, n);
}

FOLD512_TARGET uint32_t walx_fold512_copy(uint32_t crc, const uint8_t *p, uint8_t *d, size_t n) {
    return fold512_body(crc, p, d, n);
}

#endif /* WALX_HAVE_FOLD_IMPL */
