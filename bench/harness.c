// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * workload harness: the consumer of one monitor's events, driven by the benchmark scripts.
 *
 *   workload harness [--format loader|fimctl|inotify|audit] [--connect SOCKET] -- PROGRAM ARGS...
 *
 * It starts the monitor (fim-loader, the empty loader, fimctl, inotifywait or auditd) and reads
 * its events: from the monitor's stdout, or with --connect from a unix socket the monitor serves
 * (auditd's af_unix dispatcher, read the way Wazuh reads it). It is the monitor's only consumer
 * and does as little as a consumer can: it stamps every read with CLOCK_REALTIME, the clock the
 * workload stamps its ops with, which is what the latency figure needs, and counts events by
 * operation, so the scripts can tell delivered events from lost ones without parsing megabytes
 * of text in node. bench/formats.c turns each monitor's lines into one shape.
 *
 * Commands on stdin, one per line; one JSON reply line each on stdout:
 *   mark            zero the window counters (events and their receive times since the mark)
 *   log N           from now on, keep (receive time, kernel timestamp, operation, whodata, path)
 *                   of up to N events
 *   dump FILE       write the kept events to FILE, one per line, fields separated by tabs:
 *                   recv_ns kernel_ns operation pid uid auid comm exe path (-1: unknown)
 *   fence DIR MS    create DIR/.fence-PID-N and wait (up to MS) until its event arrives: every
 *                   change made before it has then been delivered, for any monitor that keeps
 *                   order. A monitor that is losing events may lose the fence too, so another
 *                   one is made every 500 ms until one arrives. Fence events are not counted;
 *                   those that never came are (fence_lost in every reply: a monitor that
 *                   reports its losses counts them too). Replies "fenced" with the window.
 *   peek            reply with the window as it is now ("peeked")
 *   sync MS         loader only: ask for stats until every record the kernel counted has arrived
 *                   here (or MS passes); reply with the window and the last stats record
 *   rss             the monitor process's VmRSS/VmHWM and its BPF map mappings from /proc
 *   stop | cont     SIGSTOP / SIGCONT the monitor
 *   pause | resume  stop / start reading: a consumer that stalls, so the monitor's output backs up
 *   quit            stop the monitor (EOF on its stdin for the loader, SIGTERM for the others),
 *                   drain its output, wait, reply, exit
 *
 * The monitor dies with the harness (PR_SET_PDEATHSIG), so an interrupted benchmark leaves no
 * sensor attached and no daemon running.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats.h"
#include "util.h"

#define IN_BUF (1 << 20)
#define LINE_KEEP 16384
#define FENCE_MARK "/.fence-"

/* window counters by operation; "other" is what a monitor prints besides the stamped ops
 * (inotify's MOVED_FROM, for instance) */
enum { OP_ADD, OP_MODIFY, OP_DELETE, OP_RENAME, OP_ATTRIB, OP_OTHER, N_OPS };
static const char *const op_keys[N_OPS] = { "add", "modify", "delete", "rename", "attrib", "other" };

struct logrec {
	uint64_t recv_ns;
	struct ev ev;
};

static struct {
	enum monitor_format fmt;
	const char *connect_path;
	pid_t pid;
	int to_mon, from_mon;
	bool hello_seen, bye_seen, eof, quitting, paused;
	char hello[LINE_KEEP], last_stats[LINE_KEEP];
	uint64_t total_events, all_event_lines, stats_seen;
	/* what the monitor said about loss: fimctl loss records, inotify overflows, restarts */
	uint64_t reported_lost, overflows, restarts;
	/* window since `mark` */
	uint64_t win_events, win_first_ns, win_last_ns, win_by_op[N_OPS];
	uint64_t win_modify_check; /* modify found by the periodic check, not at close */
	/* counters from the last loader stats record */
	uint64_t st_events, st_lost, st_outside_dropped;
	struct logrec *log;
	size_t log_n, log_cap;
	/* a pending sync (loader) */
	bool syncing;
	uint64_t sync_deadline, sync_next_ask, sync_asks, sync_stats_at_ask;
	/* a pending fence: files fence_first..fence_seq made for it, in fence_dir */
	bool fencing;
	uint64_t fence_deadline, fence_retry_at, fence_first, fence_seq;
	/* fence files whose event never came (a later one of the same fence came first): lost, and
	 * then counted by a monitor that reports its losses, though not the workload's; or made
	 * before the monitor was watching (compare two replies around a phase) */
	uint64_t fence_lost;
	char fence_dir[EV_PATH];
} H;

static void reply_window(const char *type, bool ok)
{
	printf("{\"type\":\"%s\",\"ok\":%s,\"asks\":%" PRIu64 ",\"total_events\":%" PRIu64
	       ",\"window_events\":%" PRIu64 ",\"window_first_ns\":%" PRIu64 ",\"window_last_ns\":%" PRIu64
	       ",\"window_by_op\":{",
	       type, ok ? "true" : "false", H.sync_asks, H.total_events, H.win_events, H.win_first_ns,
	       H.win_last_ns);
	for (int i = 0; i < N_OPS; i++)
		printf("\"%s\":%" PRIu64 ",", op_keys[i], H.win_by_op[i]);
	printf("\"modify_check\":%" PRIu64 "},\"reported_lost\":%" PRIu64 ",\"fence_lost\":%" PRIu64
	       ",\"overflows\":%" PRIu64 ",\"restarts\":%" PRIu64 ",\"stats\":%s}\n",
	       H.win_modify_check, H.reported_lost, H.fence_lost, H.overflows, H.restarts,
	       H.last_stats[0] ? H.last_stats : "null");
	fflush(stdout);
}

static void ask_stats(void)
{
	static const char cmd[] = "{\"cmd\":\"stats\",\"id\":\"bench\"}\n";

	if (write(H.to_mon, cmd, sizeof(cmd) - 1) < 0)
		H.eof = true;
	H.sync_asks++;
	H.sync_stats_at_ask = H.stats_seen;
	H.sync_next_ask = mono_ns() + 5000000; /* at most every 5 ms */
}

static void end_sync(bool ok)
{
	reply_window("synced", ok);
	H.syncing = false;
}

static void fence_name(char *out, size_t cap, uint64_t seq)
{
	snprintf(out, cap, "%s" FENCE_MARK "%d-%" PRIu64, H.fence_dir, (int)getpid(), seq);
}

static void end_fence(bool ok)
{
	char p[EV_PATH + 64];

	reply_window("fenced", ok);
	H.fencing = false;
	for (uint64_t i = H.fence_first; i && i <= H.fence_seq; i++) {
		fence_name(p, sizeof(p), i);
		unlink(p);
	}
}

/* a fence event of ours made for the pending fence command? *seq: which of its files */
static bool is_our_fence(const char *path, uint64_t *seq)
{
	const char *m = strstr(path, FENCE_MARK);
	int pid;

	return m && sscanf(m + strlen(FENCE_MARK), "%d-%" SCNu64, &pid, seq) == 2 && pid == (int)getpid() &&
	       *seq >= H.fence_first && *seq <= H.fence_seq;
}

static int op_index(const char *op)
{
	for (int i = 0; i < OP_OTHER; i++)
		if (!strcmp(op, op_keys[i]))
			return i;
	return OP_OTHER;
}

static void on_event(const struct ev *ev, uint64_t recv_ns)
{
	H.all_event_lines++;
	if (strstr(ev->path, FENCE_MARK)) {
		uint64_t seq;

		if (H.fencing && is_our_fence(ev->path, &seq)) {
			/* the monitor keeps order: the files made before this one were lost */
			H.fence_lost += seq - H.fence_first;
			end_fence(true);
		}
		return;
	}
	H.total_events++;
	H.win_events++;
	if (!H.win_first_ns)
		H.win_first_ns = recv_ns;
	H.win_last_ns = recv_ns;
	H.win_by_op[op_index(ev->op)]++;
	if (ev->periodic_check)
		H.win_modify_check++;
	if (H.log && H.log_n < H.log_cap)
		H.log[H.log_n++] = (struct logrec){ recv_ns, *ev };
}

static void on_line(char *line, size_t len, uint64_t recv_ns)
{
	struct ev ev;
	uint64_t lost = 0;

	line[len] = 0;
	switch (parse_line(H.fmt, line, &ev, &lost, H.log != NULL)) {
	case LINE_EVENT:
		on_event(&ev, recv_ns);
		break;
	case LINE_STATS:
		H.stats_seen++;
		snprintf(H.last_stats, sizeof(H.last_stats), "%s", line);
		H.st_events = json_u64(line, "\"events\":");
		H.st_lost = json_u64(line, "\"lost\":");
		H.st_outside_dropped = json_u64(line, "\"outside_watch_dropped\":");
		/* Every record the kernel had counted when this line was made has been read
		 * before it: the loader drains the ring in order and writes stats after. */
		if (H.syncing && H.stats_seen > H.sync_stats_at_ask &&
		    H.all_event_lines + H.st_outside_dropped >= H.st_events)
			end_sync(true);
		break;
	case LINE_HELLO:
		if (H.hello_seen)
			break;
		H.hello_seen = true;
		snprintf(H.hello, sizeof(H.hello), "%s", line);
		printf("{\"type\":\"ready\",\"loader_pid\":%d,\"hello\":%s}\n", (int)H.pid, line);
		fflush(stdout);
		break;
	case LINE_BYE:
		H.bye_seen = true;
		break;
	case LINE_LOSS:
		H.reported_lost += lost;
		break;
	case LINE_OVERFLOW:
		H.overflows++;
		break;
	case LINE_RESTART:
		H.restarts++;
		break;
	case LINE_OTHER:
		break;
	}
}

static void read_monitor(void)
{
	static char buf[IN_BUF];
	static size_t have;
	ssize_t n = read(H.from_mon, buf + have, sizeof(buf) - have);
	uint64_t recv_ns = now_ns(CLOCK_REALTIME);
	size_t start = 0;

	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return;
		H.eof = true;
		return;
	}
	have += (size_t)n;
	for (char *nl; (nl = memchr(buf + start, '\n', have - start)); start = (size_t)(nl - buf) + 1)
		on_line(buf + start, (size_t)(nl - buf) - start, recv_ns);
	memmove(buf, buf + start, have - start);
	have -= start;
	if (have == sizeof(buf)) /* a line longer than the buffer: no monitor writes those */
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
	for (size_t i = 0; i < H.log_n; i++) {
		const struct ev *e = &H.log[i].ev;

		fprintf(f, "%" PRIu64 "\t%" PRIu64 "\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%s\n",
			H.log[i].recv_ns, e->kernel_ns, e->op, e->pid, e->uid, e->auid, e->comm, e->exe, e->path);
	}
	fclose(f);
	printf("{\"type\":\"dumped\",\"n\":%zu}\n", H.log_n);
	fflush(stdout);
}

