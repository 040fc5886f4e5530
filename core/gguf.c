/* gguf.c — placeholder until its component lands. */
typedef int myna_placeholder_gguf_c;
