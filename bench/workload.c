// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * workload: the load generators and the loader harness used by scripts/bench-loader.mjs.
 *
 *   workload write-storm --procs N --ms T             1-byte write(2) to /dev/null
 *   workload open-storm  --procs N --ms T --file F    open(F, O_RDONLY) + close
 *   workload mixed --dir D --procs N (--ms T | --iters N) [--rate OPS] [--catchup-ms M]
 *                  [--stamps FILE] [--tag S]
 *                                                     create+write+close / append / rename / delete
 *   workload attrib --dir D --procs N (--ms T | --iters N) [--rate OPS]
 *                                                     chmod storm: one attrib event per syscall
 *   workload harness -- PROGRAM ARGS...               runs a loader, reads its stdout, answers
 *                                                     commands on stdin (see harness_main)
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
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
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

#define MAX_PROCS 16

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "workload: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ns(void) { return now_ns(CLOCK_MONOTONIC); }

static void sleep_until_mono(uint64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ull, .tv_nsec = t % 1000000000ull };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write: %s", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
}

static size_t read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* ---- options ----------------------------------------------------------------------------- */

struct opts {
	int procs;
	long ms;       /* run for this long (per process) ... */
	long iters;    /* ... or this many iterations */
	double rate;   /* total ops/s over all processes; 0 = as fast as possible */
	long catchup_ms; /* how far behind schedule a paced process may run to catch up */
	const char *dir, *file, *stamps, *tag;
};

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "procs", required_argument, NULL, 'p' }, { "ms", required_argument, NULL, 'm' },
		{ "iters", required_argument, NULL, 'i' }, { "rate", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },   { "file", required_argument, NULL, 'f' },
		{ "stamps", required_argument, NULL, 's' }, { "tag", required_argument, NULL, 't' },
		{ "catchup-ms", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .procs = 2, .tag = "" };
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

static void write_storm(const struct opts *o, int idx, struct sync_fds *sf, struct result *r)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	uint64_t t0, end, t;

	if (fd < 0)
		die("/dev/null: %s", strerror(errno));
	(void)idx;
	t = 0;
	wait_go(sf);
	t0 = mono_ns();
	end = o->ms > 0 ? t0 + (uint64_t)o->ms * 1000000ull : UINT64_MAX;
	for (;;) {
		for (int i = 0; i < BATCH; i++)
			if (write(fd, "x", 1) != 1 && !r->err)
				r->err = errno;
		r->ops += BATCH;
		if (o->iters > 0 && r->ops >= (uint64_t)o->iters)
			break;
		t = mono_ns();
		if (t >= end)
			break;
	}
	r->elapsed_ns = (o->iters > 0 ? mono_ns() : t) - t0;
	close(fd);
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

/* chmod(2) on one file per process, flipping its mode: one `attrib` event per syscall and very
 * little work besides, so the producers can outrun the loader and the delivery limit shows. */
static void attrib_worker(const struct opts *o, int idx, struct sync_fds *sf, struct result *r)
{
	char path[4096];
	struct pace pace;
	uint64_t t0, end;
	int fd;

	snprintf(path, sizeof(path), "%s/a%s%d", o->dir, o->tag, idx);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	close(fd);
	wait_go(sf);
	t0 = mono_ns();
	pace_init(&pace, o, t0);
	end = o->ms > 0 ? t0 + (uint64_t)o->ms * 1000000ull : UINT64_MAX;
	for (uint64_t i = 0;; i++) {
		if (o->iters > 0 ? (long)i >= o->iters : (i % 64 == 0 && mono_ns() >= end))
			break;
		pace_wait(&pace);
		if (chmod(path, (i & 1) ? 0600 : 0644) && !r->err)
			r->err = errno;
		r->ops++;
	}
	r->elapsed_ns = mono_ns() - t0;
	r->ops_by_kind[0] = r->ops;
}

/* ---- harness: a loader's stdout reader, driven by the benchmark script -------------------- */

