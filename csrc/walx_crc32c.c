/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * CRC-32C (Castagnoli): software slicing-by-8, SSE4.2 on x86-64, the ARMv8
 * CRC32 instructions on aarch64, and a dispatch chosen once and
 * self-checked (leveldb util/crc32c.cc CanAccelerateCRC32C) that also
 * picks the carry-less folding kernels of walx_crc32c_fold.c. */
#include <string.h>

#include "walx.h"
#include "walx_crc32c_impl.h"
#include "walx_testing.h"

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
            c = (c & 1) ? (c >> 1) ^ WALX_CRC_POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    tables_ready = 1;
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
        uint64_t v = walx_load_le64(p) ^ c;
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

/* The body of both hardware kernels: three independent streams of STRIDE
 * bytes hide the CRC instruction's 3-cycle latency (CRC64: the 8-byte
 * instruction, T: its register type), and shift_table's zero-run operators
 * (SHIFT1: one stride, SHIFT2: two) combine them; long strides make the
 * combining step rare. */
#define CRC_STREAMS(CRC64, T, STRIDE, SHIFT1, SHIFT2)                                    \
    while (n >= 3 * (size_t)(STRIDE)) {                                                  \
        T c1 = 0, c2 = 0;                                                                \
        for (int i = 0; i < (STRIDE); i += 8) {                                          \
            c = CRC64(c, walx_load_le64(p + i));                                         \
            c1 = CRC64(c1, walx_load_le64(p + (STRIDE) + i));                            \
            c2 = CRC64(c2, walx_load_le64(p + 2 * (STRIDE) + i));                        \
        }                                                                                \
        c = crc_shift((uint32_t)c, SHIFT2) ^ crc_shift((uint32_t)c1, SHIFT1) ^ (uint32_t)c2; \
        p += 3 * (STRIDE);                                                               \
        n -= 3 * (STRIDE);                                                               \
    }

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
    CRC_STREAMS(_mm_crc32_u64, uint64_t, LONG_STRIDE, 4, 5)
    CRC_STREAMS(_mm_crc32_u64, uint64_t, MID_STRIDE, 2, 3)
    CRC_STREAMS(_mm_crc32_u64, uint64_t, 256, 0, 1)
    while (n >= 8) {
        c = _mm_crc32_u64(c, walx_load_le64(p));
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
    CRC_STREAMS(__crc32cd, uint32_t, LONG_STRIDE, 4, 5)
    CRC_STREAMS(__crc32cd, uint32_t, MID_STRIDE, 2, 3)
    CRC_STREAMS(__crc32cd, uint32_t, 256, 0, 1)
    while (n >= 8) {
        c = __crc32cd(c, walx_load_le64(p));
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

/* ---- x86-64: carry-less multiplication folding (walx_crc32c_fold.c) ---- */

#if WALX_HAVE_FOLD_IMPL
static int fold_width; /* 2: 512-bit, 1: 256-bit; set by init */

static uint32_t crc_fold(uint32_t crc, const uint8_t *p, size_t n) {
    /* Below a few hundred bytes the crc32 instruction streams win. */
    if (n >= 1024 && fold_width == 2)
        return walx_fold512(crc, p, n);
    if (n >= 512)
        return walx_fold256(crc, p, n);
    return crc_hw(crc, p, n);
}

static uint32_t crc_fold_copy(uint32_t crc, const uint8_t *p, uint8_t *d, size_t n) {
    if (n >= 1024 && fold_width == 2)
        return walx_fold512_copy(crc, p, d, n);
    if (n >= 512)
        return walx_fold256_copy(crc, p, d, n);
    if (n)
        memcpy(d, p, n);
    return crc_hw(crc, d, n);
}

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
    odd[0] = WALX_CRC_POLY;
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
#if WALX_HAVE_FOLD_IMPL
    if (hw_ok) {
        walx_fold_build_constants();
        /* The widest kernel that passes; the 512-bit one also runs the
         * 256-bit one on shorter buffers, so a pass covers both. */
        for (int width = walx_fold_cpu_width(); width > 0 && !fold_ok; width--) {
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
#if WALX_HAVE_FOLD_IMPL
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
#if WALX_HAVE_FOLD_IMPL
    if (fold_ok)
        return crc_fold(crc, data, n);
#endif
    return walx_crc32c_hw(crc, data, n);
}

uint32_t walx_crc32c_fold256(uint32_t crc, const uint8_t *data, size_t n) {
#if WALX_HAVE_FOLD_IMPL
    if (fold_ok && n >= 512)
        return walx_fold256(crc, data, n);
#endif
    return walx_crc32c_hw(crc, data, n);
}

int walx_crc32c_fold_width(void) {
#if WALX_HAVE_FOLD_IMPL
    return fold_ok ? 128 << fold_width : 0;
#else
    return 0;
#endif
}

uint32_t walx_crc32c_extend(uint32_t crc, const uint8_t *data, size_t n) {
    return active(crc, data, n);
}

uint32_t walx_crc32c_copy(uint32_t crc, uint8_t *dst, const uint8_t *src, size_t n) {
#if WALX_HAVE_FOLD_IMPL
    if (active == crc_fold)
        return crc_fold_copy(crc, src, dst, n);
#endif
    if (n)
        memcpy(dst, src, n);
    return active(crc, dst, n);
}
