// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * workload: the load generators and the monitor harness used by scripts/bench-loader.mjs and
 * scripts/bench.mjs.
 *
 *   workload write-storm --procs N --ms T [--file F]  1-byte write(2) to /dev/null, or to the
 *                                                     regular file F.<worker> (rewound per batch)
 *   workload pipe-storm  --procs N --ms T             1-byte write(2) into a pipe the worker
 *                                                     drains itself every 32 KiB
 *   workload open-storm  --procs N --ms T --file F    open(F, O_RDONLY) + close
 *   workload mixed --dir D --procs N (--ms T | --iters N) [--rate OPS] [--catchup-ms M]
 *                  [--stamps FILE] [--tag S]
 *                                                     create+write+close / append / rename / delete
 *   workload attrib --dir D --procs N (--ms T | --iters N) [--rate OPS]
 *                                                     chmod storm: one attrib event per syscall
 *   workload shortlived --dir D --iters N --exe PROGRAM --uid U --auid A --stamps FILE
 *                                                     N processes, one after the other, each
 *                                                     with uid U and login uid A, exec PROGRAM
 *                                                     (a copy of this binary) to create one file
 *                                                     and exit at once; FILE gets "pid path" each
 *   workload touch FILE                               create FILE, write 16 bytes, exit
 *   workload harness [OPTIONS] -- PROGRAM ARGS...     runs a monitor, reads its events, answers
 *                                                     commands on stdin (see bench/harness.c)
 *
 * Written in C rather than shell or node so that the load itself costs a few syscalls per op and
 * nothing else: a slower generator would hide the sensor's overhead behind its own.
 *
 * Every generator prints one JSON line on stdout. The N processes are forked, set up, and then
 * released together through a pipe, so they really overlap on the 2 vCPUs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

#define MAX_PROCS 16

/* ---- options ----------------------------------------------------------------------------- */

struct opts {
	int procs;
	long ms;       /* run for this long (per process) ... */
	long iters;    /* ... or this many iterations */
	double rate;   /* total ops/s over all processes; 0 = as fast as possible */
	long catchup_ms; /* how far behind schedule a paced process may run to catch up */
	const char *dir, *file, *stamps, *tag, *exe;
	long uid, auid; /* shortlived: the ids its processes run with */
};

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "procs", required_argument, NULL, 'p' }, { "ms", required_argument, NULL, 'm' },
		{ "iters", required_argument, NULL, 'i' }, { "rate", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },   { "file", required_argument, NULL, 'f' },
		{ "stamps", required_argument, NULL, 's' }, { "tag", required_argument, NULL, 't' },
		{ "catchup-ms", required_argument, NULL, 'c' }, { "exe", required_argument, NULL, 'e' },
		{ "uid", required_argument, NULL, 'u' },   { "auid", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .procs = 2, .tag = "", .uid = -1, .auid = -1 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': o->procs = atoi(optarg); break;
		case 'm': o->ms = atol(optarg); break;
		case 'i': o->iters = atol(optarg); break;
		case 'r': o->rate = atof(optarg); break;
		case 'd': o->dir = optarg; break;
		case 'f': o->file = optarg; break;
		case 's': o->stamps = optarg; break;
		case 't': o->tag = optarg; break;
		case 'c': o->catchup_ms = atol(optarg); break;
		case 'e': o->exe = optarg; break;
		case 'u': o->uid = atol(optarg); break;
		case 'a': o->auid = atol(optarg); break;
		default: die("bad option (see the comment at the top of bench/workload.c)");
		}
	}
	if (o->procs < 1 || o->procs > MAX_PROCS)
		die("--procs must be 1..%d", MAX_PROCS);
	if (o->ms <= 0 && o->iters <= 0)
		die("give --ms or --iters");
	if (o->rate < 0)
		die("--rate must be >= 0");
}

/* ---- running N processes together -------------------------------------------------------- */

struct result {
	uint64_t ops;
	uint64_t elapsed_ns;
	uint64_t cpu_ns; /* CPU the process got meanwhile: elapsed minus time a neighbour took */
	uint64_t ops_by_kind[4];
	int err; /* errno of the first failed syscall, 0 = none */
};

struct sync_fds {
	int ready, go;
};

typedef void (*worker_fn)(const struct opts *o, int idx, struct sync_fds *s, struct result *r);

/* Says "set up" (the parent waits for every copy of the ready pipe to close), then blocks until
 * the parent releases every worker at once (EOF on the go pipe). */
