/* threadpool.h — a persistent pool of worker threads for CPU kernels.
 * threadpool_run(fn, ctx) calls fn(ctx, ith, nth) once for each ith in [0, nth) — the caller runs ith 0 —
 * and returns when all have finished. Workers spin briefly then sleep on a futex between jobs, so the
 * per-call overhead at decode time is a few microseconds. Not reentrant: one run at a time per pool. */
#ifndef MYNA_THREADPOOL_H
#define MYNA_THREADPOOL_H

typedef struct ThreadPool ThreadPool;
typedef void (*ThreadTask)(void *ctx, int ith, int nth);

int threadpool_new(int n_threads, ThreadPool **ret); /* n_threads <= 0: number of online CPUs */
void threadpool_run(ThreadPool *tp, ThreadTask fn, void *ctx);
int threadpool_size(const ThreadPool *tp);
void threadpool_free(ThreadPool *tp); /* accepts NULL */

#endif
