// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What each monitor prints, turned into one shape: the harness counts and times events the same
 * way whichever monitor made them.
 *
 *   loader   fim-loader's NDJSON (docs/protocol.md): event, stats, hello, bye records
 *   fimctl   fimctl's JSON lines: events without "type", supervisor records ("loss", "restart")
 *   inotify  inotifywait --format '%e %w%f': "CREATE /dir/file"
 *   audit    auditd's af_unix dispatcher in string format: records of one event share a serial
 *            and end with EOE; they may interleave with another event's records
 */
#ifndef FIM_BENCH_FORMATS_H
#define FIM_BENCH_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum monitor_format { FMT_LOADER, FMT_FIMCTL, FMT_INOTIFY, FMT_AUDIT };

enum line_kind {
	LINE_OTHER,
	LINE_EVENT,    /* *ev is filled */
	LINE_STATS,    /* loader stats record */
	LINE_HELLO,
	LINE_BYE,
	LINE_LOSS,     /* fimctl says *lost records were lost */
	LINE_OVERFLOW, /* inotify queue overflow: an unknown number lost */
	LINE_RESTART,  /* fimctl restarted its loader */
};

#define EV_PATH 224
#define EV_EXE 160

/* One change as a monitor reported it. Unknown numbers are -1, unknown strings empty. */
struct ev {
	uint64_t kernel_ns; /* when the kernel saw it, 0 if the monitor does not say */
	int64_t pid, uid, auid;
	bool periodic_check; /* a modify found by the loader's periodic check, not at close */
	char op[12];        /* add modify delete rename attrib, or "other" */
	char comm[24];
	char exe[EV_EXE];
	char path[EV_PATH];
};

int parse_format(const char *name, enum monitor_format *out);
/* whodata: also the process fields and the kernel's timestamp, where the format has them
 * apart (auditd's come with its records anyway) */
enum line_kind parse_line(enum monitor_format f, char *line, struct ev *ev, uint64_t *lost, bool whodata);

/* JSON scalars of our own flat records (no unescaping needed for bench names) */
uint64_t json_u64(const char *line, const char *key);
void json_str(const char *line, const char *key, char *out, size_t cap);

#endif
