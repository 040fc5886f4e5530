/* threadpool.c — placeholder until its component lands. */
typedef int myna_placeholder_threadpool_c;
