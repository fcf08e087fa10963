#define _GNU_SOURCE  // sched_getaffinity and CPU_COUNT
#include "dfc_parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

// How long a worker spins for the next job before it sleeps.
#define SPIN_NANOSECONDS 10000

// The current job. `ticket` holds the job's generation (high 32 bits) and
// the next unclaimed index (low 32); a worker claims an index by a
// compare-and-swap on it, which succeeds only while the job it read `task`,
// `context` and `count` for is still the current one. A caller closes the
// finished job (a new generation with no index left) before it replaces
// those fields, and publishes its own job under the generation after that:
// a worker that read the old ticket and then the new fields fails its
// compare-and-swap instead of running a new task under an old claim.
static _Atomic uint64_t ticket;
static void (*_Atomic job_task)(void *, size_t);
static void *_Atomic job_context;
static _Atomic uint32_t job_count;
static _Atomic uint32_t job_done;

static pthread_mutex_t caller_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static _Atomic int sleepers;

// While positive, idle workers keep spinning (yielding now and then) instead of sleeping.
static _Atomic int holds;

static pthread_once_t started = PTHREAD_ONCE_INIT;
static size_t width = 1;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// Claims and runs indices of the current job until none are left; returns how many it ran.
static uint32_t work(void) {
    uint32_t ran = 0;
    for (;;) {
        uint64_t t = atomic_load(&ticket);
        void (*task)(void *, size_t) = atomic_load_explicit(&job_task, memory_order_relaxed);
        void *context = atomic_load_explicit(&job_context, memory_order_relaxed);
        uint32_t count = atomic_load_explicit(&job_count, memory_order_relaxed);
        uint32_t index = (uint32_t)t;
        if (index >= count) return ran;
        if (!atomic_compare_exchange_weak(&ticket, &t, t + 1)) continue;
        task(context, index);
        atomic_fetch_add_explicit(&job_done, 1, memory_order_release);
        ran++;
    }
}

static void *worker(void *unused) {
    (void)unused;
    uint32_t seen = (uint32_t)(atomic_load(&ticket) >> 32);
    for (;;) {
        uint64_t deadline = now_ns() + SPIN_NANOSECONDS;
        unsigned spins = 0;
        while ((uint32_t)(atomic_load_explicit(&ticket, memory_order_acquire) >> 32) == seen) {
            CPU_RELAX();
            if (++spins % 256 != 0 || now_ns() <= deadline) continue;
            if (atomic_load_explicit(&holds, memory_order_relaxed) > 0) {
                // Held: stay awake for the next job, but let whatever else wants this core have it.
                sched_yield();
                continue;
            }
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            while ((uint32_t)(atomic_load(&ticket) >> 32) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
            break;
        }
        seen = (uint32_t)(atomic_load(&ticket) >> 32);
        work();
    }
    return NULL;
}

static void start(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) cores = CPU_COUNT(&set);
#endif
    size_t wanted = cores > 1 ? (size_t)cores : 1;
    width = 1;
    for (size_t i = 1; i < wanted; i++) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attributes, worker, NULL) == 0) width++;
        pthread_attr_destroy(&attributes);
    }
}

void dfc_parallel_hold(int held) { atomic_fetch_add(&holds, held ? 1 : -1); }

size_t dfc_parallel_width(void) {
    pthread_once(&started, start);
    return width;
}

void dfc_parallel_run(size_t tasks, void (*task)(void *context, size_t index), void *context) {
    if (tasks == 0) return;
    if (tasks == 1 || tasks >= UINT32_MAX || dfc_parallel_width() == 1 || pthread_mutex_trylock(&caller_lock) != 0) {
        for (size_t i = 0; i < tasks; i++) task(context, i);
        return;
    }
    // The previous job is finished (its caller waited for every index). Close it, so that no claim read
    // under its ticket can succeed, before its fields are replaced; then publish this job.
    uint64_t generation = (atomic_load(&ticket) >> 32) + 1;
    atomic_store(&ticket, generation << 32 | UINT32_MAX);
    atomic_store_explicit(&job_task, task, memory_order_relaxed);
    atomic_store_explicit(&job_context, context, memory_order_relaxed);
    atomic_store_explicit(&job_count, (uint32_t)tasks, memory_order_relaxed);
    atomic_store_explicit(&job_done, 0, memory_order_relaxed);
    atomic_store(&ticket, (generation + 1) << 32);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    work();
    // A worker that took a task may have lost its core (a busy machine): after a while, let others run.
    for (unsigned spins = 1; atomic_load_explicit(&job_done, memory_order_acquire) < (uint32_t)tasks; spins++) {
        CPU_RELAX();
        if (spins % 1024 == 0) sched_yield();
    }
    pthread_mutex_unlock(&caller_lock);
}
