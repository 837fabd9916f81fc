/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * CRC-32C (Castagnoli): software slicing-by-8, SSE4.2 on x86-64, the ARMv8
 * CRC32 instructions on aarch64, and a dispatch chosen once and
 * self-checked (leveldb util/crc32c.cc CanAccelerateCRC32C). */
#include <string.h>

#include "walx.h"
#include "walx_testing.h"

#define POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t table[8][256];
static int tables_ready;

static uint32_t crc_shift(uint32_t crc, int which);

/* Stream lengths of the interleaved loops (bytes). */
#define LONG_STRIDE 4096
#define MID_STRIDE 1024
/* Zero-byte runs the combining tables advance over, indexed by `which`:
 * one and two strides of 256, MID_STRIDE and LONG_STRIDE bytes. */
static const size_t shift_lengths[6] = {256, 512, MID_STRIDE, 2 * MID_STRIDE,
                                        LONG_STRIDE, 2 * LONG_STRIDE};

static void build_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    tables_ready = 1;
}

static WALX_INLINE uint64_t load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

uint32_t walx_crc32c_sw(uint32_t crc, const uint8_t *p, size_t n) {
    if (!tables_ready)
        build_tables();
    uint32_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
        n--;
    }
    while (n >= 8) {
        uint64_t v = load_le64(p) ^ c;
        c = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
            table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
            table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
            table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    return ~c;
}

/* ---- hardware ---- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <nmmintrin.h>
#define HAVE_HW_IMPL 1
#define HW_NAME "sse4.2"

static int cpu_has_hw(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    return (c & bit_SSE4_2) != 0;
}

__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = (uint32_t)~crc;
    /* No alignment prologue: x86 loads need none, and short records (the
     * common case) would spend most of their time in it. */
    /* Three independent streams hide the instruction's 3-cycle latency;
     * long strides make the combining step rare. */
#define X86_STREAMS(STRIDE, SHIFT1, SHIFT2)                                      \
    while (n >= 3 * (STRIDE)) {                                                 \
        uint64_t c1 = 0, c2 = 0;                                                \
        for (int i = 0; i < (STRIDE); i += 8) {                                 \
            c = _mm_crc32_u64(c, load_le64(p + i));                             \
            c1 = _mm_crc32_u64(c1, load_le64(p + (STRIDE) + i));                \
            c2 = _mm_crc32_u64(c2, load_le64(p + 2 * (STRIDE) + i));            \
        }                                                                       \
        /* Combine: advance c over 2 strides and c1 over 1 of zeros. */         \
        c = crc_shift((uint32_t)c, SHIFT2) ^ crc_shift((uint32_t)c1, SHIFT1) ^ \
            (uint32_t)c2;                                                       \
        p += 3 * (STRIDE);                                                      \
        n -= 3 * (STRIDE);                                                      \
    }
    X86_STREAMS(LONG_STRIDE, 4, 5)
    X86_STREAMS(MID_STRIDE, 2, 3)
#undef X86_STREAMS
    while (n >= 3 * 256) {
        uint64_t c1 = 0, c2 = 0;
        for (int i = 0; i < 256; i += 8) {
            c = _mm_crc32_u64(c, load_le64(p + i));
            c1 = _mm_crc32_u64(c1, load_le64(p + 256 + i));
            c2 = _mm_crc32_u64(c2, load_le64(p + 512 + i));
        }
        /* Combine: advance c over 512 and c1 over 256 bytes of zeros. */
        c = crc_shift((uint32_t)c, 1) ^ crc_shift((uint32_t)c1, 0) ^ (uint32_t)c2;
        p += 3 * 256;
        n -= 3 * 256;
    }
    while (n >= 8) {
        c = _mm_crc32_u64(c, load_le64(p));
        p += 8;
        n -= 8;
    }
    if (n & 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c = _mm_crc32_u32((uint32_t)c, v);
        p += 4;
    }
    if (n & 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        c = _mm_crc32_u16((uint32_t)c, v);
        p += 2;
    }
    if (n & 1)
        c = _mm_crc32_u8((uint32_t)c, *p);
    return ~(uint32_t)c;
}

