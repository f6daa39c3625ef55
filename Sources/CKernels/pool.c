#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

/* The engine's worker threads (see CKernels.h). One region runs at a time: the calling thread publishes the job
   and bumps `generation`; every pool thread sees the bump, runs its index if the job has one, and acknowledges
   by decrementing `remaining`, so the job is never overwritten while a pool thread may still read it. Idle pool
   threads spin for a while (a region usually follows another within microseconds, and a handoff to a sleeping
   thread measured a median of 15-16 us against 0.2-0.3 us to a spinning one, `scripts/bench/pool_handoff.c` on
   the AMD EPYC VM of BENCHMARKS.md, 2026-12-05) and then sleep on a condition variable.
   Index k always runs on the same thread, so a tensor a thread wrote in one region is in its core's cache in
   the next, as with OpenMP's static schedule. */

#define LUCERNA_POOL_MAX_THREADS 255
/* PAUSE instructions an idle thread spins before it sleeps: 394-446 us on that AMD EPYC (Zen 3) VM. */
#define LUCERNA_POOL_SPINS 16384

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER; /* guards pool_started, pool_sleepers */
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static atomic_long pool_generation;
static atomic_long pool_remaining;
static atomic_int pool_busy;
static long pool_started;
static long pool_sleepers;
static _Thread_local int pool_inside;

static struct {
    lucerna_pool_body body;
    void *context;
    long workers;
} pool_job;

typedef struct {
    long index, seen;
} PoolThreadStart;

static inline void pool_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *pool_thread(void *argument) {
    PoolThreadStart start = *(PoolThreadStart *)argument;
    free(argument);
    pool_inside = 1; /* a region's body that starts another region runs it on its own thread */
    long seen = start.seen;
    for (;;) {
        long generation;
        int spins = 0;
        while ((generation = atomic_load_explicit(&pool_generation, memory_order_acquire)) == seen) {
            if (++spins < LUCERNA_POOL_SPINS) {
                pool_pause();
                continue;
            }
            pthread_mutex_lock(&pool_lock);
            pool_sleepers++;
            while ((generation = atomic_load_explicit(&pool_generation, memory_order_acquire)) == seen) {
                pthread_cond_wait(&pool_wake, &pool_lock);
            }
            pool_sleepers--;
            pthread_mutex_unlock(&pool_lock);
            break;
        }
        seen = generation;
        if (start.index < pool_job.workers) pool_job.body(pool_job.context, start.index);
        atomic_fetch_sub_explicit(&pool_remaining, 1, memory_order_acq_rel);
    }
    return NULL;
}

/* A child of fork() has only the forking thread: it starts its own pool threads when it needs them. */
static void pool_after_fork_in_child(void) {
    pthread_mutex_init(&pool_lock, NULL);
    pthread_cond_init(&pool_wake, NULL);
    pool_started = 0;
    pool_sleepers = 0;
    pool_inside = 0;
    atomic_store_explicit(&pool_busy, 0, memory_order_relaxed);
}

static pthread_once_t pool_fork_handler = PTHREAD_ONCE_INIT;
static void pool_register_fork_handler(void) { pthread_atfork(NULL, NULL, pool_after_fork_in_child); }

/* Starts pool threads until there are `count` (at most LUCERNA_POOL_MAX_THREADS); returns how many there are.
   Called while no region runs (pool_busy held): pool_started changes only here, so it is read without the lock. */
static long pool_grow(long count) {
    if (count > LUCERNA_POOL_MAX_THREADS) count = LUCERNA_POOL_MAX_THREADS;
    if (pool_started >= count) return pool_started; /* every region after the first: no lock */
    pthread_once(&pool_fork_handler, pool_register_fork_handler);
    pthread_mutex_lock(&pool_lock);
    while (pool_started < count) {
        PoolThreadStart *start = malloc(sizeof *start);
        if (start == NULL) break;
        start->index = pool_started + 1;
        start->seen = atomic_load_explicit(&pool_generation, memory_order_relaxed);
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_t thread;
        int failed = pthread_create(&thread, &attributes, pool_thread, start);
        pthread_attr_destroy(&attributes);
        if (failed) {
            free(start);
            break;
        }
        pool_started++;
    }
    long started = pool_started;
    pthread_mutex_unlock(&pool_lock);
    return started;
}

static void pool_run_serially(long workers, lucerna_pool_body body, void *context) {
    for (long index = 0; index < workers; index++) body(context, index);
}

void lucerna_pool_run(long workers, lucerna_pool_body body, void *context) {
    if (workers <= 1 || pool_inside) {
        pool_run_serially(workers, body, context);
        return;
    }
    if (atomic_exchange_explicit(&pool_busy, 1, memory_order_acquire)) {
        /* Another thread's region is running: this one runs on the calling thread, the same chunks in order. */
        pool_run_serially(workers, body, context);
        return;
    }
    long threads = pool_grow(workers - 1);
    if (threads < workers - 1) {
        atomic_store_explicit(&pool_busy, 0, memory_order_release);
        pool_run_serially(workers, body, context);
        return;
    }
    pool_inside = 1;
    pool_job.body = body;
    pool_job.context = context;
    pool_job.workers = workers;
    atomic_store_explicit(&pool_remaining, threads, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool_generation, 1, memory_order_release);
    pthread_mutex_lock(&pool_lock);
    if (pool_sleepers > 0) pthread_cond_broadcast(&pool_wake);
    pthread_mutex_unlock(&pool_lock);
    body(context, 0);
    int spins = 0;
    while (atomic_load_explicit(&pool_remaining, memory_order_acquire) > 0) {
        if (++spins < LUCERNA_POOL_SPINS) {
            pool_pause();
        } else {
            sched_yield();
        }
    }
    pool_inside = 0;
    atomic_store_explicit(&pool_busy, 0, memory_order_release);
}

typedef struct {
    lucerna_pool_range_body body;
    void *context;
    long count, grain;
    atomic_long next;
} PoolDynamicJob;

static void pool_dynamic_worker(void *context, long worker) {
    PoolDynamicJob *job = context;
    for (;;) {
        long start = atomic_fetch_add_explicit(&job->next, job->grain, memory_order_relaxed);
        if (start >= job->count) return;
        long end = job->count - start > job->grain ? start + job->grain : job->count;
        job->body(job->context, worker, start, end);
    }
}

void lucerna_pool_run_dynamic(long workers, long count, long grain, lucerna_pool_range_body body, void *context) {
    if (count <= 0) return;
    PoolDynamicJob job = {.body = body, .context = context, .count = count, .grain = grain > 0 ? grain : 1};
    atomic_init(&job.next, 0);
    lucerna_pool_run(workers, pool_dynamic_worker, &job);
}
