/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * The group-commit queue (leveldb DBImpl::Write): callers wait on a
 * condition variable without the GIL; the caller at the head leads, takes
 * the appends queued behind it, writes and syncs them once, then wakes
 * them with the shared result. Exclusive entries (rotate, sync, close) run
 * alone at the head. Nothing here allocates: entries live on the callers'
 * stacks until they are done. */
/* clock_gettime, CLOCK_MONOTONIC and pthread_condattr_setclock (POSIX
 * 2008) under -std=c11. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>

#include "walx.h"

/* wait_synced's deadlines are on CLOCK_MONOTONIC (a wall-clock step
 * neither shortens nor stretches a timeout); macOS has no
 * pthread_condattr_setclock and waits with a relative timeout instead. */
#if defined(__APPLE__)
#define WALX_COND_MONOTONIC 0
#else
#define WALX_COND_MONOTONIC 1
#endif

int walx_queue_init(walx_queue *q) {
    q->head = q->tail = NULL;
    q->last_seq = q->synced_seq = 0;
    q->poison_rc = 0;
    q->closed = 0;
    int rc = pthread_mutex_init(&q->mu, NULL);
    if (rc)
        return -rc;
    pthread_condattr_t attr;
    rc = pthread_condattr_init(&attr);
#if WALX_COND_MONOTONIC
    if (rc == 0)
        rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
    if (rc == 0) {
        rc = pthread_cond_init(&q->synced_cv, &attr);
        pthread_condattr_destroy(&attr);
    }
    if (rc) {
        pthread_mutex_destroy(&q->mu);
        return -rc;
    }
    return 0;
}

void walx_queue_destroy(walx_queue *q) {
    pthread_cond_destroy(&q->synced_cv);
    pthread_mutex_destroy(&q->mu);
}

/* Gives an APPEND its sequences: last_seq + 1 written into its record, or
 * its own first sequence if above last_seq. Returns 0 or WALX_Q_BADSEQ.
 * The record is not framed yet (its CRC is computed by the leader that
 * writes it), so the patched bytes are the bytes checksummed and written.
 * REQUIRES: q->mu held. */
static int take_seqs(walx_queue *q, walx_qentry *e) {
    uint64_t first = e->first_seq;
    if (e->seq_at) {
        if (q->last_seq == UINT64_MAX)
            goto bad;
        first = q->last_seq + 1;
    } else if (first <= q->last_seq) {
        goto bad;
    }
    if (e->nseq == 0 || e->nseq - 1 > UINT64_MAX - first)
        goto bad;
    if (e->seq_at) {
        walx_encode_fixed32(e->seq_at, (uint32_t)first);
        walx_encode_fixed32(e->seq_at + 4, (uint32_t)(first >> 32));
    }
    e->first_seq = first;
    e->last_seq = first + (e->nseq - 1);
    q->last_seq = e->last_seq;
    return 0;
bad:
    e->last_seq = q->last_seq;
    return WALX_Q_BADSEQ;
}

/* Removes e..last from the head and wakes the new head, which leads next.
 * Each waiter sleeps on its own condition variable, so only the threads
 * that have something to do wake up (leveldb's per-writer CondVar); a
 * broadcast would wake the whole queue on every commit.
 * REQUIRES: q->mu held and e at the head. */
static void pop_through(walx_queue *q, walx_qentry *last) {
    q->head = last->next;
    if (q->head == NULL)
        q->tail = NULL;
    else
        pthread_cond_signal(&q->head->cv);
}

int walx_queue_wait(walx_queue *q, walx_qentry *e) {
    e->next = NULL;
    e->done = 0;
    e->rc = 0;
    int rc = pthread_cond_init(&e->cv, NULL);
    if (rc)
        return -rc;
    pthread_mutex_lock(&q->mu);
    int st;
    if (q->closed || q->poison_rc) {
        st = q->closed ? WALX_Q_CLOSED : q->poison_rc;
        goto out;
    }
    if (e->kind == WALX_Q_APPEND && (st = take_seqs(q, e)) != 0)
        goto out;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    while (!e->done && q->head != e)
        pthread_cond_wait(&e->cv, &q->mu);
    if (e->done) {
        st = WALX_Q_DONE;
    } else if (q->closed || q->poison_rc) {
        /* Closed or failed while this entry waited: leave the queue. */
        st = q->closed ? WALX_Q_CLOSED : q->poison_rc;
        pop_through(q, e);
    } else {
        st = WALX_Q_LEADER;
    }
out:
    pthread_mutex_unlock(&q->mu);
    /* Nobody signals `e` any more: it is done, refused, or the head (only
     * the head is signalled, once, and it has woken). */
    pthread_cond_destroy(&e->cv);
    return st;
}