/*
 * The harness starts the loader (fim-loader or the empty loader) with pipes on its stdin and
 * stdout, so it is the loader's only consumer, as the supervisor will be. It stamps every read
 * with CLOCK_REALTIME, the clock the workload stamps its ops with, which is what the latency
 * figure needs, and it counts lines so the script can tell delivered events from lost ones
 * without parsing megabytes of JSON in node.
 *
 * Commands on stdin, one per line; one JSON reply line each on stdout:
 *   mark            zero the window counters (events and their receive times since the mark)
 *   log N           from now on, keep (receive time, kernel timestamp, operation, path) of up to
 *                   N event lines
 *   dump FILE       write the kept lines to FILE as "recv_ns kernel_ns operation path"
 *   sync MS         ask the loader for stats until every record the kernel counted has arrived
 *                   here (or MS passes); reply with the window and the last stats record
 *   rss             the loader's VmRSS/VmHWM and its BPF map mappings (the ring buffer) from /proc
 *   stop | cont     SIGSTOP / SIGCONT the loader (a consumer that stalls: the ring must overflow
 *                   and the loss must be counted)
 *   quit            close the loader's stdin (its clean-exit request), wait, reply, exit
 */

#define IN_BUF (1 << 20)
#define LINE_KEEP 16384

struct logrec {
	uint64_t recv_ns, kernel_ns;
	char op[8];
	char path[232];
};

static struct {
	pid_t pid;
	int to_loader, from_loader;
	bool hello_seen, bye_seen, eof;
	char hello[LINE_KEEP], last_stats[LINE_KEEP];
	uint64_t total_events, stats_seen;
	/* window since `mark` */
	uint64_t win_events, win_first_ns, win_last_ns, win_by_op[5];
	uint64_t win_modify_check; /* modify found by the periodic check, not at close */
	/* counters from the last stats record */
	uint64_t st_events, st_lost, st_outside_dropped;
	struct logrec *log;
	size_t log_n, log_cap;
	/* a pending sync */
	bool syncing;
	uint64_t sync_deadline, sync_next_ask, sync_asks, sync_stats_at_ask;
} H;

