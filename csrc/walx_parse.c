/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * Parsing of physical records, the reader side of walx_frame.c: no
 * syscalls, no allocation. The rules are those of docs/format.md
 * ("Reading"); leveldb db/log_reader.cc is the model. The parser only
 * reports what it sees; walx/_reader.pyx decides what each status means. */
#include "walx.h"

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
