/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * walx.h: the C core's public header: the library Cython uses, nothing
 * else (test hooks are declared in walx_testing.h).
 *
 * The on-disk format is RocksDB's/LevelDB's log format; docs/format.md is
 * the source of truth and this header only pins its constants.
 *
 *       +-----+-------------+--+----+----------+------+-- ... ----+
 * File  | r0  |        r1   |P | r2 |    r3    |  r4  |           |
 *       +-----+-------------+--+----+----------+------+-- ... ----+
 *       <--- WALX_BLOCK_SIZE ------>|<-- WALX_BLOCK_SIZE ------>|
 *
 *  rn = variable size records
 *  P  = block trailer: fewer bytes than a header, zero-filled by writers
 *
 * Legacy record:
 * +---------+-----------+-----------+--- ... ---+
 * |CRC (4B) | Size (2B) | Type (1B) | Payload   |
 * +---------+-----------+-----------+--- ... ---+
 *
 * Recyclable record:
 * +---------+-----------+-----------+----------------+--- ... ---+
 * |CRC (4B) | Size (2B) | Type (1B) | Log number (4B)| Payload   |
 * +---------+-----------+-----------+----------------+--- ... ---+
 *
 * CRC = masked CRC-32C over Type, Log number (recyclable only) and Payload.
 * Size = payload length. All integers little-endian.
 */
#ifndef WALX_H
#define WALX_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "walx_port.h"

#define WALX_BLOCK_SIZE 32768
/* crc (4) + length (2) + type (1) */
#define WALX_HEADER_SIZE (4 + 2 + 1)
/* crc (4) + length (2) + type (1) + log number (4) */
#define WALX_RECYCLABLE_HEADER_SIZE (4 + 2 + 1 + 4)
/* The largest payload one physical record can carry. */
#define WALX_MAX_FRAGMENT (WALX_BLOCK_SIZE - WALX_HEADER_SIZE)

_Static_assert(WALX_HEADER_SIZE == 7, "legacy header is 7 bytes");
_Static_assert(WALX_RECYCLABLE_HEADER_SIZE == 11, "recyclable header is 11 bytes");
_Static_assert(WALX_BLOCK_SIZE <= 65535 + WALX_HEADER_SIZE,
               "a fragment length must fit the 16-bit size field");

enum walx_record_type {
    WALX_ZERO = 0, /* preallocated or never-written space */
    WALX_FULL = 1,
    WALX_FIRST = 2,
    WALX_MIDDLE = 3,
    WALX_LAST = 4,
    WALX_RECYCLABLE_FULL = 5,
    WALX_RECYCLABLE_FIRST = 6,
    WALX_RECYCLABLE_MIDDLE = 7,
    WALX_RECYCLABLE_LAST = 8,
    /* RocksDB meta records: understood well enough to skip (or refuse). */
    WALX_SET_COMPRESSION = 9,
    WALX_TIMESTAMP_SIZE = 10,
    WALX_RECYCLABLE_TIMESTAMP_SIZE = 11,
    WALX_PREDECESSOR_INFO = 130,
    WALX_RECYCLABLE_PREDECESSOR_INFO = 131,
    /* Any other type with this bit set may be ignored by readers. */
    WALX_IGNORABLE_BIT = 0x80
};

/* The one definition of which types carry the 11-byte recyclable header
 * (the embedded log number). */
static WALX_INLINE int walx_type_is_recyclable(uint32_t t) {
    return (t >= WALX_RECYCLABLE_FULL && t <= WALX_RECYCLABLE_LAST) ||
           t == WALX_RECYCLABLE_TIMESTAMP_SIZE || t == WALX_RECYCLABLE_PREDECESSOR_INFO;
}

/* Types whose header size is known: record fragments and RocksDB's meta
 * records other than SET_COMPRESSION (which only a legacy log's first
 * record may be). Their header size fixes the file's kind. */
static WALX_INLINE int walx_type_sets_kind(uint32_t t) {
    return (t >= WALX_FULL && t <= WALX_RECYCLABLE_LAST) || t == WALX_TIMESTAMP_SIZE ||
           t == WALX_RECYCLABLE_TIMESTAMP_SIZE || t == WALX_PREDECESSOR_INFO ||
           t == WALX_RECYCLABLE_PREDECESSOR_INFO;
}