/* Fence files are named after this harness, so harnesses that come and go in one directory
 * never meet each other's; they are removed once the fence is through (their events are not
 * counted either). */
static bool make_fence_file(void)
{
	char p[EV_PATH + 64];
	int fd;

	fence_name(p, sizeof(p), ++H.fence_seq);
	fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("{\"type\":\"error\",\"message\":\"fence %s: %s\"}\n", p, strerror(errno));
		fflush(stdout);
		return false;
	}
	close(fd);
	H.fence_retry_at = mono_ns() + 500000000ull;
	return true;
}

static void start_fence(const char *dir, uint64_t timeout_ms)
{
	snprintf(H.fence_dir, sizeof(H.fence_dir), "%s", dir);
	H.fence_first = H.fence_seq + 1;
	if (!make_fence_file())
		return;
	H.fencing = true;
	H.fence_deadline = mono_ns() + timeout_ms * 1000000ull;
}

static int wait_monitor(int timeout_ms)
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

static void quit_monitor(void)
{
	int code;

	H.quitting = true;
	H.paused = false;
	/* the loader's clean-exit request is EOF on stdin; the others stop on SIGTERM */
	if (H.fmt != FMT_LOADER) {
		kill(H.pid, SIGCONT);
		kill(H.pid, SIGTERM);
	}
	close(H.to_mon);
	/* drain to EOF so the monitor is never blocked on a full pipe while it exits */
	for (uint64_t end = mono_ns() + 10000000000ull; !H.eof && mono_ns() < end;) {
		struct pollfd p = { .fd = H.from_mon, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			read_monitor();
	}
	code = wait_monitor(2000);
	if (code < 0) {
		kill(H.pid, SIGTERM);
		code = wait_monitor(3000);
	}
	if (code < 0) {
		kill(H.pid, SIGKILL);
		code = wait_monitor(3000);
	}
	printf("{\"type\":\"exited\",\"code\":%d,\"bye\":%s,\"total_events\":%" PRIu64 ",\"stats\":%s}\n",
	       code, H.bye_seen ? "true" : "false", H.total_events, H.last_stats[0] ? H.last_stats : "null");
	fflush(stdout);
}

static bool do_command(char *cmd)
{
	char arg[4096] = "", arg2[32] = "";
	char word[16] = "";

	sscanf(cmd, "%15s %4095s %31s", word, arg, arg2);
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
	} else if (!strcmp(word, "peek")) {
		reply_window("peeked", true);
		return true;
	} else if (!strcmp(word, "fence")) {
		start_fence(arg, strtoull(arg2, NULL, 10));
		return true;
	} else if (!strcmp(word, "sync") && H.fmt == FMT_LOADER) {
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
	} else if (!strcmp(word, "pause") || !strcmp(word, "resume")) {
		H.paused = word[0] == 'p';
		printf("{\"type\":\"%s\"}\n", H.paused ? "paused" : "resumed");
	} else if (!strcmp(word, "quit")) {
		quit_monitor();
		return false;
	} else {
		printf("{\"type\":\"error\",\"message\":\"unknown command\"}\n");
	}
	fflush(stdout);
	return true;
}