#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#include <arm_acle.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
static int cpu_has_hw(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#elif defined(__APPLE__)
static int cpu_has_hw(void) { return 1; } /* every Apple arm64 CPU has CRC32 */
#else
static int cpu_has_hw(void) { return 0; }
#endif
#define HAVE_HW_IMPL 1
#define HW_NAME "armv8-crc"

__attribute__((target("+crc")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n) {
    uint32_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c = __crc32cb(c, *p++);
        n--;
    }
#define ARM_STREAMS(STRIDE, SHIFT1, SHIFT2)                                      \
    while (n >= 3 * (STRIDE)) {                                                 \
        uint32_t c1 = 0, c2 = 0;                                                \
        for (int i = 0; i < (STRIDE); i += 8) {                                 \
            c = __crc32cd(c, load_le64(p + i));                                 \
            c1 = __crc32cd(c1, load_le64(p + (STRIDE) + i));                    \
            c2 = __crc32cd(c2, load_le64(p + 2 * (STRIDE) + i));                \
        }                                                                       \
        c = crc_shift(c, SHIFT2) ^ crc_shift(c1, SHIFT1) ^ c2;                  \
        p += 3 * (STRIDE);                                                      \
        n -= 3 * (STRIDE);                                                      \
    }
    ARM_STREAMS(LONG_STRIDE, 4, 5)
    ARM_STREAMS(MID_STRIDE, 2, 3)
#undef ARM_STREAMS
    while (n >= 3 * 256) {
        uint32_t c1 = 0, c2 = 0;
        for (int i = 0; i < 256; i += 8) {
            c = __crc32cd(c, load_le64(p + i));
            c1 = __crc32cd(c1, load_le64(p + 256 + i));
            c2 = __crc32cd(c2, load_le64(p + 512 + i));
        }
        c = crc_shift(c, 1) ^ crc_shift(c1, 0) ^ c2;
        p += 3 * 256;
        n -= 3 * 256;
    }
    while (n >= 8) {
        c = __crc32cd(c, load_le64(p));
        p += 8;
        n -= 8;
    }
    while (n--)
        c = __crc32cb(c, *p++);
    return ~c;
}
#else
#define HAVE_HW_IMPL 0
#endif


/* ---- x86-64: carry-less multiplication folding (VPCLMULQDQ on 256 bits) ----
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

#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || \
                            (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#include <immintrin.h>
#define HAVE_FOLD_IMPL 1

/* x^m mod P, as a 32-bit reflected value (bit i is the coefficient of
 * x^(31-i)). */
static uint32_t xpow_mod(unsigned m) {
    uint32_t v = 0x80000000u; /* x^0 */
    while (m--)
        v = (v & 1) ? (v >> 1) ^ POLY : v >> 1;
    return v;
}

/* Multiplier pairs {lo, hi} for folding a lane forward by 16 << i bytes. */
#define FOLD_DISTANCES 6 /* 16 .. 512 */
static uint64_t fold_k[FOLD_DISTANCES][2];

static void build_fold_constants(void) {
    for (unsigned i = 0; i < FOLD_DISTANCES; i++) {
        unsigned dist = 16u << i;
        fold_k[i][0] = xpow_mod(8 * dist + 31);
        fold_k[i][1] = xpow_mod(8 * dist - 33);
    }
}

/* 2: 512-bit folding (AVX-512), 1: 256-bit (AVX2), 0: none. */
static int cpu_fold_width(void) {
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
        c = _mm_crc32_u64(c, load_le64(p));
        p += 8;
        n -= 8;
    }
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return c;
}

/* Eight 256-bit accumulators, 256 bytes per round; copies the bytes to d
 * on the way unless d is NULL. REQUIRES: n >= 256. */
