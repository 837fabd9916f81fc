/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * The group-commit queue (leveldb DBImpl::Write): callers wait on a
 * condition variable without the GIL; the caller at the head leads, takes
 * the appends queued behind it, writes and syncs them once, then wakes
 * them with the shared result. Exclusive entries (rotate, sync, close) run
 * alone at the head. Nothing here allocates: entries live on the callers'
 * stacks until they are done. */
#include "walx.h"

int walx_queue_init(walx_queue *q) {
    q->head = q->tail = NULL;
    q->poison_rc = 0;
    q->closed = 0;
    int rc = pthread_mutex_init(&q->mu, NULL);
    return rc ? -rc : 0;
}

void walx_queue_destroy(walx_queue *q) { pthread_mutex_destroy(&q->mu); }

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
