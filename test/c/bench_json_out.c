/* Throughput of a typical event record, to compare with the 100k+
 * events/s the loader must sustain. Informational: no pass/fail. */
#define _POSIX_C_SOURCE 199309L
#include "json_out.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t record(char *buf, size_t cap, const unsigned char *path, size_t plen,
		     unsigned long i)
{
	struct jw w;

	jw_init(&w, buf, cap);
	jw_begin(&w);
	jw_str(&w, "type", "event");
	jw_u64(&w, "timestamp", 1764090012345678901u + i);
	jw_str(&w, "operation", "modify");
	jw_bytes(&w, "path", path, plen);
	jw_null(&w, "old_path");
	jw_str(&w, "file_type", "file");
	jw_u64(&w, "inode", 131077 + i);
	jw_str(&w, "dev", "254:0");
	jw_u64(&w, "pid", 812);
	jw_u64(&w, "tid", 812);
	jw_u64(&w, "ppid", 640);
	jw_u64(&w, "uid", 0);
	jw_u64(&w, "gid", 0);
	jw_u64(&w, "euid", 0);
	jw_u64(&w, "egid", 0);
	jw_u64(&w, "auid", 1000);
	jw_u64(&w, "session_id", 3);
	jw_bytes(&w, "process_name", (const unsigned char *)"logrotate", 9);
	jw_bytes(&w, "exe", (const unsigned char *)"/usr/sbin/logrotate", 19);
	jw_str(&w, "syscall", "write");
	jw_u64(&w, "cgroup_id", 5678);
	jw_str(&w, "source", "kernel");
	jw_end(&w);
	return w.len;
}

int main(void)
{
	static const struct {
		const char *what;
		const char *path;
	} cases[] = {
		{ "ascii path", "/var/lib/postgresql/15/main/base/16384/2619_fsm" },
		{ "utf-8 path", "/srv/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb.txt" },
		{ "hostile path", "/tmp/\x01\x02\xff\xfe\"\\\n\t\xc0\x80\xed\xa0\x80x" },
	};
	static char buf[16384];
	const unsigned long n = 2000000;
	size_t c;

	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t bytes = 0, plen = strlen(cases[c].path);
		unsigned long i;
		double t0 = now(), dt;

		for (i = 0; i < n; i++)
			bytes += record(buf, sizeof buf, (const unsigned char *)cases[c].path, plen, i);
		dt = now() - t0;
		printf("%-13s %7.0f ns/record  %5.2f M records/s  %4.0f MB/s (%zu bytes/record)\n",
		       cases[c].what, dt / (double)n * 1e9, (double)n / dt / 1e6,
		       (double)bytes / dt / 1e6, bytes / n);
	}
	return 0;
}