static uint64_t json_u64(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* copies a JSON string value (our bench names need no unescaping) */
static void json_str(const char *line, const char *key, char *out, size_t cap)
{
	const char *p = strstr(line, key);
	size_t n = 0;

	out[0] = 0;
	if (!p)
		return;
	p += strlen(key);
	while (*p && *p != '"' && n + 1 < cap)
		out[n++] = *p++;
	out[n] = 0;
}

static void ask_stats(void)
{
	static const char cmd[] = "{\"cmd\":\"stats\",\"id\":\"bench\"}\n";

	if (write(H.to_loader, cmd, sizeof(cmd) - 1) < 0)
		H.eof = true;
	H.sync_asks++;
	H.sync_stats_at_ask = H.stats_seen;
	H.sync_next_ask = mono_ns() + 5000000; /* at most every 5 ms */
}

static void reply_sync(bool ok)
{
	printf("{\"type\":\"synced\",\"ok\":%s,\"asks\":%" PRIu64 ",\"total_events\":%" PRIu64
	       ",\"window_events\":%" PRIu64 ",\"window_first_ns\":%" PRIu64
	       ",\"window_last_ns\":%" PRIu64 ",\"window_by_op\":{\"add\":%" PRIu64
	       ",\"modify\":%" PRIu64 ",\"delete\":%" PRIu64 ",\"rename\":%" PRIu64
	       ",\"attrib\":%" PRIu64 ",\"modify_check\":%" PRIu64 "},\"stats\":%s}\n",
	       ok ? "true" : "false", H.sync_asks, H.total_events, H.win_events, H.win_first_ns,
	       H.win_last_ns, H.win_by_op[0], H.win_by_op[1], H.win_by_op[2], H.win_by_op[3],
	       H.win_by_op[4], H.win_modify_check, H.last_stats[0] ? H.last_stats : "null");
	fflush(stdout);
	H.syncing = false;
}

static void on_line(char *line, size_t len, uint64_t recv_ns)
{
	static const char ev[] = "{\"type\":\"event\"";
	static const char st[] = "{\"type\":\"stats\"";

	line[len] = 0;
	if (!strncmp(line, ev, sizeof(ev) - 1)) {
		char op[16];

		H.total_events++;
		H.win_events++;
		if (!H.win_first_ns)
			H.win_first_ns = recv_ns;
		H.win_last_ns = recv_ns;
		json_str(line, "\"operation\":\"", op, sizeof(op));
		switch (op[0]) {
		case 'a': H.win_by_op[op[1] == 'd' ? 0 : 4]++; break;
		case 'm': {
			char sc[16];

			H.win_by_op[1]++;
			json_str(line, "\"syscall\":\"", sc, sizeof(sc));
			if (!strcmp(sc, "check"))
				H.win_modify_check++;
			break;
		}
		case 'd': H.win_by_op[2]++; break;
		case 'r': H.win_by_op[3]++; break;
		}
		if (H.log && H.log_n < H.log_cap) {
			struct logrec *l = &H.log[H.log_n++];

			l->recv_ns = recv_ns;
			l->kernel_ns = json_u64(line, "\"timestamp\":");
			snprintf(l->op, sizeof(l->op), "%s", op);
			json_str(line, "\"path\":\"", l->path, sizeof(l->path));
		}
	} else if (!strncmp(line, st, sizeof(st) - 1)) {
		H.stats_seen++;
		snprintf(H.last_stats, sizeof(H.last_stats), "%s", line);
		H.st_events = json_u64(line, "\"events\":");
		H.st_lost = json_u64(line, "\"lost\":");
		H.st_outside_dropped = json_u64(line, "\"outside_watch_dropped\":");
		/* Every record the kernel had counted when this line was made has been read
		 * before it: the loader drains the ring in order and writes stats after. */
		if (H.syncing && H.stats_seen > H.sync_stats_at_ask &&
		    H.total_events + H.st_outside_dropped >= H.st_events)
			reply_sync(true);
	} else if (!H.hello_seen && strstr(line, "\"type\":\"hello\"")) {
		H.hello_seen = true;
		snprintf(H.hello, sizeof(H.hello), "%s", line);
		printf("{\"type\":\"ready\",\"loader_pid\":%d,\"hello\":%s}\n", (int)H.pid, line);
		fflush(stdout);
	} else if (strstr(line, "\"type\":\"bye\"")) {
		H.bye_seen = true;
	}
}

static void read_loader(void)
{
	static char buf[IN_BUF];
	static size_t have;
	ssize_t n = read(H.from_loader, buf + have, sizeof(buf) - have);
	uint64_t recv_ns = now_ns(CLOCK_REALTIME);
	size_t start = 0;

	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return;
		H.eof = true;
		return;
	}
	have += (size_t)n;
	for (size_t i = 0; i < have; i++) {
		if (buf[i] != '\n')
			continue;
		on_line(buf + start, i - start, recv_ns);
		start = i + 1;
	}
	memmove(buf, buf + start, have - start);
	have -= start;
	if (have == sizeof(buf)) /* a line longer than the buffer: protocol says < 16 KiB */
		have = 0;
}

