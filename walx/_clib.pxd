# Declarations of the C core's library (csrc/walx.h; its test hooks are
# declared in _hooks.pyx). No logic: every function here is pure C that
# never raises, so the whole block is nogil.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_mutex_init(pthread_mutex_t *m, const void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *m)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_trylock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)

cdef extern from "walx.h" nogil:
    enum:
        WALX_BLOCK_SIZE
        WALX_HEADER_SIZE
        WALX_RECYCLABLE_HEADER_SIZE
        WALX_MAX_FRAGMENT
        WALX_WRITER_MIN_BUFFER
        WALX_DEBUG
        WALX_ENOTFILE

    enum walx_record_type:
        WALX_ZERO
        WALX_FULL
        WALX_FIRST
        WALX_MIDDLE
        WALX_LAST
        WALX_RECYCLABLE_FULL
        WALX_RECYCLABLE_FIRST
        WALX_RECYCLABLE_MIDDLE
        WALX_RECYCLABLE_LAST
        WALX_SET_COMPRESSION
        WALX_TIMESTAMP_SIZE
        WALX_RECYCLABLE_TIMESTAMP_SIZE
        WALX_PREDECESSOR_INFO
        WALX_RECYCLABLE_PREDECESSOR_INFO
        WALX_IGNORABLE_BIT

    enum walx_parse_status:
        WALX_PARSE_OK
        WALX_PARSE_EOF
        WALX_PARSE_TRAILER
        WALX_PARSE_ZERO_FILL
        WALX_PARSE_TRUNCATED_HEADER
        WALX_PARSE_TRUNCATED_PAYLOAD
        WALX_PARSE_BAD_LENGTH
        WALX_PARSE_BAD_CRC

    ctypedef struct walx_physical:
        uint32_t type
        uint32_t length
        uint32_t header_size
        uint32_t log_number
        const uint8_t *payload
        size_t consumed

    ctypedef struct walx_writer:
        int fd
        int recyclable
        uint32_t log_number
        uint32_t block_offset
        uint64_t size
        uint8_t *buf
        size_t buf_cap
        size_t buf_len
        size_t flush_at

    enum:
        WALX_CRC_AUTO
        WALX_CRC_FORCE_SW
        WALX_CRC_NO_FOLD
    void walx_crc32c_init(int mode)
    const char *walx_crc32c_impl_name()
    uint32_t walx_crc32c_extend(uint32_t crc, const uint8_t *data, size_t n)
    uint32_t walx_mask_crc(uint32_t crc)
    bint walx_type_is_recyclable(uint32_t t)
    bint walx_type_sets_kind(uint32_t t)
    uint32_t walx_unmask_crc(uint32_t masked)

    void walx_encode_fixed32(uint8_t *dst, uint32_t v)
    uint32_t walx_decode_fixed32(const uint8_t *src)
    walx_parse_status walx_parse_physical(const uint8_t *p, size_t block_left,
                                          size_t avail, uint32_t header_kind,
                                          int verify_checksums,
                                          walx_physical *out)

    int walx_open_append(const char *path, int *fd, uint64_t *size)
    int walx_open_read(const char *path, int *fd, uint64_t *size)
    int walx_create_new(const char *path, int *fd)
    int walx_open_overwrite(const char *path, int *fd, uint64_t *size)
    int walx_rename(const char *src, const char *dst)
    int walx_unlink(const char *path)

    int walx_pread_full(int fd, uint8_t *dst, size_t n, uint64_t offset, size_t *got)
    int walx_sync_fd(int fd, int data_only)
    int walx_sync_dir(const char *dir)
    int walx_close(int fd)
    int walx_ftruncate(int fd, uint64_t size)
    int walx_lock_file(const char *path, int *fd)
    int walx_unlock_file(int fd)
    int walx_fallocate(int fd, uint64_t size)

    enum walx_qkind:
        WALX_Q_APPEND
        WALX_Q_EXCLUSIVE
    enum walx_qstatus:
        WALX_Q_DONE
        WALX_Q_LEADER
        WALX_Q_CLOSED
        WALX_Q_BADSEQ
        WALX_Q_TIMEOUT
    ctypedef struct walx_qentry:
        const uint8_t *data
        size_t len
        uint8_t *seq_at
        uint64_t first_seq
        uint64_t nseq
        uint64_t last_seq
        int kind
        int want_sync
        int done
        int rc
        walx_qentry *next
    ctypedef struct walx_queue:
        int poison_rc
        int closed
    int walx_queue_init(walx_queue *q)
    void walx_queue_destroy(walx_queue *q)
    int walx_queue_wait(walx_queue *q, walx_qentry *e)
    walx_qentry *walx_queue_group(walx_queue *q, walx_qentry *e, size_t max_bytes)
    void walx_queue_finish(walx_queue *q, walx_qentry *e, walx_qentry *last, int rc,
                           int close_after)
    void walx_queue_set_seqs(walx_queue *q, uint64_t last, uint64_t synced)
    void walx_queue_seqs(walx_queue *q, uint64_t *last, uint64_t *synced)
    void walx_queue_synced(walx_queue *q, uint64_t seq)
    void walx_queue_close(walx_queue *q)
    int walx_queue_wait_synced(walx_queue *q, uint64_t seq, int64_t timeout_ns)

    enum:
        WALX_WRITER_IN_PLACE_MIN
    size_t walx_framed_size(uint32_t block_offset, int recyclable, size_t n)
    int walx_writer_add(walx_writer *w, const uint8_t *data, size_t n, int stable,
                        uint64_t *offset)
    int walx_writer_maybe_flush(walx_writer *w)
    int walx_writer_flush(walx_writer *w)
