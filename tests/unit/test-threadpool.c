/* test-threadpool.c — core/threadpool: every ith runs exactly once per run, over many runs in a row, with
 * pools of 1, 2 and 4 threads (more threads than cores must still work), idle pools free cleanly, and the
 * round-trip cost of an empty threadpool_run is printed (not asserted: the CI machine is shared). */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "threadpool.h"
#include "test-util.h"

enum { MAX_NTH = 8 };

typedef struct {
    atomic_int hits[MAX_NTH];
    atomic_int bad_nth;
    int expect_nth;
    int64_t sum[MAX_NTH]; /* plain writes from workers: visibility after threadpool_run returns */
} CountCtx;

static void count_task(void *p, int ith, int nth)
{
    CountCtx *c = p;
    if (nth != c->expect_nth || ith < 0 || ith >= nth)
        atomic_fetch_add(&c->bad_nth, 1);
    else {
        atomic_fetch_add(&c->hits[ith], 1);
        c->sum[ith] += ith + 1;
    }
}

static void empty_task(void *p, int ith, int nth)
{
    (void)p;
    (void)ith;
    (void)nth;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check_pool(int n)
{
    /* fewer runs when the pool has more threads than the machine has cores (each run then waits for the
     * scheduler), so the test stays short on a busy 2-core CI box */
    int n_runs = n > 2 ? 3000 : 20000;
    ThreadPool *tp = NULL;
    CountCtx c;

    CHECK_INT(threadpool_new(n, &tp), 0);
    if (!tp)
        return;
    CHECK_INT(threadpool_size(tp), n);
    memset(&c, 0, sizeof(c));
    c.expect_nth = n;
    for (int r = 0; r < n_runs; r++) {
        threadpool_run(tp, count_task, &c);
        /* every run must have finished every ith before returning */
        if (r % 997 == 0)
            for (int i = 0; i < n; i++)
                CHECK_INT(atomic_load(&c.hits[i]), r + 1);
    }
    /* a run after a pause long enough for the workers to fall asleep on the futex */
    usleep(20000);
    threadpool_run(tp, count_task, &c);
    CHECK_INT(atomic_load(&c.bad_nth), 0);
    for (int i = 0; i < n; i++) {
        CHECK_INT(atomic_load(&c.hits[i]), n_runs + 1);
        CHECK_INT(c.sum[i], (int64_t)(n_runs + 1) * (i + 1));
    }

    double t0 = now_s();
    int reps = n > 2 ? 1000 : 20000;
    for (int r = 0; r < reps; r++)
        threadpool_run(tp, empty_task, NULL);
    double us = (now_s() - t0) / reps * 1e6;
    printf("threadpool %d threads: empty run round trip %.2f us\n", n, us);
    fflush(stdout);
    threadpool_free(tp);
}

int main(void)
{
    ThreadPool *tp = NULL;

    check_pool(1);
    check_pool(2);
    check_pool(4);

    /* free right after creation (workers may not even have started) and with sleeping workers */
    CHECK_INT(threadpool_new(3, &tp), 0);
    threadpool_free(tp);
    tp = NULL;
    CHECK_INT(threadpool_new(2, &tp), 0);
    usleep(20000);
    threadpool_free(tp);
    threadpool_free(NULL);

    /* default size: number of CPUs, at least 1 */
    tp = NULL;
    CHECK_INT(threadpool_new(0, &tp), 0);
    CHECK(tp && threadpool_size(tp) >= 1);
    threadpool_free(tp);
    CHECK(threadpool_new(100000, &tp) < 0);
    return test_exit();
}