walx_qentry *walx_queue_group(walx_queue *q, walx_qentry *e, size_t max_bytes) {
    pthread_mutex_lock(&q->mu);
    walx_qentry *last = e;
    size_t total = e->len;
    if (e->kind == WALX_Q_APPEND) {
        while (last->next && last->next->kind == WALX_Q_APPEND &&
               total + last->next->len <= max_bytes) {
            last = last->next;
            total += last->len;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return last;
}

void walx_queue_finish(walx_queue *q, walx_qentry *e, walx_qentry *last, int rc,
                       int close_after) {
    pthread_mutex_lock(&q->mu);
    if (rc < 0 && q->poison_rc == 0)
        q->poison_rc = rc;
    if (close_after)
        q->closed = 1;
    if (rc < 0 || close_after)
        pthread_cond_broadcast(&q->synced_cv);
    for (walx_qentry *x = e;; x = x->next) {
        x->rc = rc;
        /* The leader's own entry is not marked done: it returns directly. */
        if (x != e) {
            x->done = 1;
            pthread_cond_signal(&x->cv);
        }
        if (x == last)
            break;
    }
    pop_through(q, last);
    pthread_mutex_unlock(&q->mu);
}

void walx_queue_set_seqs(walx_queue *q, uint64_t last, uint64_t synced) {
    pthread_mutex_lock(&q->mu);
    q->last_seq = last;
    q->synced_seq = synced;
    pthread_mutex_unlock(&q->mu);
}

void walx_queue_seqs(walx_queue *q, uint64_t *last, uint64_t *synced) {
    pthread_mutex_lock(&q->mu);
    *last = q->last_seq;
    *synced = q->synced_seq;
    pthread_mutex_unlock(&q->mu);
}

void walx_queue_synced(walx_queue *q, uint64_t seq) {
    pthread_mutex_lock(&q->mu);
    if (seq > q->synced_seq) {
        q->synced_seq = seq;
        pthread_cond_broadcast(&q->synced_cv);
    }
    pthread_mutex_unlock(&q->mu);
}

void walx_queue_close(walx_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->synced_cv);
    pthread_mutex_unlock(&q->mu);
}

/* One timed wait on synced_cv; returns pthread_cond_*wait's result.
 * REQUIRES: q->mu held; `deadline` from the clock synced_cv uses. */
static int wait_until(walx_queue *q, const struct timespec *deadline, int64_t timeout_ns,
                      const struct timespec *start) {
#if WALX_COND_MONOTONIC
    (void)timeout_ns;
    (void)start;
    return pthread_cond_timedwait(&q->synced_cv, &q->mu, deadline);
#else
    (void)deadline;
    struct timespec now, rel;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left = timeout_ns - ((int64_t)(now.tv_sec - start->tv_sec) * 1000000000 +
                                 (now.tv_nsec - start->tv_nsec));
    if (left <= 0)
        return ETIMEDOUT;
    rel.tv_sec = (time_t)(left / 1000000000);
    rel.tv_nsec = (long)(left % 1000000000);
    return pthread_cond_timedwait_relative_np(&q->synced_cv, &q->mu, &rel);
#endif
}

int walx_queue_wait_synced(walx_queue *q, uint64_t seq, int64_t timeout_ns) {
    struct timespec start, deadline;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (timeout_ns >= 0) {
        deadline.tv_sec = start.tv_sec + (time_t)(timeout_ns / 1000000000);
        deadline.tv_nsec = start.tv_nsec + (long)(timeout_ns % 1000000000);
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000;
        }
    }
    pthread_mutex_lock(&q->mu);
    int st;
    for (;;) {
        /* Durable is durable: a sequence synced before a close or a failure
         * is reported as such. */
        if (q->synced_seq >= seq) {
            st = WALX_Q_DONE;
            break;
        }
        if (q->closed || q->poison_rc) {
            st = q->closed ? WALX_Q_CLOSED : q->poison_rc;
            break;
        }
        if (timeout_ns < 0) {
            pthread_cond_wait(&q->synced_cv, &q->mu);
        } else if (wait_until(q, &deadline, timeout_ns, &start) == ETIMEDOUT) {
            st = q->synced_seq >= seq ? WALX_Q_DONE : WALX_Q_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return st;
}
