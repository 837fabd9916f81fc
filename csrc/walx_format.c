/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * Pure framing and parsing of physical records: no syscalls, no
 * allocation. The rules are those of docs/format.md ("Writing a logical
 * record", "Reading"); leveldb db/log_writer.cc and db/log_reader.cc are
 * the model. */
#include <string.h>

#include "walx.h"

void walx_encode_fixed32(uint8_t *dst, uint32_t v) {
    dst[0] = (uint8_t)v;
    dst[1] = (uint8_t)(v >> 8);
    dst[2] = (uint8_t)(v >> 16);
    dst[3] = (uint8_t)(v >> 24);
}

uint32_t walx_decode_fixed32(const uint8_t *src) {
    return (uint32_t)src[0] | ((uint32_t)src[1] << 8) | ((uint32_t)src[2] << 16) |
           ((uint32_t)src[3] << 24);
}

static const uint8_t zeros[WALX_RECYCLABLE_HEADER_SIZE];

/* Writes one physical record (header + payload) at `out`. */
static void emit_fragment(uint8_t *out, uint32_t type, int recyclable,
                          uint32_t log_number, const uint8_t *data, size_t len) {
    size_t hs = recyclable ? WALX_RECYCLABLE_HEADER_SIZE : WALX_HEADER_SIZE;
    out[4] = (uint8_t)len;
    out[5] = (uint8_t)(len >> 8);
    out[6] = (uint8_t)type;
    if (recyclable)
        walx_encode_fixed32(out + 7, log_number);
    /* The CRC covers the type byte, the log number (recyclable) and the
     * payload; the payload is copied in the same pass. */
    uint32_t crc = walx_crc32c_extend(0, out + 6, hs - 6);
    crc = walx_crc32c_copy(crc, out + hs, data, len);
    walx_encode_fixed32(out, walx_mask_crc(crc));
}

void walx_frame_full(uint8_t *out, int recyclable, uint32_t log_number, const uint8_t *data,
                     size_t n) {
    emit_fragment(out, WALX_FULL + (recyclable ? WALX_RECYCLABLE_FULL - WALX_FULL : 0),
                  recyclable, log_number, data, n);
}

size_t walx_frame_some(uint32_t *block_offset, int recyclable,
                       uint32_t log_number, const uint8_t *payload, size_t n,
                       size_t *done, int *started, uint8_t *out,
                       size_t out_cap) {
    const size_t hs = recyclable ? WALX_RECYCLABLE_HEADER_SIZE : WALX_HEADER_SIZE;
    const uint32_t base = recyclable ? WALX_RECYCLABLE_FULL - WALX_FULL : 0;
    uint32_t off = *block_offset;
    size_t pos = *done;
    size_t w = 0;
    int begun = *started;

    /* Loop at least once: an empty payload is one zero-length FULL. */
    while (!begun || pos < n) {
        size_t leftover = WALX_BLOCK_SIZE - off;
        size_t pad = 0;
        if (leftover < hs) {
            /* Too little room for a header: zero-fill the trailer. */
            pad = leftover;
            leftover = WALX_BLOCK_SIZE;
        }
        size_t avail = leftover - hs;
        size_t frag = n - pos < avail ? n - pos : avail;
        if (w + pad + hs + frag > out_cap)
            break;
        if (pad) {
            memcpy(out + w, zeros, pad);
            w += pad;
            off = 0;
        }
        int first = !begun;
        int last = pos + frag == n;
        uint32_t type = first && last ? WALX_FULL
                        : first       ? WALX_FIRST
                        : last        ? WALX_LAST
                                      : WALX_MIDDLE;
        emit_fragment(out + w, type + base, recyclable, log_number, payload + pos,
                      frag);
        w += hs + frag;
        off += (uint32_t)(hs + frag);
        pos += frag;
        begun = 1;
        /* A block filled exactly leaves off == BLOCK_SIZE: the next
         * fragment starts a fresh block with no trailer. */
        if (off == WALX_BLOCK_SIZE)
            off = 0;
    }
    *block_offset = off;
    *done = pos;
    *started = begun;
    return w;
}

size_t walx_frame_plan(uint32_t *block_offset, int recyclable, uint32_t log_number,
                       const uint8_t *payload, size_t n, size_t *pad,
                       uint8_t *headers, size_t *frag_len, size_t max_frags) {
    const size_t hs = recyclable ? WALX_RECYCLABLE_HEADER_SIZE : WALX_HEADER_SIZE;
    const uint32_t base = recyclable ? WALX_RECYCLABLE_FULL - WALX_FULL : 0;
    size_t off = *block_offset;
    size_t first_pad = 0;
    if (WALX_BLOCK_SIZE - off < hs) {
        first_pad = WALX_BLOCK_SIZE - off;
        off = 0;
    }
    /* Count first: the plan is all or nothing. */
    size_t room = WALX_BLOCK_SIZE - off - hs;
    /* (n - room - 1) / per + 2 rather than a rounded-up sum, which could
     * wrap for n near SIZE_MAX. */
    size_t frags = n <= room ? 1 : 2 + (n - room - 1) / (WALX_BLOCK_SIZE - hs);
    if (frags > max_frags)
        return 0;
    size_t pos = 0;
    for (size_t i = 0; i < frags; i++) {
        size_t avail = WALX_BLOCK_SIZE - off - hs;
        size_t len = n - pos < avail ? n - pos : avail;
        int first = i == 0, last = i + 1 == frags;
        uint32_t type = first && last ? WALX_FULL
                        : first       ? WALX_FIRST
                        : last        ? WALX_LAST
                                      : WALX_MIDDLE;
        uint8_t *h = headers + i * hs;
        h[4] = (uint8_t)len;
        h[5] = (uint8_t)(len >> 8);
        h[6] = (uint8_t)(type + base);
        if (recyclable)
            walx_encode_fixed32(h + 7, log_number);
        uint32_t crc = walx_crc32c_extend(0, h + 6, hs - 6);
        crc = walx_crc32c_extend(crc, payload + pos, len);
        walx_encode_fixed32(h, walx_mask_crc(crc));
        frag_len[i] = len;
        pos += len;
        off += hs + len;
        if (off == WALX_BLOCK_SIZE)
            off = 0;
    }
    *pad = first_pad;
    *block_offset = (uint32_t)off;
    return frags;
}

static int all_zero(const uint8_t *p, size_t n) {
    while (n--)
        if (*p++)
            return 0;
    return 1;
}

enum walx_parse_status walx_parse_physical(const uint8_t *p, size_t block_left,
                                           size_t avail, uint32_t header_kind,
                                           int verify_checksums,
                                           walx_physical *out) {
    size_t trailer_below = header_kind ? header_kind : WALX_HEADER_SIZE;
    out->consumed = avail;
    if (avail == 0)
        return WALX_PARSE_EOF;
    if (block_left < trailer_below) {
        /* Writers zero-fill block ends too short for a header; skip the
         * trailer without looking at it (also when the file ends in it). */
        return WALX_PARSE_TRAILER;
    }
    if (avail < WALX_HEADER_SIZE) {
        /* The file ends here. Zeros are never-written (or preallocated)
         * space; anything else is a header torn by a crash. */
        return all_zero(p, avail) ? WALX_PARSE_EOF : WALX_PARSE_TRUNCATED_HEADER;
    }
    uint32_t length = (uint32_t)p[4] | ((uint32_t)p[5] << 8);
    uint32_t type = p[6];
    uint32_t hs = walx_type_is_recyclable(type) ? WALX_RECYCLABLE_HEADER_SIZE : WALX_HEADER_SIZE;
    out->type = type;
    out->length = length;
    out->header_size = hs;
    out->log_number = 0;
    out->payload = p + hs;
    if (hs > block_left) {
        /* A recyclable header cannot fit: the length is beside the point. */
        out->consumed = avail;
        return avail < block_left ? WALX_PARSE_TRUNCATED_HEADER : WALX_PARSE_BAD_LENGTH;
    }
    if (hs > avail)
        return all_zero(p, avail) ? WALX_PARSE_EOF : WALX_PARSE_TRUNCATED_HEADER;
    if (hs == WALX_RECYCLABLE_HEADER_SIZE)
        out->log_number = walx_decode_fixed32(p + 7);
    if (type == WALX_ZERO && length == 0) {
        /* Preallocated or mmap-extended space that was never written. */
        return WALX_PARSE_ZERO_FILL;
    }
    if ((size_t)hs + length > block_left) {
        /* No writer emits a record that crosses its block: the length
         * itself is damaged, so nothing in this block can be trusted. */
        return WALX_PARSE_BAD_LENGTH;
    }
    if ((size_t)hs + length > avail) {
        /* The file ends inside the payload: a write torn by a crash. */
        return WALX_PARSE_TRUNCATED_PAYLOAD;
    }
    if (verify_checksums) {
        uint32_t expected = walx_unmask_crc(walx_decode_fixed32(p));
        uint32_t actual = walx_crc32c_extend(0, p + 6, hs - 6 + length);
        if (WALX_UNLIKELY(actual != expected)) {
            /* Drop the rest of the block: the length may be the damaged
             * field, and trusting it could land inside a payload that
             * happens to look like a record. */
            return WALX_PARSE_BAD_CRC;
        }
    }
    out->consumed = hs + length;
    return WALX_PARSE_OK;
}
