/* cpu-features.h — what the running x86-64 CPU can do (CPUID + XGETBV, and the Linux AMX permission
 * request). Detected once, cached. */
#ifndef MYNA_CPU_FEATURES_H
#define MYNA_CPU_FEATURES_H

typedef struct {
    int avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16;
    int amx_tile, amx_int8, amx_bf16; /* usable: CPU has it AND the kernel granted XTILEDATA */
} CpuFeatures;

const CpuFeatures *cpu_features(void);
/* One line like "avx2 fma avx512f avx512bw avx512vnni avx512bf16 amx-int8". */
const char *cpu_features_string(void);

#endif
