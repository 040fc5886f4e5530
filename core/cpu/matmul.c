/* cpu/matmul.c — placeholder until its component lands. */
typedef int myna_placeholder_cpu_matmul_c;
