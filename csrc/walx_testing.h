/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * walx_testing.h: test hooks of the C core, compiled into the shipped
 * module so that tests exercise it as shipped, but no part of the library
 * (walx.h). Python reaches them through walx._testing only. */
#ifndef WALX_TESTING_H
#define WALX_TESTING_H

#include <stddef.h>
#include <stdint.h>

/* ---- Fault injection (walx_testing.c) ----
 * Disarmed by default: then each syscall wrapper pays one predictable
 * branch. Armed, the `nth` call (1-based, counted from arming) of `op`
 * fails with `-err`; for WALX_FAULT_WRITE, `short_write` instead makes that
 * call write half of its first piece (the loop must carry on). EINTR is
 * returned from the syscall itself, so the wrappers' retry loops are
 * exercised. Process-wide, not meant for concurrent arming. */
enum walx_fault_op {
    WALX_FAULT_OPEN = 0,
    WALX_FAULT_WRITE,
    WALX_FAULT_FDATASYNC,
    WALX_FAULT_FSYNC,
    WALX_FAULT_RENAME,
    WALX_FAULT_UNLINK,
    WALX_FAULT_FTRUNCATE,
    WALX_FAULT_FALLOCATE,
    WALX_FAULT_NOPS
};
void walx_fault_arm(int op, uint64_t nth, int err, int short_write);
void walx_fault_disarm(void);
/* Calls of `op` made since the last arm/disarm (counted while armed). */
uint64_t walx_fault_calls(int op);
/* Faults delivered since the last arm/disarm. */
uint64_t walx_fault_fired(void);

/* ---- Each CRC-32C kernel alone (walx_crc32c.c), whatever the dispatch
 * chose; a kernel the CPU lacks falls back to the next slower one. ---- */

uint32_t walx_crc32c_sw(uint32_t crc, const uint8_t *data, size_t n);
/* 1 if the CRC instructions exist and passed the self-check. */
int walx_crc32c_hw_available(void);
/* The CRC instructions alone; software when walx_crc32c_hw_available() is 0. */
uint32_t walx_crc32c_hw(uint32_t crc, const uint8_t *data, size_t n);
/* 1 if carry-less folding exists and passed the self-check. */
int walx_crc32c_fold_available(void);
/* Carry-less folding; walx_crc32c_hw when walx_crc32c_fold_available() is 0. */
uint32_t walx_crc32c_fold(uint32_t crc, const uint8_t *data, size_t n);
/* Bits per folding register (512 or 256), 0 without folding. */
int walx_crc32c_fold_width(void);
/* The 256-bit kernel even where 512 bits are available. */
uint32_t walx_crc32c_fold256(uint32_t crc, const uint8_t *data, size_t n);

#endif /* WALX_TESTING_H */
