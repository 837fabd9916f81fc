/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * Platform feature macros for the C core. Nothing else lives here. */
#ifndef WALX_PORT_H
#define WALX_PORT_H

#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__)
#define WALX_HAVE_FDATASYNC 1
#else
#define WALX_HAVE_FDATASYNC 0
#endif

#if defined(__APPLE__)
#define WALX_HAVE_FULLFSYNC 1
#else
#define WALX_HAVE_FULLFSYNC 0
#endif

#if defined(__linux__)
#define WALX_HAVE_FALLOCATE 1
#else
#define WALX_HAVE_FALLOCATE 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WALX_INLINE inline __attribute__((always_inline))
#define WALX_LIKELY(x) __builtin_expect(!!(x), 1)
#define WALX_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define WALX_INLINE inline
#define WALX_LIKELY(x) (x)
#define WALX_UNLIKELY(x) (x)
#endif

/* Debug-only checks and test hooks; 1 in the WALX_DEBUG=1 build profile. */
#ifndef WALX_DEBUG
#define WALX_DEBUG 0
#endif

#endif /* WALX_PORT_H */
