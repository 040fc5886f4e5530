/* clock.h — the monotonic clock library code times itself with (stats, profiles, deadlines). */
#ifndef MYNA_CLOCK_H
#define MYNA_CLOCK_H

#include <stdint.h>

double clock_now_ms(void);   /* CLOCK_MONOTONIC in milliseconds */
uint64_t clock_now_ns(void); /* the same in integer nanoseconds (spin-wait budgets) */

#endif
