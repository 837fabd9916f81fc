/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 the walx authors
 *
 * S4 without Python: how many durable appends per second the disk and the
 * scheduler allow when THREADS threads append 107-byte records (a 7-byte
 * header and 100 bytes, S4's size) to one file and each waits until its
 * record is fdatasync'ed. No GIL, no framing, no CRC: an upper bound for
 * any group-commit scheme on this machine, and a way to compare schemes.
 *
 *   cc -O2 -Wall -Wextra -pthread -o group_commit benchmarks/group_commit.c
 *   ./group_commit MODE THREADS APPENDS_PER_THREAD PATH [recycled]
 *
 * MODE:
 *   independent  no group commit: every thread write()s and fdatasync()s
 *                its own record (the kernel merges concurrent syncs);
 *   queue        walx's and LevelDB's scheme: the head of the queue takes
 *                every record queued behind it, writes them in one write(),
 *                fdatasyncs, wakes them, and the next head leads;
 *   pipelined:P  as queue, but the next head may claim and write its group
 *                while up to P earlier groups are still in fdatasync (P
 *                syncs in flight); groups are acknowledged in order.
 * "recycled" overwrites an existing file from offset 0 instead of
 * truncating it (no size change for fdatasync to commit).
 *
 * Prints one line: mode, threads, appends/s, appends per fdatasync.
 * Exit status 2 on bad arguments, 1 on an I/O error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REC 107
#define MAX_THREADS 64

typedef struct entry {
    struct entry *next;
    pthread_cond_t cv;
    int done;
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static entry *head, *tail;     /* queued, not yet claimed by a leader */
static int writing;            /* a leader is claiming or writing */
static int syncing;            /* leaders in fdatasync */
static int max_syncing;        /* P; 1 for queue */
static int pipelined;          /* the next head may write during a sync */
static long next_group, next_ack;
static int group_done[MAX_THREADS + 1];
static entry *group_first[MAX_THREADS + 1];
static int group_len[MAX_THREADS + 1];
static long syncs, synced_records;
static int fd, io_failed;
static long per_thread;
static char record[REC];

static void fail(const char *what) {
    perror(what);
    io_failed = 1;
    exit(1);
}

static void write_all(const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail("write");
        p += w;
        n -= (size_t)w;
    }
}

static void sync_file(void) {
    if (fdatasync(fd) != 0)
        fail("fdatasync");
}

static void append_independent(void) {
    write_all(record, REC);
    sync_file();
    pthread_mutex_lock(&mu);
    syncs++;
    synced_records++;
    pthread_mutex_unlock(&mu);
}

/* Leads one group: claims the queue, writes it, syncs, acknowledges every
 * finished group in order. REQUIRES: mu held, the caller at the head. */
static void lead(void) {
    int n = 0;
    entry *first = head;
    for (entry *x = head; x; x = x->next)
        n++;
    head = tail = NULL;
    writing = 1;
    long g = next_group++;
    int slot = (int)(g % (MAX_THREADS + 1));
    group_first[slot] = first;
    group_len[slot] = n;
    group_done[slot] = 0;
    pthread_mutex_unlock(&mu);

    char buf[REC * MAX_THREADS];
    for (int i = 0; i < n; i++)
        memcpy(buf + (size_t)i * REC, record, REC);
    write_all(buf, (size_t)n * REC);

    pthread_mutex_lock(&mu);
    syncing++;
    if (pipelined) {
        writing = 0;
        if (head)
            pthread_cond_signal(&head->cv);
    }
    pthread_mutex_unlock(&mu);
    sync_file();
    pthread_mutex_lock(&mu);
    syncs++;
    synced_records += n;
    syncing--;
    writing = pipelined ? writing : 0;
    group_done[slot] = 1;
    while (next_ack < next_group && group_done[next_ack % (MAX_THREADS + 1)]) {
        int s = (int)(next_ack++ % (MAX_THREADS + 1));
        group_done[s] = 0;
        entry *x = group_first[s];
        for (int i = 0; i < group_len[s]; i++) {
            entry *nx = x->next;
            x->done = 1;
            pthread_cond_signal(&x->cv);
            x = nx;
        }
    }
    if (head)
        pthread_cond_signal(&head->cv);
}

static void append_grouped(void) {
    entry e;
    e.next = NULL;
    e.done = 0;
    pthread_cond_init(&e.cv, NULL);
    pthread_mutex_lock(&mu);
    if (tail)
        tail->next = &e;
    else
        head = &e;
    tail = &e;
    while (!e.done) {
        if (head == &e && !writing && syncing < max_syncing)
            lead();      /* returns with mu held; e is done (its own group) */
        else
            pthread_cond_wait(&e.cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    pthread_cond_destroy(&e.cv);
}

static void *run(void *arg) {
    int independent = *(int *)arg;
    for (long i = 0; i < per_thread; i++) {
        if (independent)
            append_independent();
        else
            append_grouped();
    }
    return NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: group_commit independent|queue|pipelined:P THREADS "
                    "APPENDS_PER_THREAD PATH [recycled]\n"
                    "  THREADS 1..%d, APPENDS_PER_THREAD >= 1, P 1..%d\n",
            MAX_THREADS, MAX_THREADS);
    return 2;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6)
        return usage();
    int independent = 0;
    const char *mode = argv[1];
    if (strcmp(mode, "independent") == 0) {
        independent = 1;
    } else if (strcmp(mode, "queue") == 0) {
        max_syncing = 1;
    } else if (strncmp(mode, "pipelined:", 10) == 0) {
        char *end;
        long p = strtol(mode + 10, &end, 10);
        if (*end || p < 1 || p > MAX_THREADS)
            return usage();
        max_syncing = (int)p;
        pipelined = 1;
    } else {
        return usage();
    }
    char *end;
    long threads = strtol(argv[2], &end, 10);
    if (*end || threads < 1 || threads > MAX_THREADS)
        return usage();
    per_thread = strtol(argv[3], &end, 10);
    if (*end || per_thread < 1)
        return usage();
    int recycled = argc == 6;
    if (recycled && strcmp(argv[5], "recycled") != 0)
        return usage();
    fd = open(argv[4], O_WRONLY | O_CREAT | (recycled ? 0 : O_TRUNC), 0644);
    if (fd < 0)
        fail(argv[4]);
    memset(record, 'x', REC);

    pthread_t th[MAX_THREADS];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, run, &independent) != 0)
            fail("pthread_create");
    for (long i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fd);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s threads=%ld appends=%ld appends/s=%.0f appends/fdatasync=%.2f\n", mode, threads,
           synced_records, (double)synced_records / s, (double)synced_records / (double)syncs);
    return io_failed;
}
