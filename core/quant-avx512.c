/* quant-avx512.c — placeholder until its component lands. */
typedef int myna_placeholder_quant_avx512_c;
