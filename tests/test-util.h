/* test-util.h — tiny assertion helpers for the C tests (no framework): each CHECK prints file:line and
 * the values on failure and counts it; tests return test_exit() from main. Exit 77 = skip. */
#ifndef MYNA_TEST_UTIL_H
#define MYNA_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int g_test_failures;
static int g_test_checks;

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

#endif
