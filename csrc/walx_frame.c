/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * The framer: the one place that cuts a logical record into physical
 * records, chooses their types and packs their headers (docs/format.md,
 * "Writing a logical record"). leveldb db/log_writer.cc is the model: one
 * fragmenting step (next_fragment, its AddRecord loop body) and one
 * emitter (emit_fragment, its EmitPhysicalRecord); the buffer and iovec
 * emitters only place what they produce. Pure: no syscalls, no allocation. */
#include <string.h>

#include "walx.h"

/* Zero bytes for block trailers, which are always shorter than a header. */
static const uint8_t zeros[WALX_RECYCLABLE_HEADER_SIZE];

/* One physical record to emit next. */
typedef struct fragment {
    size_t pad;    /* block trailer (zero bytes) before its header */
    size_t len;    /* payload bytes it carries */
    uint32_t type; /* its record type */
} fragment;

static WALX_INLINE size_t header_size(int recyclable) {
    return recyclable ? WALX_RECYCLABLE_HEADER_SIZE : WALX_HEADER_SIZE;
}

/* The next fragment of `f`. A block with less room than a header left
 * gets a zero trailer and the fragment starts the next block; a fragment
 * carries as much of the rest as its block holds, so every fragment but a
 * record's last fills its block exactly (and only a record's first can
 * need a trailer). With exactly a header's room left, a non-empty record
 * starts with a zero-length FIRST. REQUIRES: !walx_framer_done(f). */
static WALX_INLINE fragment next_fragment(const walx_framer *f) {
    const size_t hs = header_size(f->recyclable);
    size_t left = WALX_BLOCK_SIZE - f->block_offset;
    fragment fr;
    fr.pad = left < hs ? left : 0;
    if (fr.pad)
        left = WALX_BLOCK_SIZE;
    size_t rest = f->n - f->done;
    fr.len = rest < left - hs ? rest : left - hs;
    int first = !f->started, last = fr.len == rest;
    uint32_t t = first && last ? WALX_FULL : first ? WALX_FIRST : last ? WALX_LAST : WALX_MIDDLE;
    fr.type = f->recyclable ? t + (WALX_RECYCLABLE_FULL - WALX_FULL) : t;
    return fr;
}

/* Packs fragment `fr`'s header at h and checksums its payload: copied to
 * `dst` in the same pass when dst is not NULL (the CRC is then of the copy,
 * so a source that changes meanwhile cannot make them disagree), else read
 * in place. Advances f past the fragment; returns where its payload is. */
static WALX_INLINE const uint8_t *emit_fragment(walx_framer *f, const fragment *fr, uint8_t *h,
                                                uint8_t *dst) {
    const size_t hs = header_size(f->recyclable);
    /* No pointer arithmetic on an empty record's NULL data. */
    const uint8_t *src = fr->len ? f->data + f->done : f->data;
    h[4] = (uint8_t)fr->len;
    h[5] = (uint8_t)(fr->len >> 8);
    h[6] = (uint8_t)fr->type;
    if (f->recyclable)
        walx_encode_fixed32(h + 7, f->log_number);
    /* The CRC covers the type byte, the log number (recyclable) and the
     * payload. */
    uint32_t crc = walx_crc32c_extend(0, h + 6, hs - 6);
    crc = dst ? walx_crc32c_copy(crc, dst, src, fr->len) : walx_crc32c_extend(crc, src, fr->len);
    walx_encode_fixed32(h, walx_mask_crc(crc));
    if (!f->started)
        f->lead = (uint32_t)fr->pad;
    f->block_offset = (uint32_t)((fr->pad ? 0 : f->block_offset) + hs + fr->len);
    /* A block filled exactly: the next fragment starts a fresh block with
     * no trailer. */
    if (f->block_offset == WALX_BLOCK_SIZE)
        f->block_offset = 0;
    f->done += fr->len;
    f->started = 1;
    return dst ? dst : src;
}

size_t walx_frame_emit(walx_framer *f, uint8_t *out, size_t cap) {
    const size_t hs = header_size(f->recyclable);
    size_t w = 0;
    while (!walx_framer_done(f)) {
        fragment fr = next_fragment(f);
        /* Whole fragments only (w <= cap always; fr.len < a block). */
        if (cap - w < fr.pad + hs + fr.len)
            break;
        if (fr.pad) {
            memcpy(out + w, zeros, fr.pad);
            w += fr.pad;
        }
        emit_fragment(f, &fr, out + w, out + w + hs);
        w += hs + fr.len;
    }
    return w;
}

size_t walx_frame_emit_iov(walx_framer *f, uint8_t *headers, struct iovec *iov,
                           size_t max_frags, int *iovcnt) {
    const size_t hs = header_size(f->recyclable);
    size_t bytes = 0;
    int cnt = 0;
    for (size_t i = 0; i < max_frags && !walx_framer_done(f); i++) {
        fragment fr = next_fragment(f);
        if (fr.pad)
            iov[cnt++] = (struct iovec){(void *)zeros, fr.pad};
        uint8_t *h = headers + i * hs;
        const uint8_t *payload = emit_fragment(f, &fr, h, NULL);
        iov[cnt++] = (struct iovec){h, hs};
        if (fr.len)
            iov[cnt++] = (struct iovec){(void *)payload, fr.len};
        bytes += fr.pad + hs + fr.len;
    }
    *iovcnt = cnt;
    return bytes;
}

size_t walx_framed_size(uint32_t block_offset, int recyclable, size_t n) {
    /* next_fragment's rule in closed form: the first fragment carries what
     * its block holds, every later one up to a block less a header. */
    walx_framer f;
    walx_framer_init(&f, block_offset, recyclable, 0, NULL, n);
    fragment first = next_fragment(&f);
    const size_t hs = header_size(recyclable);
    size_t frags = 1;
    if (first.len < n) /* (n - first.len - 1) / per + 1, which cannot wrap */
        frags += (n - first.len - 1) / (WALX_BLOCK_SIZE - hs) + 1;
    /* frags <= n / (block - hs) + 2, so frags * hs cannot wrap. */
    size_t overhead = first.pad + frags * hs;
    return n > SIZE_MAX - overhead ? SIZE_MAX : n + overhead;
}