static void reply_rss(void)
{
	char p[64], line[512];
	uint64_t rss = 0, hwm = 0, size_kb = 0, map_rss = 0, map_size = 0, ring_rss = 0,
		 ring_size = 0, ringbuf_bytes = json_u64(H.hello, "\"ringbuf_bytes\":");
	bool in_map = false;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)H.pid);
	if ((f = fopen(p, "r"))) {
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "VmRSS: %" SCNu64, &rss);
			sscanf(line, "VmHWM: %" SCNu64, &hwm);
		}
		fclose(f);
	}
	/* smaps: a mapping header line has an address range; its Rss: line follows. BPF maps are
	 * "anon_inode:bpf-map"; the ring buffer is the one at least ringbuf_bytes long (its data
	 * pages are mapped twice so records can wrap, hence 2x plus the position pages). */
	snprintf(p, sizeof(p), "/proc/%d/smaps", (int)H.pid);
	if ((f = fopen(p, "r"))) {
		while (fgets(line, sizeof(line), f)) {
			unsigned long lo, hi;
			uint64_t v;

			if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ' ')) {
				in_map = strstr(line, "bpf-map") != NULL;
				size_kb = (hi - lo) / 1024;
				if (in_map) {
					map_size += size_kb;
					if (ringbuf_bytes && size_kb * 1024 >= ringbuf_bytes)
						ring_size += size_kb;
				}
				continue;
			}
			if (in_map && sscanf(line, "Rss: %" SCNu64, &v) == 1) {
				map_rss += v;
				if (ringbuf_bytes && size_kb * 1024 >= ringbuf_bytes)
					ring_rss += v;
			}
		}
		fclose(f);
	}
	printf("{\"type\":\"rss\",\"vm_rss_kb\":%" PRIu64 ",\"vm_hwm_kb\":%" PRIu64
	       ",\"bpf_map_mappings_size_kb\":%" PRIu64 ",\"bpf_map_mappings_rss_kb\":%" PRIu64
	       ",\"ringbuf_mapping_size_kb\":%" PRIu64 ",\"ringbuf_mapping_rss_kb\":%" PRIu64 "}\n",
	       rss, hwm, map_size, map_rss, ring_size, ring_rss);
	fflush(stdout);
}

static void dump_log(const char *file)
{
	FILE *f = fopen(file, "w");

	if (!f) {
		printf("{\"type\":\"error\",\"message\":\"dump: %s\"}\n", strerror(errno));
		fflush(stdout);
		return;
	}
	for (size_t i = 0; i < H.log_n; i++)
		fprintf(f, "%" PRIu64 " %" PRIu64 " %s %s\n", H.log[i].recv_ns, H.log[i].kernel_ns,
			H.log[i].op, H.log[i].path);
	fclose(f);
	printf("{\"type\":\"dumped\",\"n\":%zu}\n", H.log_n);
	fflush(stdout);
}

