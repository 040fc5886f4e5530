/* hf-model.c — placeholder until its component lands. */
typedef int myna_placeholder_hf_model_c;
