/* backend.c — placeholder until its component lands. */
typedef int myna_placeholder_backend_c;
