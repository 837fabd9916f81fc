/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * libFuzzer harness for the C core's parser and framer (csrc/walx_parse.c,
 * csrc/walx_frame.c, csrc/walx_crc32c.c). Build and run with ci/fuzz.sh:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
 *         -Icsrc (every csrc .c file) fuzz/fuzz_parse.c -lpthread -o fuzz_parse
 *
 * Each input is used twice:
 *
 * 1. As a log file: walked the way walx/_reader.pyx walks one, block by
 *    block, with walx_parse_physical on an exactly-sized copy (so ASan sees
 *    any read past `avail`). Every result is checked against the format's
 *    rules, independently of the parser: consumed bytes within bounds and
 *    never zero, an OK record really fits its block and has the CRC
 *    (computed with the portable CRC-32C) that its header claims, a
 *    BAD_CRC really mismatches, a TRAILER is really shorter than a header.
 *    The hardware and software CRC-32C must agree on the input.
 *
 * 2. As a recipe for a round trip: payloads carved from the input (their
 *    sizes up to 4 blocks), a header kind, a log number and a starting block
 *    offset; walx_frame_emit frames them into buffers of random capacity
 *    (never less than one fragment needs), or walx_frame_emit_iov into
 *    iovecs of 1 to 4 fragments, then the stream is parsed back and
 *    reassembled: the payloads must come back exactly, with the fragment
 *    types, log numbers, zero trailers and block-filling fragments that the
 *    format requires. The framed bytes must not depend on how the buffer
 *    was cut.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walx.h"
#include "walx_testing.h"

#define BLOCK ((size_t)WALX_BLOCK_SIZE)

#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* ---- 1. parse arbitrary bytes ---- */

static void walk(const uint8_t *data, size_t size, uint32_t fixed_kind, int verify) {
    uint32_t kind = fixed_kind;
    size_t pos = 0;
    uint8_t *blk = NULL;   /* the current block's bytes, in an exactly-sized copy */
    size_t blk_start = 0, blk_len = 0;
    while (pos < size) {
        if (blk == NULL || pos >= blk_start + blk_len) {
            free(blk);
            blk_start = pos - pos % BLOCK;
            blk_len = size - blk_start < BLOCK ? size - blk_start : BLOCK;
            blk = (uint8_t *)malloc(blk_len);
            REQUIRE(blk != NULL);
            memcpy(blk, data + blk_start, blk_len);
        }
        size_t block_left = BLOCK - pos % BLOCK;
        size_t avail = size - pos < block_left ? size - pos : block_left;
        /* Any read past `avail` leaves the copy: ASan reports it. */
        const uint8_t *p = blk + (pos - blk_start);
        REQUIRE(p + avail == blk + blk_len);
        walx_physical ph;
        memset(&ph, 0xA5, sizeof ph);
        enum walx_parse_status st =
            walx_parse_physical(p, block_left, avail, kind, verify, &ph);
        REQUIRE(ph.consumed >= 1 && ph.consumed <= avail);
        size_t trailer_below = kind ? kind : WALX_HEADER_SIZE;
        switch (st) {
        case WALX_PARSE_OK: {
            REQUIRE(avail >= WALX_HEADER_SIZE);
            uint32_t hs = walx_type_is_recyclable(p[6]) ? 11u : 7u;
            uint32_t len = (uint32_t)p[4] | ((uint32_t)p[5] << 8);
            REQUIRE(ph.header_size == hs && ph.length == len && ph.type == p[6]);
            REQUIRE(ph.consumed == hs + len && hs + len <= block_left);
            REQUIRE(ph.payload == p + hs);
            REQUIRE(!(ph.type == 0 && ph.length == 0));
            if (hs == 11)
                REQUIRE(ph.log_number == walx_decode_fixed32(p + 7));
            if (verify) {
                uint32_t want = walx_unmask_crc(walx_decode_fixed32(p));
                REQUIRE(walx_crc32c_sw(0, p + 6, hs - 6 + len) == want);
            }
            if (!kind && ((ph.type >= 1 && ph.type <= 8) || ph.type == 10 ||
                          ph.type == 11 || ph.type == 130 || ph.type == 131))
                kind = hs; /* the reader fixes the kind at the first record */
            break;
        }
        case WALX_PARSE_EOF:
            /* Only zeros, too short for a header, at the very end. */
            REQUIRE(pos + avail == size);
            for (size_t i = 0; i < avail; i++)
                REQUIRE(p[i] == 0);
            break;
        case WALX_PARSE_TRAILER:
            REQUIRE(block_left < trailer_below && ph.consumed == avail);
            break;
        case WALX_PARSE_ZERO_FILL:
            REQUIRE(avail >= WALX_HEADER_SIZE && p[4] == 0 && p[5] == 0 && p[6] == 0);
            REQUIRE(ph.consumed == avail);
            break;
        case WALX_PARSE_TRUNCATED_HEADER:
            REQUIRE(pos + avail == size && avail < block_left);
            break;
        case WALX_PARSE_TRUNCATED_PAYLOAD:
            REQUIRE(pos + avail == size && ph.header_size + ph.length > avail);
            REQUIRE(ph.header_size + ph.length <= block_left);
            break;
        case WALX_PARSE_BAD_LENGTH:
            REQUIRE(ph.consumed == avail);
            break;
        case WALX_PARSE_BAD_CRC: {
            REQUIRE(verify);
            uint32_t hs = ph.header_size;
            REQUIRE(hs + ph.length <= avail);
            REQUIRE(walx_crc32c_sw(0, p + 6, hs - 6 + ph.length) !=
                    walx_unmask_crc(walx_decode_fixed32(p)));
            break;
        }
        default:
            REQUIRE(0 && "unknown status");
        }
        pos += ph.consumed;
    }
    free(blk);
    /* Dispatch and portable CRC-32C agree, at any alignment and length. */
    size_t off = size ? data[0] % 8 : 0;
    size_t n = size - off < 4096 ? size - off : 4096 - (size_t)(data[size - 1] % 64);
    if (off <= size)
        REQUIRE(walx_crc32c_extend(0, data + off, n) == walx_crc32c_sw(0, data + off, n));
}

