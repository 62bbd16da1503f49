// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Small helpers shared by the workload generators and the monitor harness. */
#ifndef FIM_BENCH_UTIL_H
#define FIM_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static inline uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ns(void) { return now_ns(CLOCK_MONOTONIC); }

void sleep_until_mono(uint64_t t);
void write_all(int fd, const void *buf, size_t n);
size_t read_full(int fd, void *buf, size_t n);

#endif
