// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * empty-loader: attaches the generated do-nothing programs (build/bench/empty.bpf.c) to the
 * sensor's tracepoints (syscall and typed ones) and holds them until stdin closes or a signal arrives.
 *
 * It is the benchmark's middle configuration: the cost of the tracepoints themselves, which no
 * sensor on this backend can avoid, against which the sensor's own work is judged. It follows
 * fim-loader's rule for hooks missing from the running kernel (skip them) so both attach the
 * same set, and it prints a hello line with that set so the benchmark can compare the two.
 *
 * With --without-syscalls it leaves out the syscall tracepoints and attaches the rest (the
 * timestamp and sched hooks): what a sensor built on those alone would pay before doing any
 * work. The first syscall tracepoint enabled puts every syscall of the machine on the tracing
 * slow path (scripts/bench-syscall-floor.sh); the others run only where the kernel changes an
 * inode's ctime or a task exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "empty.skel.h"

#define MAX_LINKS 256

static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = 1; }

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* sec is "tracepoint/<category>/<name>" or "tp_btf/<name>", the sensor's two kinds of hook */
static int tracepoint_exists(const char *sec, const struct btf *vmlinux)
{
	char p[512];

	/* a typed tracepoint exists when the kernel's BTF has its btf_trace_ typedef */
	if (!strncmp(sec, "tp_btf/", 7)) {
		snprintf(p, sizeof(p), "btf_trace_%s", sec + 7);
		return vmlinux && btf__find_by_name_kind(vmlinux, p, BTF_KIND_TYPEDEF) >= 0;
	}
	/* the same layout as tracefs' events/ */
	snprintf(p, sizeof(p), "/sys/kernel/tracing/events/%s", sec + strlen("tracepoint/"));
	if (access(p, F_OK) == 0)
		return 1;
	snprintf(p, sizeof(p), "/sys/kernel/debug/tracing/events/%s", sec + strlen("tracepoint/"));
	return access(p, F_OK) == 0;
}

static bool is_syscall_hook(const char *sec)
{
	return !strncmp(sec, "tracepoint/syscalls/", strlen("tracepoint/syscalls/"));
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_LINKS];
	struct bpf_program *prog;
	struct empty_bpf *skel;
	struct btf *vmlinux;
	int n_links = 0, rc = 1;
	const char *sep = "";
	char hooks[8192] = "";
	size_t len = 0;
	bool without_syscalls = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--without-syscalls")) {
			without_syscalls = true;
		} else {
			fprintf(stderr, "usage: empty-loader [--without-syscalls]\n");
			return 2;
		}
	}
	libbpf_set_print(quiet_print);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	skel = empty_bpf__open();
	if (!skel) {
		fprintf(stderr, "empty-loader: error: open: %s\n", strerror(errno));
		return 1;
	}
	vmlinux = btf__load_vmlinux_btf();
	bpf_object__for_each_program(prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog);

		if (!tracepoint_exists(sec, vmlinux) || (without_syscalls && is_syscall_hook(sec)))
			bpf_program__set_autoload(prog, false);
	}
	btf__free(vmlinux);
	if (empty_bpf__load(skel)) {
		fprintf(stderr, "empty-loader: error: load: %s\n", strerror(errno));
		goto cleanup;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog);

		if (!bpf_program__autoload(prog) || n_links == MAX_LINKS)
			continue;
		links[n_links] = bpf_program__attach(prog);
		if (!links[n_links]) {
			fprintf(stderr, "empty-loader: error: attach %s: %s\n", sec, strerror(errno));
			goto cleanup;
		}
		n_links++;
		len += snprintf(hooks + len, sizeof(hooks) - len, "%s\"%s\"", sep, strrchr(sec, '/') + 1);
		if (len >= sizeof(hooks))
			len = sizeof(hooks) - 1;
		sep = ",";
	}
	/* one complete line only after every hook attached: the parent reads it as "ready" */
	printf("{\"type\":\"hello\",\"empty\":true,\"pid\":%d,\"hooks\":[%s]}\n", (int)getpid(), hooks);
	fflush(stdout);

	/* Hold until the parent closes our stdin (its way of saying stop) or signals us. */
	while (!stop) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		char buf[256];

		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
			break;
	}
	printf("{\"type\":\"bye\"}\n");
	rc = 0;
cleanup:
	while (n_links > 0)
		bpf_link__destroy(links[--n_links]);
	empty_bpf__destroy(skel);
	return rc;
}
