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
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walx.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static int fstat_size(int fd, uint64_t *size) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int open_retry(const char *path, int flags, mode_t mode) {
    int fd;
    do {
        fd = open(path, flags, mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

int walx_open_append(const char *path, int *fd, uint64_t *size) {
    int f = open_retry(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
    if (f < 0)
        return f;
    int rc = fstat_size(f, size);
    if (rc < 0) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

int walx_open_read(const char *path, int *fd, uint64_t *size) {
    int f = open_retry(path, O_RDONLY | O_CLOEXEC, 0);
    if (f < 0)
        return f;
    int rc = fstat_size(f, size);
    if (rc < 0) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

int walx_create_new(const char *path, int *fd) {
    int f = open_retry(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
    if (f < 0)
        return f;
    uint64_t size = 0;
    int rc = fstat_size(f, &size);
    if (rc == 0 && size != 0)
        rc = -EEXIST;
    if (rc < 0) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

int walx_write_all(int fd, const uint8_t *data, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, data, n);
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

int walx_sync_fd(int fd, int data_only) {
#if WALX_HAVE_FULLFSYNC
    /* macOS fsync() does not flush the drive's cache; F_FULLFSYNC does.
     * Some filesystems reject it, and then fsync() is the best there is. */
    (void)data_only;
    if (fcntl(fd, F_FULLFSYNC) == 0)
        return 0;
#elif WALX_HAVE_FDATASYNC
    if (data_only)
        return fdatasync(fd) == 0 ? 0 : -errno;
#else
    (void)data_only;
#endif
    return fsync(fd) == 0 ? 0 : -errno;
}

int walx_sync_dir(const char *dir) {
    int f = open_retry(dir, O_RDONLY | O_CLOEXEC, 0);
    if (f < 0)
        return f;
    int rc = fsync(f) == 0 ? 0 : -errno;
    close(f);
    return rc;
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
        rc = ftruncate(fd, (off_t)size);
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

int walx_fallocate(int fd, uint64_t size) {
#if WALX_HAVE_FALLOCATE
    /* KEEP_SIZE: the space is reserved but the file size is unchanged, so
     * readers see no zero fill and fdatasync need not update the size. */
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) == 0)
        return 0;
    return -errno;
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

int walx_writer_maybe_flush(walx_writer *w) {
    return w->buf_len >= w->flush_at ? walx_writer_flush(w) : 0;
}

int walx_writer_add(walx_writer *w, const uint8_t *data, size_t n, uint64_t *offset) {
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
            size_t hs = w->recyclable ? WALX_RECYCLABLE_HEADER_SIZE : WALX_HEADER_SIZE;
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
