/* clock.h — the monotonic clock library code times itself with (stats, profiles, deadlines). */
#ifndef MYNA_CLOCK_H
#define MYNA_CLOCK_H

double clock_now_ms(void); /* CLOCK_MONOTONIC in milliseconds */

#endif
