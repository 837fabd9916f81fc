/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * walx_fault.h: internal to the C core. How the syscall wrappers
 * (walx_io.c) ask the fault hooks of walx_testing.c whether to fail. */
#ifndef WALX_FAULT_H
#define WALX_FAULT_H

#include "walx_port.h"
#include "walx_testing.h"

/* Nonzero while a fault is armed; written by walx_fault_arm/disarm only. */
extern int walx_fault_armed;

/* The armed case of walx_fault_check. */
int walx_fault_hit(int op);

/* 0: go ahead; 1: shorten this write; -err: fail this call. Disarmed, one
 * load and one predictable branch. */
static WALX_INLINE int walx_fault_check(int op) {
    if (WALX_LIKELY(!__atomic_load_n(&walx_fault_armed, __ATOMIC_ACQUIRE)))
        return 0;
    return walx_fault_hit(op);
}

#endif /* WALX_FAULT_H */