FOLD_TARGET static WALX_INLINE uint32_t fold256_body(uint32_t crc, const uint8_t *p, uint8_t *d,
                                                     size_t n) {
    /* The running CRC enters the first lane. */
    __m256i a0 = _mm256_xor_si256(ld256(p, d, 0),
                                  _mm256_set_epi64x(0, 0, 0, (long long)(uint32_t)~crc));
    __m256i a1 = ld256(p, d, 32), a2 = ld256(p, d, 64), a3 = ld256(p, d, 96);
    __m256i a4 = ld256(p, d, 128), a5 = ld256(p, d, 160), a6 = ld256(p, d, 192);
    __m256i a7 = ld256(p, d, 224);
    p += 256;
    d = d ? d + 256 : NULL;
    n -= 256;
    __m256i k = kpair256(4);
    while (n >= 256) {
        a0 = fold256(a0, k, ld256(p, d, 0));
        a1 = fold256(a1, k, ld256(p, d, 32));
        a2 = fold256(a2, k, ld256(p, d, 64));
        a3 = fold256(a3, k, ld256(p, d, 96));
        a4 = fold256(a4, k, ld256(p, d, 128));
        a5 = fold256(a5, k, ld256(p, d, 160));
        a6 = fold256(a6, k, ld256(p, d, 192));
        a7 = fold256(a7, k, ld256(p, d, 224));
        p += 256;
        d = d ? d + 256 : NULL;
        n -= 256;
    }
    /* Each accumulator folds into the one that lies 128, 64, 32 bytes on. */
    k = kpair256(3);
    a0 = fold256(a0, k, a4);
    a1 = fold256(a1, k, a5);
    a2 = fold256(a2, k, a6);
    a3 = fold256(a3, k, a7);
    k = kpair256(2);
    a0 = fold256(a0, k, a2);
    a1 = fold256(a1, k, a3);
    a0 = fold256(a0, kpair256(1), a1);
    __m128i x = fold128(_mm256_castsi256_si128(a0), kpair128(0),
                        _mm256_extracti128_si256(a0, 1));
    return ~(uint32_t)fold_finish(x, p, d, n);
}

/* Eight 512-bit accumulators, 512 bytes per round. REQUIRES: n >= 512. */
FOLD512_TARGET static WALX_INLINE uint32_t fold512_body(uint32_t crc, const uint8_t *p,
                                                        uint8_t *d, size_t n) {
    __m512i a0 = _mm512_xor_si512(ld512(p, d, 0), _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0,
                                                                   (long long)(uint32_t)~crc));
    __m512i a1 = ld512(p, d, 64), a2 = ld512(p, d, 128), a3 = ld512(p, d, 192);
    __m512i a4 = ld512(p, d, 256), a5 = ld512(p, d, 320), a6 = ld512(p, d, 384);
    __m512i a7 = ld512(p, d, 448);
    p += 512;
    d = d ? d + 512 : NULL;
    n -= 512;
    __m512i k = kpair512(5);
    while (n >= 512) {
        a0 = fold512(a0, k, ld512(p, d, 0));
        a1 = fold512(a1, k, ld512(p, d, 64));
        a2 = fold512(a2, k, ld512(p, d, 128));
        a3 = fold512(a3, k, ld512(p, d, 192));
        a4 = fold512(a4, k, ld512(p, d, 256));
        a5 = fold512(a5, k, ld512(p, d, 320));
        a6 = fold512(a6, k, ld512(p, d, 384));
        a7 = fold512(a7, k, ld512(p, d, 448));
        p += 512;
        d = d ? d + 512 : NULL;
        n -= 512;
    }
    k = kpair512(4);
    a0 = fold512(a0, k, a4);
    a1 = fold512(a1, k, a5);
    a2 = fold512(a2, k, a6);
    a3 = fold512(a3, k, a7);
    k = kpair512(3);
    a0 = fold512(a0, k, a2);
    a1 = fold512(a1, k, a3);
    a0 = fold512(a0, kpair512(2), a1);
    /* 64 -> 32 -> 16 bytes. */
    __m256i y = fold256(_mm512_castsi512_si256(a0), kpair256(1),
                        _mm512_extracti64x4_epi64(a0, 1));
    __m128i x = fold128(_mm256_castsi256_si128(y), kpair128(0), _mm256_extracti128_si256(y, 1));
    return ~(uint32_t)fold_finish(x, p, d, n);
}

