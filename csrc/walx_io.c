/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * Syscalls only (leveldb util/env_posix.cc is the model). Every function
 * returns 0 or -errno, with errno captured on the failing line. The writer
 * functions at the end move bytes that walx_format.c framed into a
 * caller-owned buffer to the file. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "walx.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* ---- fault injection ---- */

static int fault_armed;
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
    __atomic_store_n(&fault_armed, 1, __ATOMIC_RELEASE);
}

void walx_fault_disarm(void) {
    __atomic_store_n(&fault_armed, 0, __ATOMIC_RELEASE);
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

/* 0: go ahead; 1: shorten this write; -err: fail this call. */
static int fault_check(int op) {
    if (WALX_LIKELY(!__atomic_load_n(&fault_armed, __ATOMIC_ACQUIRE)))
        return 0;
    uint64_t n = __atomic_add_fetch(&fault_calls[op], 1, __ATOMIC_RELAXED);
    if (op != fault_op || n != fault_nth)
        return 0;
    __atomic_add_fetch(&fault_fired, 1, __ATOMIC_RELAXED);
    if (op == WALX_FAULT_WRITE && fault_short)
        return 1;
    return -fault_err;
}

#define FAULT_OR(op, call, failed)                                            \
    do {                                                                       \
        int f_ = fault_check(op);                                              \
        if (f_ < 0) {                                                          \
            errno = -f_;                                                       \
            failed;                                                            \
        } else {                                                               \
            call;                                                              \
        }                                                                      \
    } while (0)

static int fstat_size(int fd, uint64_t *size) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
        return -WALX_ENOTFILE;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int open_retry(const char *path, int flags, mode_t mode) {
    int fd;
    do {
        FAULT_OR(WALX_FAULT_OPEN, fd = open(path, flags, mode), fd = -1);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

/* Opens `path` and reads its size; a directory is -EISDIR, a FIFO or a
 * socket -WALX_ENOTFILE. O_NONBLOCK keeps the open of a FIFO from waiting
 * for its other end; it is cleared once the file is known to be usable. */
static int open_sized(const char *path, int flags, mode_t mode, int *fd, uint64_t *size) {
    int f = open_retry(path, flags | O_CLOEXEC | O_NONBLOCK, mode);
    if (f == -ENXIO) {
        /* A FIFO opened for writing with no reader, or a socket. */
        struct stat st;
        if (stat(path, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
            return -WALX_ENOTFILE;
    }
    if (f < 0)
        return f;
    int rc = fstat_size(f, size);
    if (rc == 0) {
        int fl = fcntl(f, F_GETFL);
        if (fl == -1 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0)
            rc = -errno;
    }
    if (rc < 0) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

int walx_open_append(const char *path, int *fd, uint64_t *size) {
    return open_sized(path, O_CREAT | O_WRONLY | O_APPEND, 0644, fd, size);
}

int walx_open_read(const char *path, int *fd, uint64_t *size) {
    return open_sized(path, O_RDONLY, 0, fd, size);
}

int walx_create_new(const char *path, int *fd) {
    uint64_t size = 0;
    int f = -1;
    int rc = open_sized(path, O_CREAT | O_WRONLY | O_APPEND, 0644, &f, &size);
    if (rc < 0)
        return rc;
    if (size != 0) {
        close(f);
        return -EEXIST;
    }
    *fd = f;
    return 0;
}

int walx_write_all(int fd, const uint8_t *data, size_t n) {
    while (n > 0) {
        ssize_t w;
        int f = fault_check(WALX_FAULT_WRITE);
        if (WALX_UNLIKELY(f < 0)) {
            errno = -f;
            w = -1;
        } else {
            w = write(fd, data, f == 1 && n > 1 ? n / 2 : n);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO; /* no progress and no errno: leveldb treats it as an error */
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

int walx_read_full(int fd, uint8_t *dst, size_t n, size_t *got) {
    size_t total = 0;
    while (total < n) {
        ssize_t r = read(fd, dst + total, n - total);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        total += (size_t)r;
    }
    *got = total;
    return 0;
}

int walx_pread_full(int fd, uint8_t *dst, size_t n, uint64_t offset, size_t *got) {
    size_t total = 0;
    while (total < n) {
        ssize_t r = pread(fd, dst + total, n - total, (off_t)(offset + total));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        total += (size_t)r;
    }
    *got = total;
    return 0;
}

static int sync_once(int fd, int data_only) {
    int rc;
#if WALX_HAVE_FULLFSYNC
    /* macOS fsync() does not flush the drive's cache; F_FULLFSYNC does.
     * Some filesystems reject it, and then fsync() is the best there is. */
    (void)data_only;
    FAULT_OR(WALX_FAULT_FSYNC, rc = fcntl(fd, F_FULLFSYNC), rc = -1);
    if (rc == 0 || errno == EINTR || errno == EIO || errno == ENOSPC)
        return rc;
#elif WALX_HAVE_FDATASYNC
    if (data_only) {
        FAULT_OR(WALX_FAULT_FDATASYNC, rc = fdatasync(fd), rc = -1);
        return rc;
    }
#else
    (void)data_only;
#endif
    FAULT_OR(WALX_FAULT_FSYNC, rc = fsync(fd), rc = -1);
    return rc;
}

int walx_sync_fd(int fd, int data_only) {
    int rc;
    /* EINTR means the call did not complete, so calling again is sound.
     * Any other failure is final: after EIO the kernel may have dropped the
     * dirty pages and a second fsync would report a false success. */
    do {
        rc = sync_once(fd, data_only);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : -errno;
}

int walx_sync_dir(const char *dir) {
    int f = open_retry(dir, O_RDONLY | O_CLOEXEC, 0);
    if (f < 0)
        return f;
    int rc;
    do {
        FAULT_OR(WALX_FAULT_FSYNC, rc = fsync(f), rc = -1);
    } while (rc != 0 && errno == EINTR);
    rc = rc == 0 ? 0 : -errno;
    close(f);
    return rc;
}

int walx_open_overwrite(const char *path, int *fd, uint64_t *size) {
    /* No O_APPEND and no O_TRUNC: writes start at offset 0 and replace the
     * old bytes in place, so fdatasync need not update the file size. */
    return open_sized(path, O_WRONLY, 0, fd, size);
}

int walx_rename(const char *from, const char *to) {
    int rc;
    do {
        FAULT_OR(WALX_FAULT_RENAME, rc = rename(from, to), rc = -1);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : -errno;
}

int walx_unlink(const char *path) {
    int rc;
    do {
        FAULT_OR(WALX_FAULT_UNLINK, rc = unlink(path), rc = -1);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : -errno;
}

int walx_close(int fd) {
    /* Linux closes the descriptor even when close() fails (also on EINTR),
     * so a failed close is reported but never retried. */
    return close(fd) == 0 ? 0 : -errno;
}

int walx_fstat_size(int fd, uint64_t *size) { return fstat_size(fd, size); }

int walx_ftruncate(int fd, uint64_t size) {
    int rc;
    do {
        FAULT_OR(WALX_FAULT_FTRUNCATE, rc = ftruncate(fd, (off_t)size), rc = -1);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : -errno;
}

int walx_lock_file(const char *path, int *fd) {
    int f = open_retry(path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (f < 0)
        return f;
    /* flock locks belong to the open file description, so a second open in
     * the same process conflicts too (fcntl locks would not). */
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        return -e;
    }
    *fd = f;
    return 0;
}

int walx_unlock_file(int fd) {
    int rc = flock(fd, LOCK_UN) == 0 ? 0 : -errno;
    int rc2 = walx_close(fd);
    return rc ? rc : rc2;
}

int walx_fallocate(int fd, uint64_t size) {
#if WALX_HAVE_FALLOCATE
    /* Mode 0: the file becomes `size` bytes that read as zeros. Writers
     * then overwrite from offset 0, so appends do not grow the file and
     * fdatasync need not log a new size; readers stop at the zero fill. */
    int rc;
    do {
        FAULT_OR(WALX_FAULT_FALLOCATE, rc = fallocate(fd, 0, 0, (off_t)size), rc = -1);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : -errno;
#else
    (void)fd;
    (void)size;
    return -EOPNOTSUPP;
#endif
}

/* ---- writer ---- */

int walx_writer_flush(walx_writer *w) {
    if (w->buf_len == 0)
        return 0;
    /* After a failure the caller poisons the writer: how much of the buffer
     * reached the file is unknown, and a crash leaves at most a torn record
     * at the tail, which readers drop. */
    int rc = walx_write_all(w->fd, w->buf, w->buf_len);
    if (rc == 0)
        w->buf_len = 0;
    return rc;
}

/* writev(2) until every byte is written; consumes `iov`. */
static int writev_all(int fd, struct iovec *iov, int cnt) {
    while (cnt > 0) {
        ssize_t w;
        int f = fault_check(WALX_FAULT_WRITE);
        if (WALX_UNLIKELY(f < 0)) {
            errno = -f;
            w = -1;
        } else if (WALX_UNLIKELY(f == 1) && iov[0].iov_len > 1) {
            w = write(fd, iov[0].iov_base, iov[0].iov_len / 2); /* a short write */
        } else {
            w = writev(fd, iov, cnt);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        size_t done = (size_t)w;
        while (cnt > 0 && done >= iov[0].iov_len) {
            done -= iov[0].iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov[0].iov_base = (uint8_t *)iov[0].iov_base + done;
            iov[0].iov_len -= done;
        }
    }
    return 0;
}

/* Fragments one direct write covers: 31 full blocks, ~1 MB. */
#define DIRECT_FRAGS 32

int walx_writer_add_direct(walx_writer *w, const uint8_t *data, size_t n,
                           uint64_t *offset) {
    static const uint8_t zeros[WALX_RECYCLABLE_HEADER_SIZE];
    uint8_t headers[DIRECT_FRAGS * WALX_RECYCLABLE_HEADER_SIZE];
    size_t frag_len[DIRECT_FRAGS];
    struct iovec iov[1 + 2 * DIRECT_FRAGS];
    size_t pad = 0;
    if (w->buf_len)
        return 1;
    uint32_t off = w->block_offset;
    size_t frags = walx_frame_plan(&off, w->recyclable, w->log_number, data, n, &pad,
                                   headers, frag_len, DIRECT_FRAGS);
    if (frags == 0)
        return 1;
    size_t hs = w->recyclable ? WALX_RECYCLABLE_HEADER_SIZE : WALX_HEADER_SIZE;
    int cnt = 0;
    size_t total = pad, pos = 0;
    if (pad)
        iov[cnt++] = (struct iovec){(void *)zeros, pad};
    for (size_t i = 0; i < frags; i++) {
        iov[cnt++] = (struct iovec){headers + i * hs, hs};
        if (frag_len[i])
            iov[cnt++] = (struct iovec){(void *)(data + pos), frag_len[i]};
        pos += frag_len[i];
        total += hs + frag_len[i];
    }
    /* As with a buffered write, a failure leaves an unknown prefix of the
     * record in the file: the caller poisons the writer. */
    int rc = writev_all(w->fd, iov, cnt);
    if (rc < 0)
        return rc;
    *offset = w->size + pad;
    w->size += total;
    w->block_offset = off;
    return 0;
}

int walx_writer_maybe_flush(walx_writer *w) {
    return w->buf_len >= w->flush_at ? walx_writer_flush(w) : 0;
}

int walx_writer_add(walx_writer *w, const uint8_t *data, size_t n, uint64_t *offset) {
    size_t hs = w->recyclable ? WALX_RECYCLABLE_HEADER_SIZE : WALX_HEADER_SIZE;
    /* Written as n <= room - hs so that no sum can wrap for a huge n. */
    if (WALX_LIKELY(WALX_BLOCK_SIZE - w->block_offset >= hs &&
                    n <= WALX_BLOCK_SIZE - w->block_offset - hs &&
                    w->buf_cap - w->buf_len >= hs && n <= w->buf_cap - w->buf_len - hs)) {
        /* The common case: one FULL fragment in the current block. */
        walx_frame_full(w->buf + w->buf_len, w->recyclable, w->log_number, data, n);
        *offset = w->size;
        w->buf_len += hs + n;
        w->size += hs + n;
        w->block_offset += (uint32_t)(hs + n);
        if (w->block_offset == WALX_BLOCK_SIZE)
            w->block_offset = 0;
        return 0;
    }
    size_t done = 0;
    int started = 0;
    uint64_t start = w->size;
    int first = 1;
    while (!started || done < n) {
        uint32_t before = w->block_offset;
        size_t room = w->buf_cap - w->buf_len;
        size_t k = walx_frame_some(&w->block_offset, w->recyclable, w->log_number,
                                   data, n, &done, &started, w->buf + w->buf_len,
                                   room);
        if (k == 0) {
            /* The next fragment does not fit: hand the buffer over. A crash
             * after this write leaves the record's first fragments on disk
             * without its last one, which readers drop as a torn tail. */
            int rc = walx_writer_flush(w);
            if (rc < 0)
                return rc;
            continue;
        }
        if (first) {
            /* The record starts after any trailer padding. */
            if (WALX_BLOCK_SIZE - before < hs)
                start += WALX_BLOCK_SIZE - before;
            first = 0;
        }
        w->buf_len += k;
        w->size += k;
    }
    *offset = start;
    return 0;
}
