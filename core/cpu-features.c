/* cpu-features.c — x86-64 feature detection: CPUID for what the CPU implements, XGETBV for what the OS
 * saves on context switch (AVX needs XCR0 bits 1–2, AVX-512 bits 5–7, AMX bits 17–18), and Linux's
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) for permission to use AMX tile data.
 * Not here: choosing kernels (quant.c). Reference: Intel SDM vol. 2A (CPUID), Linux Documentation/arch/x86/xstate.rst.
 * On non-x86 builds every feature reads as absent.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpu-features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define MYNA_X86 1
#endif

static CpuFeatures g_features;
static char g_string[256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#ifdef MYNA_X86
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int request_amx(void)
{
#ifdef SYS_arch_prctl
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

static void detect(CpuFeatures *f)
{
    unsigned a, b, c, d, max_leaf;
    uint64_t xcr0 = 0;
    int os_avx, os_avx512, os_amx;

    memset(f, 0, sizeof *f);
    max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1)
        return;
    __cpuid_count(1, 0, a, b, c, d);
    if (!(c & (1u << 27)) || !(c & (1u << 28))) /* OSXSAVE, AVX */
        return;
    xcr0 = xgetbv0();
    os_avx = (xcr0 & 0x6) == 0x6;
    os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;
    os_amx = (xcr0 & 0x60000) == 0x60000;
    if (!os_avx)
        return;
    f->fma = !!(c & (1u << 12));
    f->f16c = !!(c & (1u << 29));
    if (max_leaf < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned sub_max = a;
    f->avx2 = !!(b & (1u << 5));
    if (os_avx512) {
        f->avx512f = !!(b & (1u << 16));
        f->avx512bw = !!(b & (1u << 30));
        f->avx512vl = !!(b & (1u << 31));
        f->avx512vnni = !!(c & (1u << 11));
    }
    int amx_tile = !!(d & (1u << 24)), amx_int8 = !!(d & (1u << 25)), amx_bf16 = !!(d & (1u << 22));
    if (sub_max >= 1 && os_avx512) {
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        f->avx512bf16 = !!(a1 & (1u << 5));
    }
    if (amx_tile && os_amx && request_amx()) {
        f->amx_tile = 1;
        f->amx_int8 = amx_int8;
        f->amx_bf16 = amx_bf16;
    }
}
#else
static void detect(CpuFeatures *f) { memset(f, 0, sizeof *f); }
#endif

static void init(void)
{
    static const struct { const char *name; size_t off; } names[] = {
        {"avx2", offsetof(CpuFeatures, avx2)}, {"fma", offsetof(CpuFeatures, fma)},
        {"f16c", offsetof(CpuFeatures, f16c)}, {"avx512f", offsetof(CpuFeatures, avx512f)},
        {"avx512bw", offsetof(CpuFeatures, avx512bw)}, {"avx512vl", offsetof(CpuFeatures, avx512vl)},
        {"avx512vnni", offsetof(CpuFeatures, avx512vnni)}, {"avx512bf16", offsetof(CpuFeatures, avx512bf16)},
        {"amx-tile", offsetof(CpuFeatures, amx_tile)}, {"amx-int8", offsetof(CpuFeatures, amx_int8)},
        {"amx-bf16", offsetof(CpuFeatures, amx_bf16)},
    };
    size_t len = 0;

    detect(&g_features);
    g_string[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int on;
        memcpy(&on, (const char *)&g_features + names[i].off, sizeof on);
        if (on && len < sizeof g_string) {
            int w = snprintf(g_string + len, sizeof g_string - len, "%s%s", len ? " " : "", names[i].name);
            if (w > 0)
                len += (size_t)w;
        }
    }
}

const CpuFeatures *cpu_features(void)
{
    pthread_once(&g_once, init);
    return &g_features;
}

const char *cpu_features_string(void)
{
    pthread_once(&g_once, init);
    return g_string;
}
