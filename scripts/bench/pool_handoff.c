/* pool_handoff.c: the two costs behind Sources/CKernels/pool.c's spin limit, on this machine.
   - how long LUCERNA_POOL_SPINS (16,384) PAUSE instructions take (the time an idle pool thread spins before it
     sleeps);
   - how long a handoff takes (one thread publishes a generation, the other acknowledges it) when the other thread
     spins on the generation (mode 0) and when it sleeps on a condition variable (mode 1), after 2 ms idle each time.
   Build and run:  cc -O2 -pthread -o /tmp/pool_handoff scripts/bench/pool_handoff.c
                   /tmp/pool_handoff 0; /tmp/pool_handoff 1
   docs/guide/performance.md quotes its output. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SPINS 16384
#define ROUNDS 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static atomic_long generation, acknowledged;
static int sleeping;

static double now(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (double)time.tv_sec + (double)time.tv_nsec * 1e-9;
}

static int ascending(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *worker(void *unused) {
    (void)unused;
    long seen = 0;
    for (;;) {
        if (sleeping) {
            pthread_mutex_lock(&lock);
            while (atomic_load(&generation) == seen) pthread_cond_wait(&wake, &lock);
            pthread_mutex_unlock(&lock);
        } else {
            while (atomic_load(&generation) == seen) __builtin_ia32_pause();
        }
        seen = atomic_load(&generation);
        atomic_store(&acknowledged, seen);
    }
    return NULL;
}

int main(int argc, char **argv) {
    sleeping = argc > 1 && atoi(argv[1]) == 1;
    double fastest = 1e9;
    for (int round = 0; round < 20; round++) {
        const double start = now();
        for (int i = 0; i < SPINS; i++) __builtin_ia32_pause();
        const double elapsed = now() - start;
        if (elapsed < fastest) fastest = elapsed;
    }
    printf("%d PAUSE instructions: %.0f us (fastest of 20)\n", SPINS, fastest * 1e6);
    pthread_t thread;
    pthread_create(&thread, NULL, worker, NULL);
    const struct timespec idle = {0, 2000000};
    static double latencies[ROUNDS];
    for (long round = 1; round <= ROUNDS; round++) {
        nanosleep(&idle, NULL);
        const double start = now();
        pthread_mutex_lock(&lock);
        atomic_store(&generation, round);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&lock);
        while (atomic_load(&acknowledged) != round) __builtin_ia32_pause();
        latencies[round - 1] = now() - start;
    }
    double total = 0;
    for (int i = 0; i < ROUNDS; i++) total += latencies[i];
    qsort(latencies, ROUNDS, sizeof(double), ascending);
    printf("handoff to a %s thread: median %.1f us, 90th percentile %.1f us, mean %.1f us (%d rounds)\n",
           sleeping ? "sleeping" : "spinning", latencies[ROUNDS / 2] * 1e6, latencies[ROUNDS * 9 / 10] * 1e6,
           total / ROUNDS * 1e6, ROUNDS);
    return 0;
}