/* What walx_parse_physical() saw at a position. The parser only reports;
 * the reader (walx/_reader.pyx) decides what each status means. */
enum walx_parse_status {
    WALX_PARSE_OK = 0,            /* a whole physical record, CRC valid */
    WALX_PARSE_EOF = 1,           /* clean end: no bytes, or only zeros too short for a header */
    WALX_PARSE_TRAILER = 2,       /* block trailer: skip `consumed` bytes */
    WALX_PARSE_ZERO_FILL = 3,     /* type 0 and length 0: skip to the next block */
    WALX_PARSE_TRUNCATED_HEADER = 4, /* the data ends inside a header */
    WALX_PARSE_TRUNCATED_PAYLOAD = 5, /* the data ends inside a payload */
    WALX_PARSE_BAD_LENGTH = 6,    /* the record would cross its block */
    WALX_PARSE_BAD_CRC = 7        /* checksum mismatch */
};

/* One parsed physical record (or the span a bad one covers). */
typedef struct walx_physical {
    uint32_t type;        /* record type byte */
    uint32_t length;      /* payload length */
    uint32_t header_size; /* 7 or 11 */
    uint32_t log_number;  /* embedded log number (recyclable types only) */
    const uint8_t *payload;
    size_t consumed;      /* bytes to advance past this record or damage */
} walx_physical;

/* Appends framed records to a file descriptor through a caller-owned
 * buffer. All fields are owned by the caller; no function here allocates. */
typedef struct walx_writer {
    int fd;
    int recyclable;
    uint32_t log_number;    /* low 32 bits of the file's log number */
    uint32_t block_offset;  /* offset inside the current block */
    uint64_t size;          /* logical file size: written + buffered bytes */
    uint8_t *buf;           /* framing buffer, capacity buf_cap */
    size_t buf_cap;         /* REQUIRES: >= WALX_WRITER_MIN_BUFFER */
    size_t buf_len;         /* framed bytes not yet handed to the OS */
    size_t flush_at;        /* hand bytes to the OS once buf_len reaches this */
} walx_writer;

/* A writer's buffer must hold the largest fragment plus a trailer, so that
 * framing always makes progress. */
#define WALX_WRITER_MIN_BUFFER (2 * WALX_BLOCK_SIZE)

/* ---- CRC32C (walx_crc32c.c) ---- */

/* walx_crc32c_init modes. */
enum {
    WALX_CRC_AUTO = 0,    /* the fastest implementation that passes its self-check */
    WALX_CRC_FORCE_SW = 1, /* software only */
    WALX_CRC_NO_FOLD = 2, /* the CRC instructions, without carry-less folding */
};

/* Picks the implementation once: carry-less folding (x86-64 with AVX2 and
 * VPCLMULQDQ) over the CRC instructions (SSE4.2, ARMv8 CRC) over software,
 * each used only when the CPU has it and it passes a self-check; `mode`
 * can rule the faster ones out. Idempotent. */
void walx_crc32c_init(int mode);
/* "vpclmulqdq-512", "vpclmulqdq-256", "sse4.2", "armv8-crc" or "software". */
const char *walx_crc32c_impl_name(void);
/* Extends `crc` (the CRC of earlier bytes, 0 to start) over data[0..n). */
uint32_t walx_crc32c_extend(uint32_t crc, const uint8_t *data, size_t n);
/* Copies src[0..n) to dst (which must not overlap it) and returns
 * walx_crc32c_extend(crc, src, n); one pass over the bytes where the
 * implementation allows. The CRC is that of the bytes written to dst, even
 * if src changes meanwhile. */
uint32_t walx_crc32c_copy(uint32_t crc, uint8_t *dst, const uint8_t *src, size_t n);