static uint64_t cpu_at_go;

static void wait_go(struct sync_fds *s)
{
	char c;

	close(s->ready);
	while (read(s->go, &c, 1) < 0 && errno == EINTR)
		;
	close(s->go);
	cpu_at_go = now_ns(CLOCK_PROCESS_CPUTIME_ID);
}

static void run_workers(const struct opts *o, worker_fn fn, const char *what)
{
	int ready[2], go[2], res[MAX_PROCS][2];
	pid_t pids[MAX_PROCS];
	struct result r[MAX_PROCS] = {};
	char c;

	if (pipe(ready) || pipe(go))
		die("pipe: %s", strerror(errno));
	for (int i = 0; i < o->procs; i++) {
		if (pipe(res[i]))
			die("pipe: %s", strerror(errno));
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			struct result mine = {};
			struct sync_fds sf = { ready[1], go[0] };

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(ready[0]);
			close(go[1]);
			close(res[i][0]);
			for (int j = 0; j < i; j++)
				close(res[j][0]);
			fn(o, i, &sf, &mine);
			mine.cpu_ns = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_at_go;
			write_all(res[i][1], &mine, sizeof(mine));
			_exit(0);
		}
		close(res[i][1]);
	}
	close(ready[1]);
	close(go[0]);
	/* workers write nothing on `ready`; they hold it open until set up, so wait for EOF */
	while (read(ready[0], &c, 1) > 0)
		;
	close(go[1]); /* release them all */
	for (int i = 0; i < o->procs; i++) {
		if (read_full(res[i][0], &r[i], sizeof(r[i])) != sizeof(r[i]))
			die("worker %d died", i);
		waitpid(pids[i], NULL, 0);
	}

	uint64_t ops = 0, kinds[4] = {};
	double sum_per_op = 0, max_elapsed = 0, min_share = 1;
	int err = 0;

	for (int i = 0; i < o->procs; i++) {
		ops += r[i].ops;
		for (int k = 0; k < 4; k++)
			kinds[k] += r[i].ops_by_kind[k];
		sum_per_op += r[i].ops ? (double)r[i].elapsed_ns / (double)r[i].ops : 0;
		if (r[i].elapsed_ns > max_elapsed)
			max_elapsed = (double)r[i].elapsed_ns;
		if (r[i].err && !err)
			err = r[i].err;
		/* A CPU-bound loop that got less CPU than wall time was descheduled: on this
		 * 2-vCPU VM, by a neighbour (or, in a watched run, by the loader itself). */
		if (r[i].elapsed_ns && (double)r[i].cpu_ns / (double)r[i].elapsed_ns < min_share)
			min_share = (double)r[i].cpu_ns / (double)r[i].elapsed_ns;
	}
	printf("{\"what\":\"%s\",\"procs\":%d,\"ops\":%" PRIu64 ",\"ns_per_op\":%.1f,"
	       "\"elapsed_ns\":%.0f,\"cpu_share\":%.3f,\"ops_per_s\":%.1f,\"ops_by_kind\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64
	       ",%" PRIu64 "],\"error\":%s%s%s,\"per_proc_ns_per_op\":[",
	       what, o->procs, ops, sum_per_op / o->procs, max_elapsed, min_share,
	       max_elapsed ? (double)ops * 1e9 / max_elapsed : 0, kinds[0], kinds[1], kinds[2], kinds[3],
	       err ? "\"" : "", err ? strerror(err) : "null", err ? "\"" : "");
	for (int i = 0; i < o->procs; i++)
		printf("%s%.1f", i ? "," : "", r[i].ops ? (double)r[i].elapsed_ns / (double)r[i].ops : 0);
	printf("]}\n");
	if (err)
		exit(1);
}

/* ---- storms ------------------------------------------------------------------------------ */

/* Time-bounded loops check the clock once per batch: the vDSO read costs ~20 ns, which is
 * noise against a ~1 us syscall when amortised over 256 ops. */
#define BATCH 256

/* The cost of a plain write(2) that no monitor cares about: every process on the machine pays it.
 * What differs between targets is what a batch leaves behind: a regular file is rewound so it
 * does not grow, a pipe is drained by its own writer before it fills (64 KiB). */
#define PIPE_DRAIN 32768

static void write_loop(const struct opts *o, int fd, int drain_fd, bool rewind, struct sync_fds *sf,
		       struct result *r)
{
	static char sink[PIPE_DRAIN];
	uint64_t t0, end, t = 0, since_drain = 0;