/* auditd creates its dispatcher socket a moment after it starts; a consumer connects to it */
static int connect_socket(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint64_t end = mono_ns() + 15000000000ull;

	if (strlen(path) >= sizeof(a.sun_path))
		die("socket path too long: %s", path);
	strcpy(a.sun_path, path);
	while (mono_ns() < end) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int status;

		if (fd < 0)
			die("socket: %s", strerror(errno));
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
			return fd;
		close(fd);
		if (waitpid(H.pid, &status, WNOHANG) == H.pid)
			die("the monitor exited before %s appeared", path);
		usleep(20000);
	}
	die("no one listens on %s after 15 s", path);
}

int harness_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "connect", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int in[2], out[2], c;
	char cmdbuf[8192];
	size_t cmdlen = 0;
	bool running = true;

	H.fmt = FMT_LOADER;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		if (c == 'f' && !parse_format(optarg, &H.fmt))
			continue;
		if (c == 'c') {
			H.connect_path = optarg;
			continue;
		}
		die("harness: bad option (see the comment at the top of bench/harness.c)");
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		die("harness: give the monitor's command after --");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	H.pid = fork();
	if (H.pid < 0)
		die("fork: %s", strerror(errno));
	if (H.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(in[0], STDIN_FILENO);
		/* a monitor that serves a socket keeps its stdout for messages: they join stderr */
		dup2(H.connect_path ? STDERR_FILENO : out[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "workload: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	H.to_mon = in[1];
	if (H.connect_path) {
		close(out[0]);
		H.from_mon = connect_socket(H.connect_path);
	} else {
		H.from_mon = out[0];
	}
	/* only the loader says hello; the others are ready once started (the script then fences) */
	if (H.fmt != FMT_LOADER) {
		printf("{\"type\":\"ready\",\"loader_pid\":%d,\"hello\":null}\n", (int)H.pid);
		fflush(stdout);
	}

	while (running) {
		struct pollfd p[2] = { { .fd = H.paused ? -1 : H.from_mon, .events = POLLIN },
				       { .fd = STDIN_FILENO, .events = POLLIN } };
		int timeout = -1;
		uint64_t now = mono_ns();

		if (H.syncing) {
			if (now >= H.sync_deadline) {
				end_sync(false);
			} else {
				/* no answer covering everything yet: ask again */
				if (now >= H.sync_next_ask && H.stats_seen > H.sync_stats_at_ask)
					ask_stats();
				timeout = 2;
			}
		}
		if (H.fencing) {
			if (now >= H.fence_deadline)
				end_fence(false);
			else if (now >= H.fence_retry_at && !make_fence_file())
				H.fencing = false;
			else
				timeout = 5;
		}
		if (poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (p[0].revents)
			read_monitor();
		if (H.eof) {
			int code = wait_monitor(3000);

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
				/* the script went away: stop the monitor the clean way */
				quit_monitor();
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
