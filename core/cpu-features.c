/* cpu-features.c — placeholder until its component lands. */
typedef int myna_placeholder_cpu_features_c;
