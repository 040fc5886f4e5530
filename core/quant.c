/* quant.c — placeholder until its component lands. */
typedef int myna_placeholder_quant_c;
