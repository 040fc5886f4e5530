/* bench-matmul.c — CPU kernel benchmark (not a test): measured memory read bandwidth, then per weight dtype
 *  - one token (GEMV): K×N = 4096×16384 weights, several matrices cycled (≥ 256 MiB, far beyond L3) →
 *    GB/s of weight bytes read and % of the measured bandwidth;
 *  - many tokens (GEMM, T = 8, 16, 64 and 256) on 4096×4096 → GFLOP/s (2·K·N·T per call).
 *  - hot: one-thread one-token matmul over 32 rows that stay in L2, timed in thread CPU time — the kernel's
 *    compute ceiling in GB/s per core, robust to other processes sharing the machine.
 * Usage: bench-matmul [-t threads] [-q] [-b] [DTYPE ...]   (-q: shorter runs; -b: only the bandwidth line).
 * Results go in docs/PERFORMANCE.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu-features.h"
#include "cpu/matmul.h" /* private to the CPU backend */
#include "quant.h"
#include "threadpool.h"
#include "bench-util.h"

typedef struct {
    const uint64_t *buf;
    size_t n;
    uint64_t sums[64];
} ReadJob;

static void read_task(void *ctx, int ith, int nth)
{
    ReadJob *j = ctx;
    size_t lo = j->n * (size_t)ith / (size_t)nth / 8 * 8, hi = j->n * (size_t)(ith + 1) / (size_t)nth / 8 * 8;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (size_t i = lo; i < hi; i += 8) {
        s0 += j->buf[i];
        s1 += j->buf[i + 1];
        s2 += j->buf[i + 2];
        s3 += j->buf[i + 3];
        s4 += j->buf[i + 4];
        s5 += j->buf[i + 5];
        s6 += j->buf[i + 6];
        s7 += j->buf[i + 7];
    }
    j->sums[ith & 63] = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

/* Stream-read a 1 GiB buffer with every pool thread; best of 5 passes, GB/s (1e9 bytes). */
static double measure_bandwidth(ThreadPool *tp)
{
    size_t bytes = (size_t)1 << 30;
    uint64_t *buf = malloc(bytes);
    ReadJob j = {0};
    double best = 0;
    if (!buf)
        return 0;
    memset(buf, 1, bytes);
    j.buf = buf;
    j.n = bytes / 8;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = bench_now_s();
        threadpool_run(tp, read_task, &j);
        double gbs = (double)bytes / (bench_now_s() - t0) / 1e9;
        best = gbs > best ? gbs : best;
    }
    free(buf);
    return best;
}

static void fill_random(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
}

