/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * The syscall floor of the write scenarios (S1-S4): what write(2), and
 * with sync_each fdatasync(2), cost with no framing, no CRC and no Python.
 * conftest.py compiles this file with the system compiler ($CC or cc) into
 * a shared library in a temporary directory and calls it through ctypes,
 * which releases the GIL for the whole loop. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* write(2) all `len` bytes of `buf`, retrying on EINTR and short writes;
 * then, with `sync_each`, fdatasync(2). 0 or -errno. */
static int put(int fd, const char *buf, long len, int sync_each) {
    long off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, (size_t)(len - off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += w;
    }
    return sync_each && fdatasync(fd) != 0 ? -errno : 0;
}

/* Creates `path` (truncating it), writes the `len` bytes of `buf` `n`
 * times, one write(2) per record, and closes it. With `sync_each`,
 * fdatasync(2) follows every write. When `lat_ns` is not NULL, the
 * duration of record i's write (+ fdatasync) goes to lat_ns[i], for the
 * latency percentiles. Returns 0 or -errno. */
int walx_bench_write_loop(const char *path, const char *buf, long len, long n,
                          int sync_each, long long *lat_ns) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    for (long i = 0; i < n; i++) {
        long long t0 = lat_ns ? now_ns() : 0;
        int rc = put(fd, buf, len, sync_each);
        if (rc) {
            close(fd);
            return rc;
        }
        if (lat_ns)
            lat_ns[i] = now_ns() - t0;
    }
    return close(fd) == 0 ? 0 : -errno;
}
