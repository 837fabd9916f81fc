/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * Fault injection for tests (walx_testing.h): the syscall wrappers of
 * walx_io.c ask walx_fault_check (walx_fault.h) before each call. */
#include "walx_fault.h"

int walx_fault_armed;
static int fault_op = -1;
static uint64_t fault_nth;
static int fault_err;
static int fault_short;
static uint64_t fault_calls[WALX_FAULT_NOPS];
static uint64_t fault_fired;

void walx_fault_arm(int op, uint64_t nth, int err, int short_write) {
    walx_fault_disarm();
    if (op < 0 || op >= WALX_FAULT_NOPS)
        return;
    fault_op = op;
    fault_nth = nth;
    fault_err = err;
    fault_short = short_write;
    /* Release: a wrapper that sees the flag also sees the settings. */
    __atomic_store_n(&walx_fault_armed, 1, __ATOMIC_RELEASE);
}

void walx_fault_disarm(void) {
    __atomic_store_n(&walx_fault_armed, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < WALX_FAULT_NOPS; i++)
        __atomic_store_n(&fault_calls[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fault_fired, 0, __ATOMIC_RELAXED);
    fault_op = -1;
}

uint64_t walx_fault_calls(int op) {
    return (op >= 0 && op < WALX_FAULT_NOPS)
               ? __atomic_load_n(&fault_calls[op], __ATOMIC_RELAXED)
               : 0;
}

uint64_t walx_fault_fired(void) { return __atomic_load_n(&fault_fired, __ATOMIC_RELAXED); }

int walx_fault_hit(int op) {
    uint64_t n = __atomic_add_fetch(&fault_calls[op], 1, __ATOMIC_RELAXED);
    if (op != fault_op || n != fault_nth)
        return 0;
    __atomic_add_fetch(&fault_fired, 1, __ATOMIC_RELAXED);
    if (op == WALX_FAULT_WRITE && fault_short)
        return 1;
    return -fault_err;
}
