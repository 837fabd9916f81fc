/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * The writer: appends records to a file through the framer (walx_frame.c)
 * and the syscall wrappers (walx_io.c). A record is either copied into the
 * caller-owned buffer in the CRC pass and handed to the OS with write(2)
 * when the buffer fills or the caller flushes, or, when it is large and
 * stable, written in place with writev(2). Either way the file receives the
 * same bytes. No allocation; the caller serialises calls on one writer. */
#include "walx.h"

/* Fragments framed per writev(2) of a record written in place: 32 cover 31
 * full blocks, about 1 MiB. */
#define IN_PLACE_FRAGS 32

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

/* Frames the rest of f into the buffer, handing the buffer to the OS
 * whenever the next fragment does not fit. The common case, a small record,
 * is one CRC+copy pass and no syscall. A crash after a mid-record flush
 * leaves the record's first fragments on disk without its last one, which
 * readers drop as a torn tail. Progress is certain: an empty buffer of
 * WALX_WRITER_MIN_BUFFER bytes holds any fragment and its trailer. */
static int add_copied(walx_writer *w, walx_framer *f) {
    for (;;) {
        size_t k = walx_frame_emit(f, w->buf + w->buf_len, w->buf_cap - w->buf_len);
        w->buf_len += k;
        w->size += k;
        if (walx_framer_done(f))
            return 0;
        int rc = walx_writer_flush(w);
        if (rc < 0)
            return rc;
    }
}

/* Writes the rest of f in place: the buffered bytes (records framed before
 * it in the same batch) and up to IN_PLACE_FRAGS fragments of f per
 * writev(2), the payload straight from the caller's memory, which must not
 * change until this returns (its CRCs are computed before the write). */
static int add_in_place(walx_writer *w, walx_framer *f) {
    uint8_t headers[IN_PLACE_FRAGS * WALX_RECYCLABLE_HEADER_SIZE];
    struct iovec iov[1 + WALX_FRAME_IOV_MAX(IN_PLACE_FRAGS)];
    while (!walx_framer_done(f)) {
        int cnt = 0, k = 0;
        if (w->buf_len)
            iov[cnt++] = (struct iovec){w->buf, w->buf_len};
        size_t bytes = walx_frame_emit_iov(f, headers, iov + cnt, IN_PLACE_FRAGS, &k);
        int rc = walx_writev_all(w->fd, iov, cnt + k);
        if (rc < 0)
            return rc;
        w->buf_len = 0;
        w->size += bytes;
    }
    return 0;
}

int walx_writer_add(walx_writer *w, const uint8_t *data, size_t n, int stable,
                    uint64_t *offset) {
    walx_framer f;
    walx_framer_init(&f, w->block_offset, w->recyclable, w->log_number, data, n);
    uint64_t start = w->size;
    /* In place only in write-through mode: a buffered writer promises to
     * hand bytes over only once flush_at of them are buffered. */
    int rc = stable && w->flush_at == 1 && n >= WALX_WRITER_IN_PLACE_MIN
                 ? add_in_place(w, &f)
                 : add_copied(w, &f);
    if (rc < 0)
        return rc;
    w->block_offset = f.block_offset;
    *offset = start + f.lead;
    return 0;
}
