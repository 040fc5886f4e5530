/* quant-avx2.c — placeholder until its component lands. */
typedef int myna_placeholder_quant_avx2_c;