static WALX_INLINE uint32_t walx_mask_crc(uint32_t crc) {
    /* Rotate right by 15 bits and add a constant (leveldb crc32c::Mask):
     * a CRC over data that embeds CRCs is otherwise weak. */
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static WALX_INLINE uint32_t walx_unmask_crc(uint32_t masked) {
    uint32_t rot = masked - 0xa282ead8u;
    return (rot >> 17) | (rot << 15);
}

static WALX_INLINE void walx_encode_fixed32(uint8_t *dst, uint32_t v) {
    dst[0] = (uint8_t)v;
    dst[1] = (uint8_t)(v >> 8);
    dst[2] = (uint8_t)(v >> 16);
    dst[3] = (uint8_t)(v >> 24);
}

static WALX_INLINE uint32_t walx_decode_fixed32(const uint8_t *src) {
    return (uint32_t)src[0] | ((uint32_t)src[1] << 8) | ((uint32_t)src[2] << 16) |
           ((uint32_t)src[3] << 24);
}

/* ---- Framing (walx_frame.c): pure, no syscalls, no allocation ----
 *
 * The one place that cuts a logical record into physical records, chooses
 * their types (FULL, or FIRST MIDDLE* LAST; the RECYCLABLE_ variants in a
 * recyclable log), places block trailers and packs headers (docs/format.md,
 * "Writing a logical record"). A record in progress is a walx_framer; each
 * emit call frames the next whole fragments of it, into a buffer (payload
 * copied in the CRC pass) or into an iovec (headers only, payload left in
 * place). Both give the same bytes, however the record is cut into calls. */

typedef struct walx_framer {
    const uint8_t *data;   /* the record's payload, data[0..n); NULL when n == 0 */
    size_t n;
    size_t done;           /* payload bytes framed so far */
    uint32_t block_offset; /* offset in its block where the next fragment goes */
    uint32_t log_number;   /* low 32 bits of the log number (recyclable only) */
    int recyclable;
    int started;           /* 1 once the first fragment is framed */
    uint32_t lead;         /* trailer bytes framed before the first fragment */
} walx_framer;

/* Starts framing data[0..n) at `block_offset` (< WALX_BLOCK_SIZE). */
static WALX_INLINE void walx_framer_init(walx_framer *f, uint32_t block_offset, int recyclable,
                                         uint32_t log_number, const uint8_t *data, size_t n) {
    f->data = data;
    f->n = n;
    f->done = 0;
    f->block_offset = block_offset;
    f->log_number = log_number;
    f->recyclable = recyclable;
    f->started = 0;
    f->lead = 0;
}

/* 1 once every fragment is framed (an empty record is one FULL fragment). */
static WALX_INLINE int walx_framer_done(const walx_framer *f) {
    return f->started && f->done == f->n;
}

/* Frames the next fragments, each with any trailer before it, into
 * out[0..cap) while whole ones fit; returns the bytes written (0 when not
 * even the next one fits, and then nothing changed). */
size_t walx_frame_emit(walx_framer *f, uint8_t *out, size_t cap);

/* iovec entries walx_frame_emit_iov may fill for `frags` fragments. */
#define WALX_FRAME_IOV_MAX(frags) (1 + 2 * (frags))

/* Frames up to `max_frags` next fragments without copying the payload:
 * packs their headers at headers[i * header size] and fills iov[] with
 * trailer, header and payload pieces (the payload entries point into
 * f->data, which must not change until they are written: the CRCs are of
 * its bytes now). Sets *iovcnt (<= WALX_FRAME_IOV_MAX(max_frags)) and
 * returns the bytes the entries cover. */
size_t walx_frame_emit_iov(walx_framer *f, uint8_t *headers, struct iovec *iov,
                           size_t max_frags, int *iovcnt /* OUT */);

/* The bytes an n-byte record takes when framed from `block_offset`: any
 * trailer before it, its headers and its payload (SIZE_MAX if that does
 * not fit in a size_t). */
size_t walx_framed_size(uint32_t block_offset, int recyclable, size_t n);

/* ---- Parsing (walx_parse.c): pure, no syscalls, no allocation ---- */

/* Parses the physical record at `p`. `block_left` is the number of bytes
 * from `p` to the end of its block; `avail` (<= block_left) is how many of
 * them exist. `header_kind` is the file's header size once known (7 or 11)
 * or 0 when no record has been seen yet. Fills `*out` (consumed is always
 * set; the other fields only for OK, BAD_CRC and TRUNCATED_PAYLOAD). */
enum walx_parse_status walx_parse_physical(const uint8_t *p, size_t block_left,
                                           size_t avail, uint32_t header_kind,
                                           int verify_checksums,
                                           walx_physical *out /* OUT */);

/* ---- Syscalls (walx_io.c): every function returns 0 or -errno ---- */

/* Not an errno: what the open functions return (negated) for a FIFO or a
 * socket, which cannot hold a log and whose open or read could block. */
#define WALX_ENOTFILE 4097

/* Opens `path` for appending (O_CREAT|O_WRONLY|O_APPEND|O_CLOEXEC, 0644)
 * and sets *fd and *size. On error *fd is unchanged. Every open function
 * refuses a directory (-EISDIR) and a FIFO or socket (-WALX_ENOTFILE)
 * without blocking; character devices (/dev/full, /dev/zero) are allowed. */
int walx_open_append(const char *path, int *fd /* OUT */, uint64_t *size /* OUT */);
/* Opens `path` read-only (O_CLOEXEC); sets *fd and *size. */
int walx_open_read(const char *path, int *fd /* OUT */, uint64_t *size /* OUT */);
/* Creates `path`, failing with -EEXIST when it exists and is not empty. */
int walx_create_new(const char *path, int *fd /* OUT */);
/* Opens an existing `path` for writing from offset 0 over its old bytes
 * (recycled or preallocated logs); sets *size to its current size. */
int walx_open_overwrite(const char *path, int *fd /* OUT */, uint64_t *size /* OUT */);
int walx_rename(const char *from, const char *to);
int walx_unlink(const char *path);
int walx_write_all(int fd, const uint8_t *data, size_t n);
/* writev(2) until every byte of iov[0..cnt) is written, retrying on EINTR
 * and short writes; consumes (modifies) `iov`. */
int walx_writev_all(int fd, struct iovec *iov, int cnt);
int walx_pread_full(int fd, uint8_t *dst, size_t n, uint64_t offset,
                    size_t *got /* OUT */);
/* fdatasync when `data_only` and the platform has it, else fsync;
 * F_FULLFSYNC on Apple. Never retried by callers after a failure. */
int walx_sync_fd(int fd, int data_only);
int walx_sync_dir(const char *dir);
int walx_close(int fd);
int walx_ftruncate(int fd, uint64_t size);
/* Takes an exclusive non-blocking lock on `path` (created if missing):
 * -EWOULDBLOCK when another open file description holds it. */
int walx_lock_file(const char *path, int *fd /* OUT */);
/* Releases the lock taken by walx_lock_file and closes `fd`. The unlock
 * comes first: a child forked meanwhile shares the open file description,
 * and would otherwise hold the lock until it exits. */
int walx_unlock_file(int fd);
int walx_fallocate(int fd, uint64_t size);

/* ---- Group-commit queue (walx_queue.c) ---- */

enum walx_qkind { WALX_Q_APPEND = 0, WALX_Q_EXCLUSIVE = 1 };
/* walx_queue_wait results (or a negative -errno: the queue is poisoned).
 * WALX_Q_BADSEQ: a given first sequence is not above the queue's last_seq
 * (or the batch's sequences would pass 2**64 - 1); nothing was queued.
 * walx_queue_wait_synced returns WALX_Q_DONE, WALX_Q_TIMEOUT, WALX_Q_CLOSED
 * or the poison -errno. */
enum walx_qstatus {
    WALX_Q_DONE = 0,
    WALX_Q_LEADER = 1,
    WALX_Q_CLOSED = 2,
    WALX_Q_BADSEQ = 3,
    WALX_Q_TIMEOUT = 4
};

/* One caller's request; lives on the caller's stack until it is done. */
typedef struct walx_qentry {
    const uint8_t *data; /* APPEND: the record */
    size_t len;
    uint8_t *seq_at;     /* APPEND: where the queue writes the assigned first
                            sequence (8 bytes, little-endian), or NULL when
                            first_seq is given by the caller */
    uint64_t first_seq;  /* APPEND: given (seq_at NULL) or assigned */
    uint64_t nseq;       /* APPEND: sequences the record takes (>= 1) */
    uint64_t last_seq;   /* APPEND: set by the queue to first_seq + nseq - 1;
                            on WALX_Q_BADSEQ, the queue's last_seq */
    int kind;            /* enum walx_qkind */
    int want_sync;       /* APPEND: durable on return */
    int done;            /* set by the leader that handled it */
    int rc;              /* its result: 0 or -errno */
    struct walx_qentry *next;
    pthread_cond_t cv;   /* signalled when done or when it becomes the head */
} walx_qentry;

typedef struct walx_queue {
    pthread_mutex_t mu;
    pthread_cond_t synced_cv; /* broadcast when synced_seq grows, on poison
                                 and on close */
    walx_qentry *head, *tail; /* under mu */
    uint64_t last_seq;        /* under mu: highest sequence queued */
    uint64_t synced_seq;      /* under mu: highest sequence known durable */
    int poison_rc;            /* first failure; sticky */
    int closed;
} walx_queue;

int walx_queue_init(walx_queue *q);
void walx_queue_destroy(walx_queue *q);
/* Enqueues `e` and blocks until it was handled by a leader (WALX_Q_DONE,
 * result in e->rc) or reached the head (WALX_Q_LEADER: the caller must
 * run it and call walx_queue_finish). Returns WALX_Q_CLOSED or the poison
 * -errno, without running anything, once the queue is closed or poisoned.
 * An APPEND takes its sequences when it joins the queue, under the mutex:
 * queue order, hence log order, is sequence order. */
int walx_queue_wait(walx_queue *q, walx_qentry *e);
/* REQUIRES: `e` is the head. Returns the last entry of e's group: for an
 * append, the consecutive appends behind it up to `max_bytes` in all. */
walx_qentry *walx_queue_group(walx_queue *q, walx_qentry *e, size_t max_bytes);
/* Gives e..last the result `rc` (a failure poisons the queue), removes
 * them, optionally closes the queue, and wakes every waiter. */
void walx_queue_finish(walx_queue *q, walx_qentry *e, walx_qentry *last, int rc,
                       int close_after);
/* Sets both watermarks (a manager opened after recovery). */
void walx_queue_set_seqs(walx_queue *q, uint64_t last, uint64_t synced);
void walx_queue_seqs(walx_queue *q, uint64_t *last, uint64_t *synced);
/* Raises synced_seq to `seq` (never lowers it) and wakes wait_synced. */
void walx_queue_synced(walx_queue *q, uint64_t seq);
/* Closes the queue and wakes every wait_synced (entries already queued
 * are refused when they reach the head). */
void walx_queue_close(walx_queue *q);
/* Blocks until synced_seq >= seq (WALX_Q_DONE), the queue closes or is
 * poisoned, or `timeout_ns` (< 0: none) passes (WALX_Q_TIMEOUT). */
int walx_queue_wait_synced(walx_queue *q, uint64_t seq, int64_t timeout_ns);

/* ---- Writer (walx_writer.c): one record at a time, through the framer ---- */

/* From this payload size on, a write-through writer writes a stable record
 * in place (headers and payload with writev(2)) instead of copying it into
 * its buffer. Below it, one write(2) from the buffer is cheaper: the copy
 * rides along with the CRC pass (walx_crc32c_copy), and writev costs more
 * in the kernel than write. Measured crossover: 50-60 KiB. */
#define WALX_WRITER_IN_PLACE_MIN (56 * 1024)

/* Appends one record at w->size and sets *offset to its start (after any
 * trailer). `stable`: data[0..n) cannot change until this returns (bytes,
 * read-only buffers); only then may it be written in place (write-through,
 * from WALX_WRITER_IN_PLACE_MIN bytes on, after any buffered bytes in the
 * same writev), because its CRC is computed before the write reads it.
 * Otherwise it is copied into w->buf in the CRC pass, and the buffer is
 * handed to the OS only when it fills up: callers finish with
 * walx_writer_maybe_flush. On error how much reached the file is unknown
 * and the writer's state is indeterminate: callers poison it. A crash
 * leaves at most the record's first fragments, a torn tail readers drop. */
int walx_writer_add(walx_writer *w, const uint8_t *data, size_t n, int stable,
                    uint64_t *offset /* OUT */);
/* Hands every buffered byte to the OS. */
int walx_writer_flush(walx_writer *w);
/* Hands the buffered bytes to the OS when there are at least w->flush_at
 * of them (1 for a write-through writer). */
static WALX_INLINE int walx_writer_maybe_flush(walx_writer *w) {
    return w->buf_len >= w->flush_at ? walx_writer_flush(w) : 0;
}

#endif /* WALX_H */
