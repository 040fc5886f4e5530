/* lm-stub.c — keeps the library non-empty until the model lands. */
typedef int myna_lm_placeholder;
