/* cpu/backend-cpu.c — placeholder until its component lands. */
typedef int myna_placeholder_cpu_backend_cpu_c;