FOLD_TARGET static uint32_t crc_fold256(uint32_t crc, const uint8_t *p, size_t n) {
    return fold256_body(crc, p, NULL, n);
}

FOLD512_TARGET static uint32_t crc_fold512(uint32_t crc, const uint8_t *p, size_t n) {
    return fold512_body(crc, p, NULL, n);
}

FOLD_TARGET static uint32_t crc_fold256_copy(uint32_t crc, const uint8_t *p, uint8_t *d,
                                             size_t n) {
    return fold256_body(crc, p, d, n);
}

FOLD512_TARGET static uint32_t crc_fold512_copy(uint32_t crc, const uint8_t *p, uint8_t *d,
                                                size_t n) {
    return fold512_body(crc, p, d, n);
}

static int fold_width; /* 2: 512-bit, 1: 256-bit; set by init */

static uint32_t crc_fold(uint32_t crc, const uint8_t *p, size_t n) {
    /* Below a few hundred bytes the crc32 instruction streams win. */
    if (n >= 1024 && fold_width == 2)
        return crc_fold512(crc, p, n);
    if (n >= 512)
        return crc_fold256(crc, p, n);
    return crc_hw(crc, p, n);
}

static uint32_t crc_fold_copy(uint32_t crc, const uint8_t *p, uint8_t *d, size_t n) {
    if (n >= 1024 && fold_width == 2)
        return crc_fold512_copy(crc, p, d, n);
    if (n >= 512)
        return crc_fold256_copy(crc, p, d, n);
    if (n)
        memcpy(d, p, n);
    return crc_hw(crc, d, n);
}

#else
#define HAVE_FOLD_IMPL 0
#endif

/* ---- combining streams: multiply by x^(8*len) mod P, by tables ---- */

/* shift_table[w][k][b]: the effect of byte b at position k of a 32-bit
 * register advanced over shift_lengths[w] zero bytes. */
static uint32_t shift_table[6][4][256];

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    for (int i = 0; vec; i++, vec >>= 1)
        if (vec & 1)
            sum ^= mat[i];
    return sum;
}

static void gf2_square(uint32_t *sq, const uint32_t *mat) {
    for (int i = 0; i < 32; i++)
        sq[i] = gf2_times(mat, mat[i]);
}

/* Builds the matrix that advances a raw CRC register over `len` zero bytes
 * (zlib's crc32_combine construction, for the Castagnoli polynomial). */
static void zeros_operator(uint32_t *out, size_t len) {
    uint32_t odd[32], even[32];
    odd[0] = POLY;
    for (int i = 1; i < 32; i++)
        odd[i] = 1u << (i - 1);
    gf2_square(even, odd); /* 2 zero bits */
    gf2_square(odd, even); /* 4 zero bits */
    /* identity */
    for (int i = 0; i < 32; i++)
        out[i] = 1u << i;
    int first = 1;
    do {
        gf2_square(even, odd);
        if (len & 1) {
            uint32_t tmp[32];
            for (int i = 0; i < 32; i++)
                tmp[i] = first ? even[i] : gf2_times(even, out[i]);
            memcpy(out, tmp, sizeof tmp);
            first = 0;
        }
        len >>= 1;
        if (!len)
            break;
        gf2_square(odd, even);
        if (len & 1) {
            uint32_t tmp[32];
            for (int i = 0; i < 32; i++)
                tmp[i] = first ? odd[i] : gf2_times(odd, out[i]);
            memcpy(out, tmp, sizeof tmp);
            first = 0;
        }
        len >>= 1;
    } while (len);
}

static void build_shift_tables(void) {
    for (int w = 0; w < 6; w++) {
        uint32_t op[32];
        zeros_operator(op, shift_lengths[w]);
        for (int k = 0; k < 4; k++)
            for (uint32_t b = 0; b < 256; b++)
                shift_table[w][k][b] = gf2_times(op, b << (8 * k));
    }
}

