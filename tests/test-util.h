/* test-util.h — tiny assertion helpers for the C tests (no framework): each CHECK prints file:line and
 * the values on failure and counts it; tests return test_exit() from main. Exit 77 = skip. Also the
 * helpers the tests share: fixture paths and files, NMSE / max-relative error over float arrays, a seeded
 * xorshift64 generator for test inputs. */
#ifndef MYNA_TEST_UTIL_H
#define MYNA_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int g_test_failures;
static int g_test_checks;

/* Test inputs: xorshift64, one state per test program (save / restore *test_rng_state() to replay). */
static inline uint64_t *test_rng_state(void)
{
    static uint64_t s = 0x9E3779B97F4A7C15ull;
    return &s;
}
static inline double test_rng_uniform(void) /* in (0, 1) */
{
    uint64_t *s = test_rng_state();
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return ((double)(*s >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static inline float test_rng_normal(void) /* Box–Muller */
{
    double u = test_rng_uniform(), v = test_rng_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

#define CHECK(cond) do { g_test_checks++; if (!(cond)) { g_test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); g_test_checks++; \
    if (_a != _b) { g_test_failures++; fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
    __FILE__, __LINE__, #a, _a, #b, _b); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (double)(a), _b = (double)(b); g_test_checks++; \
    if (!(fabs(_a - _b) <= (tol))) { g_test_failures++; fprintf(stderr, \
    "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #a, _a, _b, (double)(tol)); } } while (0)

static inline int test_exit(void)
{
    if (g_test_checks == 0) {
        fprintf(stderr, "no checks ran\n");
        return 1;
    }
    fprintf(stderr, "%d checks, %d failed\n", g_test_checks, g_test_failures);
    return g_test_failures ? 1 : 0;
}

/* ---- fixtures and numeric comparisons shared by the tests ---------------------------------------------- */

/* $MYNA_FIXTURES/dir/name (tests/fixtures when MYNA_FIXTURES is unset) into buf; returns buf. */
static inline char *test_fixture_path(char *buf, size_t len, const char *dir, const char *name)
{
    const char *root = getenv("MYNA_FIXTURES");
    snprintf(buf, len, "%s/%s/%s", root ? root : "tests/fixtures", dir, name);
    return buf;
}

/* The whole file, with a NUL after the last byte that *ret_size (written on success) does not count; an
 * empty file gives a 1-byte buffer. NULL, with the reason on stderr, when it cannot be opened or read. */
static inline void *test_read_file(const char *path, size_t *ret_size)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long sz = -1;

    if (!fp) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    if (fseek(fp, 0, SEEK_END) == 0 && (sz = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (buf = (char *)malloc((size_t)sz + 1)) && fread(buf, 1, (size_t)sz, fp) == (size_t)sz) {
        buf[sz] = 0;
        if (ret_size)
            *ret_size = (size_t)sz;
    } else {
        fprintf(stderr, "cannot read %s\n", path);
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    return buf;
}

/* test_read_file() of test_fixture_path(dir, name). */
static inline void *test_read_fixture(const char *dir, const char *name, size_t *ret_size)
{
    char path[4096];
    return test_read_file(test_fixture_path(path, sizeof(path), dir, name), ret_size);
}

/* A file that must hold exactly n_bytes (a golden of known shape); NULL, with the reason, otherwise. */
static inline void *test_read_exact(const char *path, size_t n_bytes)
{
    size_t n = 0;
    void *buf = test_read_file(path, &n);
    if (buf && n != n_bytes) {
        fprintf(stderr, "%s: %zu bytes, expected %zu\n", path, n, n_bytes);
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* Normalised squared error sum((a - ref)^2) / sum(ref^2) (denominator 1 when ref is all zero); INFINITY
 * when a or ref holds a NaN. */
static inline double test_nmse(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return num != num ? INFINITY : num / (den > 0 ? den : 1);
}

/* max |a - ref| / max |ref| (denominator 1 when ref is all zero); INFINITY when a difference is NaN. */
static inline double test_max_rel_err(const float *a, const float *ref, size_t n)
{
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > md || d != d)
            md = d != d ? INFINITY : d;
        if (fabs(ref[i]) > mb)
            mb = fabs(ref[i]);
    }
    return md / (mb > 0 ? mb : 1);
}

/* max |a - ref| (NaN when a difference is NaN). */
static inline double test_max_abs_diff(const float *a, const float *ref, size_t n)
{
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > mx || d != d)
            mx = d;
    }
    return mx;
}

#endif
