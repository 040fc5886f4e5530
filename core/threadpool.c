/* threadpool.c — persistent worker pool for the CPU kernels (core/threadpool.h).
 *
 * What it is: n−1 pthreads that wait for a "generation" counter to change, run the posted task with their
 * index, and count themselves done; the caller runs index 0 and then waits for the count to reach zero.
 * Both waits spin for a short while (SPIN_NS, so back-to-back decode ops never touch the kernel) and then
 * sleep on a Linux futex on the same word. A sleeper count per side lets the other side skip the wake
 * syscall when nobody sleeps; all four accesses of that handshake are seq_cst (Dekker pattern).
 * Each index is claimed before it runs (a per-index word set to the job's generation by CAS): after its own
 * index the caller claims and runs every index whose worker has not woken up yet. On an oversubscribed
 * machine a descheduled worker therefore costs nothing (the caller does its part) instead of a scheduler
 * time slice per op; on an idle machine the spinning workers claim their index at once.
 * What it is not: a task queue or work stealing inside a task; tasks split their work statically by
 * (ith, nth), and an index only ever runs once per job, on whichever thread claimed it.
 */
#include "threadpool.h"

#include "clock.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { SPIN_NS = 50 * 1000, MAX_THREADS = 512 };

struct ThreadPool {
    /* Written by the caller, read by workers: task + generation. */
    _Alignas(64) atomic_uint gen;
    atomic_int worker_sleepers;
    ThreadTask fn;
    void *ctx;
    int stop;
    /* Written by workers, read by the caller. */
    _Alignas(64) atomic_uint pending;
    atomic_int caller_sleeping;
    _Alignas(64) int n_threads;
    int n_started;
    pthread_t *threads; /* owned, [n_threads − 1] */
    atomic_uint *claimed; /* owned, [n_threads]: the generation for which index i was last claimed */
};

typedef struct {
    ThreadPool *tp;
    int ith;
} WorkerArg;

static long futex_wait(atomic_uint *addr, unsigned expected)
{
    return syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(atomic_uint *addr)
{
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Busy-wait step: pause, and after the first few µs also yield, so that an oversubscribed machine (more
 * pool threads than free cores) runs the thread we wait for instead of us. */
static void relax(unsigned i)
{
    if (i < 2048)
        cpu_relax();
    else
        sched_yield();
}

/* Spin until *addr != value or SPIN_NS elapse; returns the last value seen. */
static unsigned spin_while_equal(atomic_uint *addr, unsigned value)
{
    uint64_t t0 = 0;
    for (unsigned i = 0;; i++) {
        unsigned v = atomic_load_explicit(addr, memory_order_acquire);
        if (v != value)
            return v;
        if ((i & 63) == 63) {
            uint64_t t = clock_now_ns();
            if (!t0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                return v;
        }
        relax(i);
    }
}

/* Claim index ith for generation g: exactly one of the worker and the caller succeeds. Claims only move
 * forward (wrap-safe), so a worker that read an old generation before being descheduled cannot claim it
 * after the caller has moved on. */
static int claim(ThreadPool *tp, int ith, unsigned g)
{
    unsigned old = atomic_load_explicit(&tp->claimed[ith], memory_order_acquire);
    return (int)(g - old) > 0 && atomic_compare_exchange_strong(&tp->claimed[ith], &old, g);
}

static void finish_one(ThreadPool *tp)
{
    if (atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_acq_rel) == 1 &&
        atomic_load(&tp->caller_sleeping))
        futex_wake_all(&tp->pending);
}

static void *worker_main(void *arg)
{
    WorkerArg wa = *(WorkerArg *)arg;
    ThreadPool *tp = wa.tp;
    unsigned seen = 0; /* the generation at creation; the pool cannot post before threadpool_new returns */

    free(arg);
    for (;;) {
        unsigned g = spin_while_equal(&tp->gen, seen);
        if (g == seen) {
            atomic_fetch_add(&tp->worker_sleepers, 1);
            while ((g = atomic_load(&tp->gen)) == seen)
                futex_wait(&tp->gen, seen);
            atomic_fetch_sub(&tp->worker_sleepers, 1);
        }
        seen = g;
        if (tp->stop)
            break;
        if (!claim(tp, wa.ith, g))
            continue; /* the caller ran our index while we were not scheduled */
        tp->fn(tp->ctx, wa.ith, tp->n_threads);
        finish_one(tp);
    }
    return NULL;
}

/* Publish a new generation (the task fields were written before) and wake sleeping workers. */
static void post(ThreadPool *tp)
{
    atomic_store(&tp->pending, (unsigned)(tp->n_started));
    atomic_fetch_add(&tp->gen, 1); /* seq_cst: pairs with worker_sleepers++ in worker_main */
    if (atomic_load(&tp->worker_sleepers) > 0)
        futex_wake_all(&tp->gen);
}

static void wait_done(ThreadPool *tp)
{
    uint64_t t0 = 0;
    unsigned v;

    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&tp->pending, memory_order_acquire) == 0)
            return;
        if ((i & 63) == 63) {
            uint64_t t = clock_now_ns();
            if (!t0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                break;
        }
        relax(i);
    }
    atomic_store(&tp->caller_sleeping, 1); /* seq_cst: pairs with pending-- in worker_main */
    while ((v = atomic_load(&tp->pending)) != 0)
        futex_wait(&tp->pending, v);
    atomic_store(&tp->caller_sleeping, 0);
}