/* ---- 2. frame, then parse back ---- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} reader_t;

static uint32_t take(reader_t *r, int nbytes) {
    uint32_t v = 0;
    for (int i = 0; i < nbytes; i++) {
        v |= (uint32_t)(r->pos < r->size ? r->data[r->pos] : 0) << (8 * i);
        r->pos++;
    }
    return v;
}

/* Frames up to `per_call` fragments of f with walx_frame_emit_iov and
 * copies what the iovec describes to dst[0..cap); returns the bytes. */
static size_t emit_iov_gathered(walx_framer *f, size_t per_call, uint8_t *dst, size_t cap) {
    uint8_t headers[4 * WALX_RECYCLABLE_HEADER_SIZE];
    struct iovec iov[WALX_FRAME_IOV_MAX(4)];
    int cnt = 0;
    size_t bytes = walx_frame_emit_iov(f, headers, iov, per_call, &cnt), w = 0;
    REQUIRE(cnt > 0 && (size_t)cnt <= WALX_FRAME_IOV_MAX(per_call));
    for (int i = 0; i < cnt; i++) {
        REQUIRE(iov[i].iov_len > 0 && w + iov[i].iov_len <= cap);
        memcpy(dst + w, iov[i].iov_base, iov[i].iov_len);
        w += iov[i].iov_len;
    }
    REQUIRE(w == bytes);
    return w;
}

#define MAX_PAYLOADS 24
#define MAX_TOTAL (256u << 10)

