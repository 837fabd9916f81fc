/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * walx_crc32c_impl.h: internal to the C core. What walx_crc32c.c (the
 * dispatch) and walx_crc32c_fold.c (the folding kernels) share. */
#ifndef WALX_CRC32C_IMPL_H
#define WALX_CRC32C_IMPL_H

#include <string.h>

#include "walx.h"

#define WALX_CRC_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static WALX_INLINE uint64_t walx_load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Carry-less folding needs x86-64 and a compiler that knows VPCLMULQDQ. */
#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || \
                            (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#define WALX_HAVE_FOLD_IMPL 1

/* 2: the CPU can fold 512 bits at a time (AVX-512), 1: 256 bits (AVX2),
 * 0: not at all. */
int walx_fold_cpu_width(void);
/* Computes the folding constants; before any kernel runs. */
void walx_fold_build_constants(void);
/* The raw kernels: the CRC of p[0..n) extended from `crc`, and with _copy
 * the bytes copied to d in the same pass (the CRC is of the copy). Only on
 * a CPU of that width. REQUIRES: n >= 256 (256-bit) or n >= 512 (512-bit). */
uint32_t walx_fold256(uint32_t crc, const uint8_t *p, size_t n);
uint32_t walx_fold512(uint32_t crc, const uint8_t *p, size_t n);
uint32_t walx_fold256_copy(uint32_t crc, const uint8_t *p, uint8_t *d, size_t n);
uint32_t walx_fold512_copy(uint32_t crc, const uint8_t *p, uint8_t *d, size_t n);
#else
#define WALX_HAVE_FOLD_IMPL 0
#endif

#endif /* WALX_CRC32C_IMPL_H */