static int count_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int threadpool_new(int n_threads, ThreadPool **ret)
{
    ThreadPool *tp;
    int r;

    if (n_threads <= 0)
        n_threads = count_cpus();
    if (n_threads > MAX_THREADS)
        return -EINVAL;
    tp = aligned_alloc(64, (sizeof(*tp) + 63) / 64 * 64);
    if (!tp)
        return -ENOMEM;
    *tp = (ThreadPool){.n_threads = n_threads};
    atomic_init(&tp->gen, 0);
    atomic_init(&tp->worker_sleepers, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->caller_sleeping, 0);
    tp->claimed = calloc((size_t)n_threads, sizeof(*tp->claimed));
    if (!tp->claimed) {
        r = -ENOMEM;
        goto fail;
    }
    for (int i = 0; i < n_threads; i++)
        atomic_init(&tp->claimed[i], 0);
    if (n_threads > 1) {
        tp->threads = calloc((size_t)n_threads - 1, sizeof(*tp->threads));
        if (!tp->threads) {
            r = -ENOMEM;
            goto fail;
        }
    }
    for (int i = 1; i < n_threads; i++) {
        WorkerArg *wa = malloc(sizeof(*wa));
        if (!wa) {
            r = -ENOMEM;
            goto fail;
        }
        *wa = (WorkerArg){tp, i};
        r = -pthread_create(&tp->threads[i - 1], NULL, worker_main, wa);
        if (r < 0) {
            free(wa);
            goto fail;
        }
        tp->n_started++;
    }
    *ret = tp;
    return 0;
fail:
    threadpool_free(tp);
    return r;
}

void threadpool_run(ThreadPool *tp, ThreadTask fn, void *ctx)
{
    if (tp->n_started == 0) {
        fn(ctx, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->ctx = ctx;
    post(tp);
    fn(ctx, 0, tp->n_threads);
    /* indices whose workers have not claimed them yet run here, one after the other */
    unsigned g = atomic_load_explicit(&tp->gen, memory_order_relaxed);
    for (int i = 1; i <= tp->n_started; i++)
        if (claim(tp, i, g)) {
            fn(ctx, i, tp->n_threads);
            atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_acq_rel);
        }
    wait_done(tp);
}

int threadpool_size(const ThreadPool *tp)
{
    return tp->n_threads;
}

void threadpool_free(ThreadPool *tp)
{
    if (!tp)
        return;
    if (tp->n_started > 0) {
        tp->stop = 1;
        tp->fn = NULL;
        post(tp);
        for (int i = 0; i < tp->n_started; i++)
            pthread_join(tp->threads[i], NULL);
    }
    free(tp->threads);
    free(tp->claimed);
    free(tp);
}