static uint32_t crc_shift(uint32_t crc, int which) {
    const uint32_t (*t)[256] = shift_table[which];
    return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^
           t[3][crc >> 24];
}

/* ---- dispatch ---- */

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);
static crc_fn active = walx_crc32c_sw;
static const char *active_name = "software";
static int hw_ok;
static int fold_ok;

static int self_check(crc_fn f) {
    static const uint8_t check[] = "123456789";
    static uint8_t big[3 * LONG_STRIDE + 3 * MID_STRIDE + 3 * 256 + 37];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 131 + 7);
    if (f(0, check, 9) != 0xe3069283u)
        return 0;
    /* Every length class of every loop, at two alignments. */
    static const size_t lens[] = {0, 1, 7, 8, 15, 16, 255, 256, 511, 512, 513, 767,
                                  768, 1024, 1040, 4096, 4111, sizeof big - 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t a = 0; a < 2; a++)
            if (f(0x12345678u, big + a, lens[i]) != walx_crc32c_sw(0x12345678u, big + a, lens[i]))
                return 0;
    return 1;
}

void walx_crc32c_init(int mode) {
    if (!tables_ready)
        build_tables();
    build_shift_tables();
#if HAVE_HW_IMPL
    hw_ok = cpu_has_hw() && self_check(crc_hw);
#endif
#if HAVE_FOLD_IMPL
    if (hw_ok) {
        build_fold_constants();
        /* The widest kernel that passes; the 512-bit one also runs the
         * 256-bit one on shorter buffers, so a pass covers both. */
        for (int width = cpu_fold_width(); width > 0 && !fold_ok; width--) {
            fold_width = width;
            fold_ok = self_check(crc_fold);
        }
        if (!fold_ok)
            fold_width = 0;
    }
#endif
    active = walx_crc32c_sw;
    active_name = "software";
    if (mode == WALX_CRC_FORCE_SW || !hw_ok)
        return;
#if HAVE_HW_IMPL
    active = crc_hw;
    active_name = HW_NAME;
#endif
#if HAVE_FOLD_IMPL
    if (fold_ok && mode != WALX_CRC_NO_FOLD) {
        active = crc_fold;
        active_name = fold_width == 2 ? "vpclmulqdq-512" : "vpclmulqdq-256";
    }
#endif
}

const char *walx_crc32c_impl_name(void) { return active_name; }

int walx_crc32c_hw_available(void) { return hw_ok; }

int walx_crc32c_fold_available(void) { return fold_ok; }

uint32_t walx_crc32c_hw(uint32_t crc, const uint8_t *data, size_t n) {
#if HAVE_HW_IMPL
    if (hw_ok)
        return crc_hw(crc, data, n);
#endif
    return walx_crc32c_sw(crc, data, n);
}

uint32_t walx_crc32c_fold(uint32_t crc, const uint8_t *data, size_t n) {
#if HAVE_FOLD_IMPL
    if (fold_ok)
        return crc_fold(crc, data, n);
#endif
    return walx_crc32c_hw(crc, data, n);
}

uint32_t walx_crc32c_fold256(uint32_t crc, const uint8_t *data, size_t n) {
#if HAVE_FOLD_IMPL
    if (fold_ok && n >= 512)
        return crc_fold256(crc, data, n);
#endif
    return walx_crc32c_hw(crc, data, n);
}

int walx_crc32c_fold_width(void) {
#if HAVE_FOLD_IMPL
    return fold_ok ? 128 << fold_width : 0;
#else
    return 0;
#endif
}

uint32_t walx_crc32c_extend(uint32_t crc, const uint8_t *data, size_t n) {
    return active(crc, data, n);
}

uint32_t walx_crc32c_copy(uint32_t crc, uint8_t *dst, const uint8_t *src, size_t n) {
#if HAVE_FOLD_IMPL
    if (active == crc_fold)
        return crc_fold_copy(crc, src, dst, n);
#endif
    if (n)
        memcpy(dst, src, n);
    return active(crc, dst, n);
}