static void round_trip(const uint8_t *data, size_t size) {
    reader_t in = {data, size, 0};
    uint32_t flags = take(&in, 1);
    int recyclable = flags & 1;
    uint32_t log_number = take(&in, 4);
    uint32_t start_off = take(&in, 2) % (uint32_t)BLOCK;
    uint32_t cap_extra = take(&in, 2);
    size_t hs = recyclable ? 11 : 7;

    /* Payloads: a 2-byte size and a selector byte each; the bytes come
     * from the rest of the input, cyclically. */
    size_t sizes[MAX_PAYLOADS];
    size_t npay = 0, total = 0;
    while (npay < MAX_PAYLOADS && in.pos < in.size) {
        uint32_t s = take(&in, 2);
        uint32_t sel = take(&in, 1);
        /* Small, except in one input of eight: there, sometimes up to 2
         * blocks, rarely up to 4 (the rare big ones keep the harness fast). */
        size_t n = s % 300;
        if ((flags & 14) == 14 && sel >= 250)
            n = sel < 254 ? s : (size_t)s * 2;
        if (total + n > MAX_TOTAL)
            break;
        sizes[npay++] = n;
        total += n;
    }
    const uint8_t *pool = in.pos < size ? data + in.pos : data;
    size_t pool_len = in.pos < size ? size - in.pos : size;
    uint8_t *payload = (uint8_t *)malloc(total ? total : 1);
    REQUIRE(payload != NULL);
    for (size_t i = 0; i < total;) {
        size_t n = pool_len ? pool_len : 1;
        if (n > total - i)
            n = total - i;
        if (pool_len)
            memcpy(payload + i, pool, n);
        else
            payload[i] = 0;
        i += n;
    }

    /* Frame: the stream starts at file offset start_off; `out` holds the
     * bytes from there on (out[i] is at file offset start_off + i). */
    size_t room = total + (total / 1000 + 2 * npay + 8) * 32;
    uint8_t *out = (uint8_t *)malloc(room);
    REQUIRE(out != NULL);
    size_t olen = 0;
    uint32_t block_offset = start_off;
    size_t at = 0;
    for (size_t i = 0; i < npay; i++) {
        size_t rec_begin = olen;
        walx_framer f;
        walx_framer_init(&f, block_offset, recyclable, log_number,
                         sizes[i] ? payload + at : NULL, sizes[i]);
        while (!walx_framer_done(&f)) {
            size_t k;
            if (flags & 16) {
                /* The iovec emitter, 1 to 4 fragments a call, gathered. */
                k = emit_iov_gathered(&f, 1 + cap_extra % 4, out + olen, room - olen);
            } else {
                /* Any capacity that holds one fragment (pad + header +
                 * payload), but never past the end of `out`: ASan checks
                 * the writes. */
                size_t cap = BLOCK + 11 + (cap_extra % BLOCK);
                if (cap > room - olen)
                    cap = room - olen;
                k = walx_frame_emit(&f, out + olen, cap);
                REQUIRE(k <= cap);
            }
            cap_extra = cap_extra * 1103515245u + 12345u;
            REQUIRE(k > 0); /* always progress with this much room */
            olen += k;
            REQUIRE(f.block_offset == (start_off + olen) % BLOCK);
        }
        REQUIRE(walx_framed_size(block_offset, recyclable, sizes[i]) == olen - rec_begin);
        block_offset = f.block_offset;
        at += sizes[i];
    }

    /* Parse back and reassemble. */
    uint8_t *got = (uint8_t *)malloc(total ? total : 1);
    REQUIRE(got != NULL);
    size_t got_len = 0, rec = 0, rec_start = 0;
    int in_chain = 0;
    size_t pos = 0;
    uint32_t base = recyclable ? 4 : 0;
    while (pos < olen) {
        size_t block_left = BLOCK - (start_off + pos) % BLOCK;
        size_t avail = olen - pos < block_left ? olen - pos : block_left;
        walx_physical ph;
        enum walx_parse_status st =
            walx_parse_physical(out + pos, block_left, avail, (uint32_t)hs, 1, &ph);
        if (st == WALX_PARSE_TRAILER) {
            for (size_t i = 0; i < avail; i++)
                REQUIRE(out[pos + i] == 0);
            REQUIRE(avail == block_left && avail < hs);
            pos += ph.consumed;
            continue;
        }
        REQUIRE(st == WALX_PARSE_OK);
        REQUIRE(ph.header_size == hs);
        if (recyclable)
            REQUIRE(ph.log_number == log_number);
        REQUIRE(rec < npay);
        uint32_t t = ph.type - base;
        REQUIRE(t >= 1 && t <= 4);
        if (t == WALX_FULL || t == WALX_FIRST) {
            REQUIRE(!in_chain);
            rec_start = got_len;
        } else {
            REQUIRE(in_chain);
        }
        /* Every fragment but a record's last fills its block. */
        if (t == WALX_FIRST || t == WALX_MIDDLE)
            REQUIRE(ph.consumed == block_left);
        REQUIRE(got_len + ph.length <= total);
        memcpy(got + got_len, ph.payload, ph.length);
        got_len += ph.length;
        in_chain = (t == WALX_FIRST || t == WALX_MIDDLE);
        if (!in_chain) {
            REQUIRE(got_len - rec_start == sizes[rec]);
            rec++;
        }
        pos += ph.consumed;
    }
    REQUIRE(!in_chain && rec == npay && got_len == total);
    REQUIRE(total == 0 || memcmp(got, payload, total) == 0);
    free(got);
    free(out);
    free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int initialised;
    if (!initialised) {
        walx_crc32c_init(0);
        initialised = 1;
    }
    if (size == 0)
        return 0;
    uint32_t kind = data[0] % 3 == 0 ? 0u : data[0] % 3 == 1 ? 7u : 11u;
    int verify = (data[0] & 4) == 0;
    walk(data + 1, size - 1, kind, verify);
    round_trip(data, size);
    return 0;
}
