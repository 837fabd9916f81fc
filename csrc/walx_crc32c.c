/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * CRC-32C (Castagnoli): software slicing-by-8, SSE4.2 on x86-64, the ARMv8
 * CRC32 instructions on aarch64, and a dispatch chosen once and
 * self-checked (leveldb util/crc32c.cc CanAccelerateCRC32C). */
#include <string.h>

#include "walx.h"

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
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
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
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
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

static int self_check(crc_fn f) {
    static const uint8_t check[] = "123456789";
    static uint8_t big[3 * LONG_STRIDE + 3 * MID_STRIDE + 3 * 256 + 37];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 131 + 7);
    return f(0, check, 9) == 0xe3069283u &&
           f(0, big, sizeof big) == walx_crc32c_sw(0, big, sizeof big) &&
           f(0, big + 1, sizeof big - 1) == walx_crc32c_sw(0, big + 1, sizeof big - 1);
}

void walx_crc32c_init(int force_sw) {
    if (!tables_ready)
        build_tables();
    build_shift_tables();
#if HAVE_HW_IMPL
    hw_ok = cpu_has_hw() && self_check(crc_hw);
#endif
    if (hw_ok && !force_sw) {
#if HAVE_HW_IMPL
        active = crc_hw;
        active_name = HW_NAME;
#endif
    } else {
        active = walx_crc32c_sw;
        active_name = "software";
    }
}

const char *walx_crc32c_impl_name(void) { return active_name; }

int walx_crc32c_hw_available(void) { return hw_ok; }

uint32_t walx_crc32c_hw(uint32_t crc, const uint8_t *data, size_t n) {
#if HAVE_HW_IMPL
    if (hw_ok)
        return crc_hw(crc, data, n);
#endif
    return walx_crc32c_sw(crc, data, n);
}

uint32_t walx_crc32c_extend(uint32_t crc, const uint8_t *data, size_t n) {
    return active(crc, data, n);
}
