/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * Syscalls only (leveldb util/env_posix.cc is the model). Every function
 * returns 0 or -errno, with errno captured on the failing line. Each
 * wrapper asks walx_fault_check (walx_fault.h) first, so tests can make
 * any call fail. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "walx.h"
#include "walx_fault.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* Runs `call`, or sets errno and runs `failed` when a fault is armed for
 * this call of `op`. */
#define FAULT_OR(op, call, failed)                                            \
    do {                                                                       \
        int f_ = walx_fault_check(op);                                              \
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
    struct iovec one = {(void *)data, n};
    return walx_writev_all(fd, &one, 1);
}

int walx_writev_all(int fd, struct iovec *iov, int cnt) {
    for (;;) {
        while (cnt > 0 && iov[0].iov_len == 0) { /* written, or empty */
            iov++;
            cnt--;
        }
        if (cnt == 0)
            return 0;
        ssize_t w;
        int f = walx_fault_check(WALX_FAULT_WRITE);
        if (WALX_UNLIKELY(f < 0)) {
            errno = -f;
            w = -1;
        } else if (cnt == 1 || WALX_UNLIKELY(f == 1)) {
            /* One piece: write(2) costs less in the kernel than writev.
             * An injected short write covers half of the first piece. */
            size_t len = iov[0].iov_len;
            w = write(fd, iov[0].iov_base, f == 1 && len > 1 ? len / 2 : len);
        } else {
            w = writev(fd, iov, cnt);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO; /* no progress and no errno: leveldb treats it as an error */
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