	wait_go(sf);
	t0 = mono_ns();
	end = o->ms > 0 ? t0 + (uint64_t)o->ms * 1000000ull : UINT64_MAX;
	for (;;) {
		for (int i = 0; i < BATCH; i++)
			if (write(fd, "x", 1) != 1 && !r->err)
				r->err = errno;
		r->ops += BATCH;
		if (rewind && lseek(fd, 0, SEEK_SET) < 0 && !r->err)
			r->err = errno;
		if (drain_fd >= 0 && (since_drain += BATCH) >= PIPE_DRAIN) {
			if (read_full(drain_fd, sink, since_drain) != since_drain && !r->err)
				r->err = EIO;
			since_drain = 0;
		}
		if (o->iters > 0 && r->ops >= (uint64_t)o->iters)
			break;
		t = mono_ns();
		if (t >= end)
			break;
	}
	r->elapsed_ns = (o->iters > 0 ? mono_ns() : t) - t0;
}

static void write_storm(const struct opts *o, int idx, struct sync_fds *sf, struct result *r)
{
	char path[4096];
	int fd;

	if (o->file) {
		/* one file per worker: a shared one would measure its inode lock */
		snprintf(path, sizeof(path), "%s.%d", o->file, idx);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		snprintf(path, sizeof(path), "/dev/null");
		fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	write_loop(o, fd, -1, o->file != NULL, sf, r);
	close(fd);
}

static void pipe_storm(const struct opts *o, int idx, struct sync_fds *sf, struct result *r)
{
	int p[2];

	(void)idx;
	if (pipe2(p, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	write_loop(o, p[1], p[0], false, sf, r);
	close(p[0]);
	close(p[1]);
}

static void open_storm(const struct opts *o, int idx, struct sync_fds *sf, struct result *r)
{
	uint64_t t0, end, t = 0;

	(void)idx;
	wait_go(sf);
	t0 = mono_ns();
	end = o->ms > 0 ? t0 + (uint64_t)o->ms * 1000000ull : UINT64_MAX;
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			int fd = open(o->file, O_RDONLY | O_CLOEXEC);

			if (fd < 0) {
				if (!r->err)
					r->err = errno;
				continue;
			}
			close(fd);
		}
		r->ops += BATCH;
		if (o->iters > 0 && r->ops >= (uint64_t)o->iters)
			break;
		t = mono_ns();
		if (t >= end)
			break;
	}
	r->elapsed_ns = (o->iters > 0 ? mono_ns() : t) - t0;
}

/* ---- pacing ------------------------------------------------------------------------------ */

struct pace {
	uint64_t gap, due, catchup;
};

static void pace_init(struct pace *p, const struct opts *o, uint64_t t0)
{
	prctl(PR_SET_TIMERSLACK, 1UL); /* pacing at 2,000 ops/s needs sleeps accurate to ~µs */
	p->gap = o->rate > 0 ? (uint64_t)(1e9 * o->procs / o->rate) : 0;
	p->due = t0;
	p->catchup = o->catchup_ms > 0 ? (uint64_t)o->catchup_ms * 1000000ull : 1000000;
	if (p->catchup < p->gap)
		p->catchup = p->gap;
}

/* Waits for the next op's slot. Sleeps when ahead. When behind (preempted by a neighbour) it
 * catches up flat out only for a short backlog (--catchup-ms, default 1): a long burst would turn
 * a steady rate into a burst test, which is not what the latency figure is about, while the
 * throughput steps want a larger allowance so the average rate is the one asked for. */
static void pace_wait(struct pace *p)
{
	uint64_t now;

	if (!p->gap)
		return;
	now = mono_ns();
	if (now > p->due + p->catchup)
		p->due = now;
	if (p->due > now + 30000)
		sleep_until_mono(p->due - 20000);
	while (mono_ns() < p->due)
		;
	p->due += p->gap;
}

/* ---- mixed file workload ----------------------------------------------------------------- */

/*
 * One iteration = 4 ops on a fresh file, each a change a user expects to see (events as
 * docs/protocol.md, Coalescing, defines them):
 *   0 create: open(O_CREAT|O_WRONLY|O_TRUNC) + write 64 B + close  -> add, then modify at close
 *   1 append: open(O_WRONLY|O_APPEND) + write 64 B + close          -> modify at close
 *   2 rename: rename(f, f.r)                                          -> rename
 *   3 delete: unlink(f.r)                                             -> delete
 * The counts per kind let the script check that a watched run delivered exactly those, and the
 * directory ends empty.
 */
static const char *const op_names[4] = { "add", "modify", "rename", "delete" };

struct stamp {
	uint64_t realtime_ns;
	uint32_t seq;
	uint8_t kind;
};

static void mixed_worker(const struct opts *o, int idx, struct sync_fds *sf, struct result *r)
{
	static const char data[64] = "0123456789abcdef0123456789abcdef0123456789abcdef012345678\n";
	char path[4096], path2[4200];
	struct pace pace;
	uint64_t t0, end;
	struct stamp *stamps = NULL;
	size_t n_stamps = 0, cap_stamps = 0;
	int dlen;

	if (o->stamps) {
		/* enough for the whole run, allocated and touched before the clock starts */
		cap_stamps = o->iters > 0 ? (size_t)o->iters * 4
					  : (size_t)((o->rate > 0 ? o->rate / o->procs : 200000) *
						     ((double)o->ms / 1000.0) * 1.2) + 64;
		stamps = calloc(cap_stamps, sizeof(*stamps));
		if (!stamps)
			die("out of memory for %zu stamps", cap_stamps);
	}
	dlen = snprintf(path, sizeof(path), "%s/w%s%d-", o->dir, o->tag, idx);
	wait_go(sf);
	t0 = mono_ns();
	pace_init(&pace, o, t0);
	end = o->ms > 0 ? t0 + (uint64_t)o->ms * 1000000ull : UINT64_MAX;
	for (uint32_t seq = 0;; seq++) {
		if (o->iters > 0 && (long)seq >= o->iters)
			break;
		if (o->iters <= 0 && mono_ns() >= end)
			break; /* only between iterations: every started file is also deleted */
		snprintf(path + dlen, sizeof(path) - dlen, "%u", seq);
		snprintf(path2, sizeof(path2), "%s.r", path);
		for (int k = 0; k < 4; k++) {
			int fd, rc = 0;

			pace_wait(&pace);
			if (stamps && n_stamps < cap_stamps)
				stamps[n_stamps++] = (struct stamp){ now_ns(CLOCK_REALTIME), seq, (uint8_t)k };
			switch (k) {
			case 0:
			case 1:
				fd = open(path, k == 0 ? O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC
						       : O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
				if (fd < 0) {
					rc = -1;
					break;
				}
				if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
					rc = -1;
				close(fd);
				break;
			case 2:
				rc = rename(path, path2);
				break;
			case 3:
				rc = unlink(path2);
				break;
			}
			if (rc && !r->err)
				r->err = errno;
			r->ops++;
			r->ops_by_kind[k]++;
		}
	}
	r->elapsed_ns = mono_ns() - t0;
	if (stamps) {
		char sp[4096 + 16];
		FILE *f;

		snprintf(sp, sizeof(sp), "%s.%d", o->stamps, idx);
		f = fopen(sp, "w");
		if (!f)
			die("%s: %s", sp, strerror(errno));
		for (size_t i = 0; i < n_stamps; i++) {
			snprintf(path + dlen, sizeof(path) - dlen, "%u", stamps[i].seq);
			fprintf(f, "%" PRIu64 " %s %s%s\n", stamps[i].realtime_ns, op_names[stamps[i].kind],
				path, stamps[i].kind >= 2 ? ".r" : "");
		}
		fclose(f);
		free(stamps);
	}
}

/* ---- attribute storm: one cheap change, one event ----------------------------------------- */

/* chmod(2) flipping the mode of two files per process, in turn: one `attrib` event per syscall
 * and very little work besides, so the producers can outrun a monitor and its delivery limit
 * shows. Two files, because inotify merges an event into the one before it when both are the
 * same (same file, same mask): with one file a lagging reader would see fewer events than calls
 * without anything being lost. */
static void attrib_worker(const struct opts *o, int idx, struct sync_fds *sf, struct result *r)
{
	char path[2][4096];
	struct pace pace;
	uint64_t t0, end;

	for (int k = 0; k < 2; k++) {
		int fd;

		snprintf(path[k], sizeof(path[k]), "%s/a%s%d%c", o->dir, o->tag, idx, "ab"[k]);
		fd = open(path[k], O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			die("%s: %s", path[k], strerror(errno));
		close(fd);
	}
	wait_go(sf);
	t0 = mono_ns();
	pace_init(&pace, o, t0);
	end = o->ms > 0 ? t0 + (uint64_t)o->ms * 1000000ull : UINT64_MAX;
	for (uint64_t i = 0;; i++) {
		if (o->iters > 0 ? (long)i >= o->iters : (i % 64 == 0 && mono_ns() >= end))
			break;
		pace_wait(&pace);
		if (chmod(path[i & 1], (i & 2) ? 0600 : 0644) && !r->err)
			r->err = errno;
		r->ops++;
	}
	r->elapsed_ns = mono_ns() - t0;
	r->ops_by_kind[0] = r->ops;
}

/* ---- short-lived processes: is the whodata right when the writer is gone? ------------------ */

/*
 * Each process is forked, given the login uid and then the uid it should be reported with, and
 * execs PROGRAM (a copy of this binary under another name, so its comm and exe are its own),
 * which creates one file and exits. By the time a monitor reads the event the process is gone,
 * so anything the monitor looks up afterwards (in /proc) is missing or, if the pid was reused,
 * wrong; what the kernel recorded at the syscall is right.
 */
static void shortlived_main(const struct opts *o)
{
	FILE *out;
	uint64_t t0 = mono_ns();
	long failed = 0;

	if (!o->dir || !o->exe || !o->stamps || o->iters <= 0 || o->uid < 0 || o->auid < 0)
		die("shortlived needs --dir, --exe, --stamps, --iters, --uid and --auid");
	out = fopen(o->stamps, "w");
	if (!out)
		die("%s: %s", o->stamps, strerror(errno));
	for (long i = 0; i < o->iters; i++) {
		char path[4096];
		int status;
		pid_t pid;

		snprintf(path, sizeof(path), "%s/s%s%ld", o->dir, o->tag, i);
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			char auid[24];
			int fd = open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);

			snprintf(auid, sizeof(auid), "%ld", o->auid);
			if (fd < 0 || write(fd, auid, strlen(auid)) < 0)
				_exit(10);
			close(fd);
			if (setgroups(0, NULL) || setresgid((gid_t)o->uid, (gid_t)o->uid, (gid_t)o->uid) ||
			    setresuid((uid_t)o->uid, (uid_t)o->uid, (uid_t)o->uid))
				_exit(11);
			execl(o->exe, o->exe, "touch", path, (char *)NULL);
			_exit(12);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
			failed++;
			continue;
		}
		fprintf(out, "%d %s\n", (int)pid, path);
	}
	fclose(out);
	printf("{\"what\":\"shortlived\",\"ops\":%ld,\"failed\":%ld,\"elapsed_ns\":%" PRIu64 "}\n",
	       o->iters - failed, failed, mono_ns() - t0);
	if (failed)
		exit(1);
}

static int touch_main(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);

	static const char line[] = "short-lived\n";

	if (fd < 0 || write(fd, line, sizeof(line) - 1) != (ssize_t)sizeof(line) - 1)
		return 1;
	return close(fd) ? 1 : 0;
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct opts o;

	if (argc < 2)
		die("usage: workload write-storm|pipe-storm|open-storm|mixed|attrib|shortlived|touch|harness ... "
		    "(see bench/workload.c)");
	if (!strcmp(argv[1], "harness"))
		return harness_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "touch")) {
		if (argc != 3)
			die("usage: workload touch FILE");
		return touch_main(argv[2]);
	}
	parse_opts(argc - 1, argv + 1, &o);
	if (!strcmp(argv[1], "write-storm")) {
		run_workers(&o, write_storm, o.file ? "write-file" : "write-storm");
	} else if (!strcmp(argv[1], "pipe-storm")) {
		run_workers(&o, pipe_storm, "pipe-storm");
	} else if (!strcmp(argv[1], "open-storm")) {
		if (!o.file)
			die("open-storm needs --file");
		run_workers(&o, open_storm, "open-storm");
	} else if (!strcmp(argv[1], "attrib")) {
		if (!o.dir)
			die("attrib needs --dir");
		run_workers(&o, attrib_worker, "attrib");
	} else if (!strcmp(argv[1], "mixed")) {
		if (!o.dir)
			die("mixed needs --dir");
		run_workers(&o, mixed_worker, "mixed");
	} else if (!strcmp(argv[1], "shortlived")) {
		shortlived_main(&o);
	} else {
		die("unknown mode %s", argv[1]);
	}
	return 0;
}