/* n_mats weight matrices [K, N] of dt; returns -errno. */
static int make_weights(DType dt, int64_t K, int64_t N, int n_mats, void **mats, size_t *mat_bytes)
{
    size_t row;
    float *src = malloc(sizeof(float) * (size_t)K);
    int rc = dtype_row_bytes(dt, K, &row);
    if (!src || rc < 0) {
        free(src);
        return rc < 0 ? rc : -ENOMEM;
    }
    *mat_bytes = row * (size_t)N;
    for (int m = 0; m < n_mats; m++) {
        mats[m] = aligned_alloc(64, (*mat_bytes + 63) / 64 * 64);
        if (!mats[m]) {
            free(src);
            return -ENOMEM;
        }
        /* a few distinct rows repeated: quantizing 16384 rows per matrix would dominate the run */
        for (int64_t n = 0; n < N; n++) {
            if (n < 64) {
                fill_random(src, (size_t)K, (uint32_t)(n * 7919 + m));
                quant_quantize_row(dt, src, (char *)mats[m] + (size_t)n * row, K);
            } else {
                memcpy((char *)mats[m] + (size_t)n * row, (char *)mats[m] + (size_t)(n % 64) * row, row);
            }
        }
    }
    free(src);
    return 0;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GB/s per core of a one-token matmul (cpu_matmul, no pool: the kernels the GEMV uses) over 32 rows
 * [K] resident in L2; the activation is quantized once per call, as in decode. */
static double hot_dot_gbs(DType dt, const void *w, size_t row, const float *x, int64_t K)
{
    CpuMatmul *mm1 = NULL;
    float y[32];
    Tensor tw, tx, ty;
    double t0, t;
    long it = 0;
    if (cpu_matmul_new(NULL, &mm1) < 0)
        return 0;
    tensor_init(&tw, dt, 2, (int64_t[]){K, 32}, (void *)w);
    tensor_init(&tx, DTYPE_F32, 2, (int64_t[]){K, 1}, (void *)x);
    tensor_init(&ty, DTYPE_F32, 2, (int64_t[]){32, 1}, y);
    t0 = thread_cpu_s();
    do {
        for (int r = 0; r < 8; r++)
            if (cpu_matmul(mm1, &ty, &tw, &tx) < 0)
                break;
        it += 8;
        t = thread_cpu_s() - t0;
    } while (t < 0.2);
    cpu_matmul_free(mm1);
    return (double)row * 32.0 * (double)it / t / 1e9;
}

static int bench_dtype(CpuMatmul *mm, DType dt, double bw, int quick)
{
    enum { K = 4096, N1 = 16384, N2 = 4096, MAX_MATS = 16 };
    void *mats[MAX_MATS] = {0};
    size_t mat_bytes;
    int rc, n_mats;
    enum { NT = 4 };
    double gemv_gbs = 0, gflops[NT] = {0}, hot;
    static const int64_t Ts[NT] = {8, 16, 64, 256};
    float *x = malloc(sizeof(float) * K * 256), *y = malloc(sizeof(float) * N1 * 256);
    Tensor tw, tx, ty;

    if (!x || !y) {
        rc = -ENOMEM;
        goto out;
    }
    fill_random(x, (size_t)K * 256, 42);
    {
        size_t row;
        dtype_row_bytes(dt, K, &row);
        n_mats = (int)((((size_t)256 << 20) + row * N1 - 1) / (row * N1));
        n_mats = n_mats < 1 ? 1 : n_mats > MAX_MATS ? MAX_MATS : n_mats;
    }
    if ((rc = make_weights(dt, K, N1, n_mats, mats, &mat_bytes)) < 0)
        goto out;

    {
        size_t row;
        dtype_row_bytes(dt, K, &row);
        hot = hot_dot_gbs(dt, mats[0], row, x, K);
    }
    /* one token: cycle the matrices for ~1 s (0.3 s quick), best of 3 rounds */
    tensor_init(&tx, DTYPE_F32, 2, (int64_t[]){K, 1}, x);
    tensor_init(&ty, DTYPE_F32, 2, (int64_t[]){N1, 1}, y);
    for (int round = 0; round < 3; round++) {
        double t0 = bench_now_s(), t;
        long calls = 0;
        do {
            tensor_init(&tw, dt, 2, (int64_t[]){K, N1}, mats[calls % n_mats]);
            if ((rc = cpu_matmul(mm, &ty, &tw, &tx)) < 0)
                goto out;
            calls++;
            t = bench_now_s() - t0;
        } while (t < (quick ? 0.1 : 0.35) || calls < n_mats);
        double gbs = (double)mat_bytes * (double)calls / t / 1e9;
        gemv_gbs = gbs > gemv_gbs ? gbs : gemv_gbs;
    }
    /* many tokens on the first K×N2 rows */
    tensor_init(&tw, dt, 2, (int64_t[]){K, N2}, mats[0]);
    for (int i = 0; i < NT; i++) {
        tensor_init(&tx, DTYPE_F32, 2, (int64_t[]){K, Ts[i]}, x);
        tensor_init(&ty, DTYPE_F32, 2, (int64_t[]){N2, Ts[i]}, y);
        double t0 = bench_now_s(), t;
        long calls = 0;
        do {
            if ((rc = cpu_matmul(mm, &ty, &tw, &tx)) < 0)
                goto out;
            calls++;
            t = bench_now_s() - t0;
        } while (t < (quick ? 0.2 : 1.0));
        gflops[i] = 2.0 * K * N2 * (double)Ts[i] * (double)calls / t / 1e9;
    }
    printf("| %-5s | %9.2f | %7.1f%% | %8.1f | %8.1f | %9.1f | %9.1f | %10.1f |\n", dtype_name(dt), gemv_gbs,
           100.0 * gemv_gbs / bw, hot, gflops[0], gflops[1], gflops[2], gflops[3]);
    fflush(stdout);
    rc = 0;
out:
    for (int m = 0; m < MAX_MATS; m++)
        free(mats[m]);
    free(x);
    free(y);
    return rc;
}

int main(int argc, char **argv)
{
    static const DType all[] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_1,
                                DTYPE_Q5_0, DTYPE_Q5_1, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    DType picked[32];
    int n_picked = 0, threads = 0, quick = 0, bw_only = 0;
    ThreadPool *tp = NULL;
    CpuMatmul *mm = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "-q")) {
            quick = 1;
        } else if (!strcmp(argv[i], "-b")) {
            bw_only = 1;
        } else {
            int found = 0;
            for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
                if (!strcmp(argv[i], dtype_name(all[k])) && n_picked < 32) {
                    picked[n_picked++] = all[k];
                    found = 1;
                }
            if (!found) {
                fprintf(stderr, "usage: %s [-t threads] [-q] [-b] [DTYPE ...]\n", argv[0]);
                return 2;
            }
        }
    }
    if (!n_picked)
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
            picked[n_picked++] = all[k];
    if (threadpool_new(threads, &tp) < 0 || cpu_matmul_new(tp, &mm) < 0) {
        fprintf(stderr, "cannot create thread pool\n");
        return 1;
    }
    static const char *isa_names[] = {"scalar", "avx2", "avx512"};
    double bw = measure_bandwidth(tp);
    if (bw_only) {
        printf("memory read bandwidth: %.2f GB/s\n", bw);
        cpu_matmul_free(mm);
        threadpool_free(tp);
        return 0;
    }
    printf("cpu: %s\nkernels: %s, threads: %d\nmemory read bandwidth: %.2f GB/s\n\n", cpu_features_string(),
           isa_names[quant_isa()], threadpool_size(tp), bw);
    printf("| dtype | GEMV GB/s | of bw    | hot GB/s | T=8 GF/s | T=16 GF/s | T=64 GF/s | T=256 GF/s |\n");
    printf("|-------|-----------|----------|----------|----------|-----------|-----------|------------|\n");
    for (int i = 0; i < n_picked; i++)
        if (bench_dtype(mm, picked[i], bw, quick) < 0)
            fprintf(stderr, "%s: failed\n", dtype_name(picked[i]));
    cpu_matmul_free(mm);
    threadpool_free(tp);
    return 0;
}
