/* cpu/ops.c — placeholder until its component lands. */
typedef int myna_placeholder_cpu_ops_c;