static int wait_loader(int timeout_ms)
{
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	int status;

	for (;;) {
		pid_t w = waitpid(H.pid, &status, WNOHANG);

		if (w == H.pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (mono_ns() > end)
			return -1;
		usleep(10000);
	}
}

static void quit_loader(void)
{
	int code;

	close(H.to_loader);
	/* drain to EOF so the loader is never blocked on a full pipe while it exits */
	for (uint64_t end = mono_ns() + 10000000000ull; !H.eof && mono_ns() < end;) {
		struct pollfd p = { .fd = H.from_loader, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			read_loader();
	}
	code = wait_loader(2000);
	if (code < 0) {
		kill(H.pid, SIGTERM);
		code = wait_loader(3000);
	}
	if (code < 0) {
		kill(H.pid, SIGKILL);
		code = wait_loader(3000);
	}
	printf("{\"type\":\"exited\",\"code\":%d,\"bye\":%s,\"total_events\":%" PRIu64 ",\"stats\":%s}\n",
	       code, H.bye_seen ? "true" : "false", H.total_events, H.last_stats[0] ? H.last_stats : "null");
	fflush(stdout);
}

static bool do_command(char *cmd)
{
	char arg[4096] = "";
	char word[16] = "";

	sscanf(cmd, "%15s %4095s", word, arg);
	if (!strcmp(word, "mark")) {
		H.win_events = H.win_first_ns = H.win_last_ns = H.win_modify_check = 0;
		memset(H.win_by_op, 0, sizeof(H.win_by_op));
		printf("{\"type\":\"marked\",\"total_events\":%" PRIu64 "}\n", H.total_events);
	} else if (!strcmp(word, "log")) {
		free(H.log);
		H.log_cap = strtoull(arg, NULL, 10);
		H.log_n = 0;
		H.log = H.log_cap ? calloc(H.log_cap, sizeof(*H.log)) : NULL;
		printf("{\"type\":\"logging\",\"cap\":%zu}\n", H.log ? H.log_cap : 0);
	} else if (!strcmp(word, "dump")) {
		dump_log(arg);
		return true;
	} else if (!strcmp(word, "sync")) {
		H.syncing = true;
		H.sync_asks = 0;
		H.sync_deadline = mono_ns() + strtoull(arg, NULL, 10) * 1000000ull;
		ask_stats();
		return true;
	} else if (!strcmp(word, "rss")) {
		reply_rss();
		return true;
	} else if (!strcmp(word, "stop") || !strcmp(word, "cont")) {
		kill(H.pid, word[0] == 's' ? SIGSTOP : SIGCONT);
		printf("{\"type\":\"%s\"}\n", word[0] == 's' ? "stopped" : "continued");
	} else if (!strcmp(word, "quit")) {
		quit_loader();
		return false;
	} else {
		printf("{\"type\":\"error\",\"message\":\"unknown command\"}\n");
	}
	fflush(stdout);
	return true;
}

static int harness_main(int argc, char **argv)
{
	int in[2], out[2];
	char cmdbuf[8192];
	size_t cmdlen = 0;
	bool running = true, stdin_open = true;

	if (argc < 1)
		die("harness: give the loader command after --");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	H.pid = fork();
	if (H.pid < 0)
		die("fork: %s", strerror(errno));
	if (H.pid == 0) {
		/* the loader dies with us, so an interrupted benchmark leaves no sensor attached */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "workload: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	H.to_loader = in[1];
	H.from_loader = out[0];

	while (running) {
		struct pollfd p[2] = { { .fd = H.from_loader, .events = POLLIN },
				       { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN } };
		int timeout = -1;

		if (H.syncing) {
			uint64_t now = mono_ns();

			if (now >= H.sync_deadline) {
				reply_sync(false);
			} else {
				/* no answer covering everything yet: ask again */
				if (now >= H.sync_next_ask && H.stats_seen > H.sync_stats_at_ask)
					ask_stats();
				timeout = 2;
			}
		}
		if (poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (p[0].revents)
			read_loader();
		if (H.eof) {
			int code = wait_loader(3000);

			printf("{\"type\":\"exited\",\"code\":%d,\"bye\":%s,\"unexpected\":true,"
			       "\"total_events\":%" PRIu64 ",\"stats\":%s}\n",
			       code, H.bye_seen ? "true" : "false", H.total_events,
			       H.last_stats[0] ? H.last_stats : "null");
			fflush(stdout);
			return 1;
		}
		if (p[1].revents) {
			ssize_t n = read(STDIN_FILENO, cmdbuf + cmdlen, sizeof(cmdbuf) - 1 - cmdlen);
			char *nl;

			if (n <= 0) {
				/* the script went away: stop the loader the clean way */
				stdin_open = false;
				quit_loader();
				return 0;
			}
			cmdlen += (size_t)n;
			cmdbuf[cmdlen] = 0;
			while (running && (nl = strchr(cmdbuf, '\n'))) {
				*nl = 0;
				running = do_command(cmdbuf);
				memmove(cmdbuf, nl + 1, cmdlen - (size_t)(nl + 1 - cmdbuf) + 1);
				cmdlen -= (size_t)(nl + 1 - cmdbuf);
			}
			if (cmdlen >= sizeof(cmdbuf) - 1)
				cmdlen = 0;
		}
	}
	return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct opts o;

	if (argc < 2)
		die("usage: workload write-storm|open-storm|mixed|harness ... (see bench/workload.c)");
	if (!strcmp(argv[1], "harness")) {
		int i = 2;

		if (i < argc && !strcmp(argv[i], "--"))
			i++;
		return harness_main(argc - i, argv + i);
	}
	parse_opts(argc - 1, argv + 1, &o);
	if (!strcmp(argv[1], "write-storm")) {
		run_workers(&o, write_storm, "write-storm");
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
	} else {
		die("unknown mode %s", argv[1]);
	}
	return 0;
}
