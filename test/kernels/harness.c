#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Generous: an emulated CPU runs the verifier and everything else many times slower. */
#define HELLO_TIMEOUT_MS 240000
#define SETTLE_TIMEOUT_MS 30000
#define ACK_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 30000
/* DESIGN.md §2: every line stays under 16 KiB (Fluent Bit reads 16,000-byte buffers) */
#define LINE_BUDGET 16000

const char *g_actor_path;
const char *g_backend;

void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void fail(struct t *t, const char *fmt, ...)
{
	va_list ap;

	t->fails++;
	printf("# %s: ", t->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	exit(2);
}

char *pj(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		die("out of memory");
	return s;
}

uint64_t ino(const char *p)
{
	struct stat st;

	if (lstat(p, &st))
		die("lstat %s: %s", p, strerror(errno));
	return st.st_ino;
}

void mkdirs(const char *p, mode_t mode)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", p);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			die("mkdir %s: %s", buf, strerror(errno));
		*s = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		die("mkdir %s: %s", buf, strerror(errno));
}

void write_file(const char *p, const char *content)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content) || close(fd))
		die("write %s: %s", p, strerror(errno));
}

const char *tool(const char *name)
{
	static const char *const dirs[] = { "/bin", "/usr/bin", "/sbin", "/usr/sbin" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = pj(dirs[i], name);

		if (!access(p, X_OK))
			return p;
		free(p);
	}
	die("%s not found", name);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ----------------------------------------------------------------------------------------- */

static void take_line(struct loader *l, const char *line, size_t len)
{
	char err[256];
	struct rec *r;

	if (len >= LINE_BUDGET) {
		l->bad_lines++;
		diag("line of %zu bytes, over the %d-byte budget: %.200s", len, LINE_BUDGET, line);
	}
	r = rec_parse(line, len, err, sizeof(err));
	if (!r || !rec_get(r, "type") || rec_get(r, "type")->type != J_STR) {
		l->bad_lines++;
		diag("stdout line is not a record (%s): %.*s", r ? "no type" : err, (int)(len > 300 ? 300 : len), line);
		rec_free(r);
		return;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->recs = realloc(l->recs, l->cap * sizeof(*l->recs));
		if (!l->recs)
			die("out of memory");
	}
	l->recs[l->n++] = r;
}

/* Reads what the loader wrote within timeout_ms; false once its stdout has ended. */
static bool read_some(struct loader *l, int timeout_ms)
{
	struct pollfd p = { .fd = l->out_fd, .events = POLLIN };
	char buf[65536];
	ssize_t got;

	if (l->eof)
		return false;
	if (poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
		return true;
	got = read(l->out_fd, buf, sizeof(buf));
	if (got <= 0) {
		if (got < 0 && errno == EINTR)
			return true;
		l->eof = true;
		if (l->pending_len)
			diag("stdout ended inside a line: %.*s", (int)l->pending_len, l->pending);
		return false;
	}
	l->pending = realloc(l->pending, l->pending_len + (size_t)got);
	if (!l->pending)
		die("out of memory");
	memcpy(l->pending + l->pending_len, buf, (size_t)got);
	l->pending_len += (size_t)got;

	size_t start = 0;

	for (size_t i = 0; i < l->pending_len; i++) {
		if (l->pending[i] != '\n')
			continue;
		take_line(l, l->pending + start, i - start);
		start = i + 1;
	}
	memmove(l->pending, l->pending + start, l->pending_len - start);
	l->pending_len -= start;
	return true;
}

bool loader_read(struct loader *l, int timeout_ms)
{
	return read_some(l, timeout_ms);
}

typedef bool (*rec_pred)(const struct rec *r, const void *arg);

/* Index of the first record from `from` on (read already or yet to come) matching pred, or -1. */
static long wait_for(struct loader *l, rec_pred pred, const void *arg, int timeout_ms, size_t from)
{
	long long deadline = now_ms() + timeout_ms;

	for (size_t i = from;;) {
		for (; i < l->n; i++)
			if (pred(l->recs[i], arg))
				return (long)i;
		long long left = deadline - now_ms();

		if (left <= 0 || !read_some(l, (int)left))
			return -1;
	}
}

static bool is_type(const struct rec *r, const void *type)
{
	return rec_str_is(r, "type", type);
}

int loader_start(struct loader *l, const char *loader_path, const char *tmp_root, char *const extra_args[])
{
	char tmpl[PATH_MAX], *args[64];
	int in[2], out[2], n = 0;

	memset(l, 0, sizeof(*l));
	snprintf(tmpl, sizeof(tmpl), "%s/fim-kt-XXXXXX", tmp_root);
	if (!mkdtemp(tmpl) || !realpath(tmpl, l->base))
		die("mkdtemp in %s: %s", tmp_root, strerror(errno));
	snprintf(l->w, sizeof(l->w), "%s/w", l->base);
	snprintf(l->fence, sizeof(l->fence), "%s/fence", l->base);
	snprintf(l->sibling, sizeof(l->sibling), "%s/sibling", l->base);
	mkdirs(l->w, 0755);
	mkdirs(l->fence, 0755);
	mkdirs(l->sibling, 0755);
	chmod(l->base, 0755);

	args[n++] = (char *)loader_path;
	args[n++] = "--path";
	args[n++] = l->w;
	args[n++] = "--path";
	args[n++] = l->fence;
	args[n++] = "--stats-interval";
	args[n++] = "0";
	for (int i = 0; extra_args && extra_args[i] && n < 62; i++)
		args[n++] = extra_args[i];
	args[n] = NULL;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	l->pid = fork();
	if (l->pid < 0)
		die("fork: %s", strerror(errno));
	if (l->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execv(loader_path, args);
		fprintf(stderr, "exec %s: %s\n", loader_path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	l->in_fd = in[1];
	l->out_fd = out[0];
	signal(SIGPIPE, SIG_IGN);

	long long t0 = now_ms();
	long i = wait_for(l, is_type, "hello", HELLO_TIMEOUT_MS, 0);

	if (i != 0) {
		int status = 0;

		if (waitpid(l->pid, &status, WNOHANG) == l->pid)
			diag("fim-loader exited before hello (%s %d)", WIFEXITED(status) ? "exit" : "signal",
			     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		else
			diag("no hello as the first line within %d ms", HELLO_TIMEOUT_MS);
		return -1;
	}
	diag("fim-loader ready in %lld ms", now_ms() - t0);
	return 0;
}

void loader_stop(struct loader *l, struct t *t)
{
	long long deadline = now_ms() + STOP_TIMEOUT_MS;
	int status = 0;
	const struct rec *last, *stats = NULL;
	uint64_t lost = 1;

	kill(l->pid, SIGTERM);
	while (read_some(l, (int)(deadline - now_ms())) && now_ms() < deadline)
		;
	if (!l->eof) {
		fail(t, "stdout still open %d ms after SIGTERM", STOP_TIMEOUT_MS);
		kill(l->pid, SIGKILL);
	}
	waitpid(l->pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail(t, "loader did not exit 0 on SIGTERM (%s %d)", WIFEXITED(status) ? "exit" : "signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	last = l->n ? l->recs[l->n - 1] : NULL;
	if (!last || !rec_str_is(last, "type", "bye"))
		fail(t, "the last line of a clean exit is not bye: %s", last ? last->line : "(none)");
	for (size_t i = 0; i < l->n; i++)
		if (rec_str_is(l->recs[i], "type", "stats"))
			stats = l->recs[i];
	if (!stats || !rec_u64(stats, "lost", &lost) || lost != 0)
		fail(t, "records were lost: %s", stats ? stats->line : "(no stats record)");
	if (l->bad_lines)
		fail(t, "%d stdout line(s) were not valid records under the line budget", l->bad_lines);
	close(l->in_fd);
	close(l->out_fd);
}

struct ack_want { const char *id; };

static bool is_ack(const struct rec *r, const void *arg)
{
	return rec_str_is(r, "type", "ack") && rec_str_is(r, "id", ((const struct ack_want *)arg)->id);
}

const struct rec *loader_command(struct loader *l, const char *cmd, const char *path)
{
	char id[32], line[PATH_MAX + 128];
	struct ack_want want = { id };
	int n;

	snprintf(id, sizeof(id), "kt%d", ++l->cmd_n);
	if (path && strpbrk(path, "\"\\"))
		die("command path %s would need JSON escapes", path);
	if (path)
		n = snprintf(line, sizeof(line), "{\"cmd\":\"%s\",\"path\":\"%s\",\"id\":\"%s\"}\n", cmd, path, id);
	else
		n = snprintf(line, sizeof(line), "{\"cmd\":\"%s\",\"id\":\"%s\"}\n", cmd, id);
	if (write(l->in_fd, line, (size_t)n) != n)
		die("writing a command to the loader: %s", strerror(errno));
	long i = wait_for(l, is_ack, &want, ACK_TIMEOUT_MS, 0);

	return i < 0 ? NULL : l->recs[i];
}

size_t loader_mark(const struct loader *l)
{
	return l->n;
}

/* ----------------------------------------------------------------------------------------- */

static const struct { const char *key; unsigned types; } EVENT_FIELDS[] = {
#define T(x) (1u << (x))
	{ "timestamp", T(J_NUM) },
	{ "operation", T(J_STR) },
	{ "path", T(J_STR) },
	{ "old_path", T(J_STR) | T(J_NULL) },
	{ "file_type", T(J_STR) | T(J_NULL) },
	{ "inode", T(J_NUM) | T(J_NULL) },
	{ "dev", T(J_STR) | T(J_NULL) },
	{ "pid", T(J_NUM) },
	{ "tid", T(J_NUM) },
	{ "ppid", T(J_NUM) },
	{ "uid", T(J_NUM) },
	{ "gid", T(J_NUM) },
	{ "euid", T(J_NUM) },
	{ "egid", T(J_NUM) },
	{ "auid", T(J_NUM) | T(J_NULL) },
	{ "session_id", T(J_NUM) | T(J_NULL) },
	{ "process_name", T(J_STR) },
	{ "exe", T(J_STR) | T(J_NULL) },
	{ "syscall", T(J_STR) },
	{ "cgroup_id", T(J_NUM) },
	{ "source", T(J_STR) },
	{ "process_start_ns", T(J_NUM) },
#undef T
};

/* The checks of harness.ts's eventProblems(): an event conforms to docs/protocol.md. */
static void check_conforms(struct t *t, const struct rec *e)
{
	static const char *const ops[] = { "add", "modify", "delete", "rename", "attrib" };
	const struct member *dev = rec_get(e, "dev"), *path = rec_get(e, "path");
	bool op_ok = false, is_rename = rec_str_is(e, "operation", "rename");

	for (size_t i = 0; i < sizeof(EVENT_FIELDS) / sizeof(EVENT_FIELDS[0]); i++) {
		const struct member *m = rec_get(e, EVENT_FIELDS[i].key);

		if (!m || !(EVENT_FIELDS[i].types & (1u << m->type)))
			fail(t, "event field %s missing or of the wrong type: %s", EVENT_FIELDS[i].key, e->line);
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		op_ok |= rec_str_is(e, "operation", ops[i]);
	if (!op_ok)
		fail(t, "unknown operation: %s", e->line);
	if (is_rename ? !(rec_get(e, "old_path") && rec_get(e, "old_path")->type == J_STR) : !rec_is_null(e, "old_path"))
		fail(t, "old_path must be set for rename only: %s", e->line);
	if (path && path->type == J_STR && path->val[0] != '/')
		fail(t, "path is not absolute: %s", e->line);
	if (dev && dev->type == J_STR) {
		unsigned a, b;
		char end;

		if (sscanf(dev->val, "%u:%u%c", &a, &b, &end) != 2 || !strchr("0123456789", dev->val[0]))
			fail(t, "dev is not major:minor: %s", e->line);
	}
	if (rec_is_null(e, "inode") != rec_is_null(e, "dev"))
		fail(t, "inode and dev must be known together: %s", e->line);
	if (!rec_str_is(e, "source", "kernel"))
		fail(t, "source is not kernel: %s", e->line);
	if (!rec_str_is(e, "backend", g_backend))
		fail(t, "backend is not %s: %s", g_backend, e->line);
}

static bool is_fence_add(const struct rec *r, const void *path)
{
	return rec_str_is(r, "type", "event") && rec_str_is(r, "operation", "add") && rec_str_is(r, "path", path);
}

size_t settle(struct t *t, size_t from, const struct rec ***out)
{
	struct loader *l = t->l;
	char fence[PATH_MAX], prefix[PATH_MAX];
	size_t n = 0;

	snprintf(fence, sizeof(fence), "%s/f%d", l->fence, ++l->fence_n);
	snprintf(prefix, sizeof(prefix), "%s/", l->fence);
	if (mkdir(fence, 0755))
		die("mkdir %s: %s", fence, strerror(errno));
	if (wait_for(l, is_fence_add, fence, SETTLE_TIMEOUT_MS, from) < 0)
		fail(t, "the fence %s was not reported within %d ms", fence, SETTLE_TIMEOUT_MS);
	*out = calloc(l->n - from + 1, sizeof(**out));
	for (size_t i = from; i < l->n; i++) {
		const struct rec *r = l->recs[i];
		const struct member *p = rec_get(r, "path");

		if (!rec_str_is(r, "type", "event"))
			continue;
		check_conforms(t, r);
		if (p && p->type == J_STR && !strncmp(p->val, prefix, strlen(prefix)))
			continue;
		(*out)[n++] = r;
	}
	return n;
}

/* ----------------------------------------------------------------------------------------- */

/* The start of a child in /proc/PID/stat ticks, once it has exited: a zombie keeps its stat. */
static uint64_t exited_start_ticks(pid_t pid)
{
	siginfo_t si;
	char path[64], buf[1024], *close_paren;
	unsigned long long ticks = 0;
	FILE *f;

	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT))
		die("waitid: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f))
		die("read %s: %s", path, strerror(errno));
	fclose(f);
	/* `pid (comm) state ppid ...`: starttime is the 20th field after the comm */
	close_paren = strrchr(buf, ')');
	if (!close_paren || sscanf(close_paren + 2, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
					 "%*s %*s %*s %*s %*s %llu", &ticks) != 1)
		die("no starttime in %s: %s", path, buf);
	return ticks;
}

static bool spawn(struct t *t, struct who *w, const char *comm_path, const char *file, char *const argv[])
{
	int out[2];
	size_t got = 0;
	char exe[PATH_MAX];
	const char *base = strrchr(comm_path, '/');

	memset(w, 0, sizeof(*w));
	fflush(stdout);
	if (pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	w->pid = fork();
	if (w->pid < 0)
		die("fork: %s", strerror(errno));
	if (w->pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		if (chdir("/"))
			_exit(126);
		execv(file, argv);
		fprintf(stderr, "exec %s: %s\n", file, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	for (;;) {
		ssize_t r = read(out[0], w->out + got, sizeof(w->out) - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(w->out) - 1)
			break;
	}
	close(out[0]);
	w->start_ticks = exited_start_ticks(w->pid);
	waitpid(w->pid, &w->status, 0);

	w->ppid = getpid();
	snprintf(w->comm, sizeof(w->comm), "%s", base ? base + 1 : comm_path);
	if (!realpath(comm_path, exe))
		die("realpath %s: %s", comm_path, strerror(errno));
	snprintf(w->exe, sizeof(w->exe), "%s", exe);
	/* unknown when the program becomes another (sh -c 'exec mv ...'): left empty, not checked */
	for (size_t i = 0, at = 0; !strcmp(comm_path, file) && argv[i] && at < sizeof(w->cmdline) - 1; i++)
		at += (size_t)snprintf(w->cmdline + at, sizeof(w->cmdline) - at, "%s%s", i ? " " : "", argv[i]);
	w->auid_kind = AUID_ANY;
	if (!WIFEXITED(w->status) || WEXITSTATUS(w->status) != 0) {
		fail(t, "%s %s failed (status 0x%x)", comm_path, argv[1] ? argv[1] : "", w->status);
		return false;
	}
	return true;
}

bool actor(struct t *t, struct who *w, const char *action, ...)
{
	char *argv[32];
	int n = 0;
	va_list ap;

	argv[n++] = "fim-actor";
	argv[n++] = (char *)action;
	va_start(ap, action);
	for (char *a; (a = va_arg(ap, char *)) && n < 31;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return spawn(t, w, g_actor_path, g_actor_path, argv);
}

bool run_tool(struct t *t, struct who *w, const char *comm_path, char *const argv[])
{
	return spawn(t, w, comm_path, argv[0], argv);
}

/* ----------------------------------------------------------------------------------------- */

/* b[0..n) for people: printable ASCII as is, everything else \xNN. */
static void show_bytes(char *out, size_t len, const char *b)
{
	size_t o = 0;

	for (; *b && o + 5 < len; b++) {
		unsigned char c = (unsigned char)*b;

		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

static const char *str_or(const struct rec *r, const char *key, const char *dflt)
{
	const struct member *m = rec_get(r, key);

	return m && m->type == J_STR ? m->val : dflt;
}

void brief(const struct rec *r, char *buf, size_t len)
{
	char p[1024] = "", o[1024] = "";
	char *path = rec_path(r, "path"), *old = rec_path(r, "old_path");

	if (path)
		show_bytes(p, sizeof(p), path);
	if (old)
		show_bytes(o, sizeof(o), old);
	snprintf(buf, len, "%s %s%s%s [%s, %s, %s, pid %s]", str_or(r, "operation", "?"), o, old ? " -> " : "", p,
		 str_or(r, "syscall", "?"), str_or(r, "file_type", "null"), str_or(r, "process_name", "?"),
		 rec_get(r, "pid") ? rec_get(r, "pid")->val : "?");
	free(path);
	free(old);
}

static void brief_exp(const struct exp *x, char *buf, size_t len)
{
	char p[1024] = "", o[1024] = "";

	show_bytes(p, sizeof(p), x->path);
	if (x->old_path)
		show_bytes(o, sizeof(o), x->old_path);
	snprintf(buf, len, "%s %s%s%s [%s, %s, %s, pid %d]", x->op, o, x->old_path ? " -> " : "", p,
		 x->syscall ? x->syscall : "*", x->file_type.k == X_VAL ? x->file_type.s : x->file_type.k ? "null" : "*",
		 x->who ? x->who->comm : "*", x->who ? x->who->pid : 0);
}

static void add_problem(char *buf, size_t len, const char *fmt, ...)
{
	size_t o = strlen(buf);
	va_list ap;

	if (o + 3 >= len)
		return;
	if (o)
		buf[o++] = ';', buf[o++] = ' ';
	va_start(ap, fmt);
	vsnprintf(buf + o, len - o, fmt, ap);
	va_end(ap);
}

static void want_u64(char *pr, size_t len, const struct rec *e, const char *key, uint64_t v)
{
	uint64_t got;

	if (!rec_u64(e, key, &got) || got != v)
		add_problem(pr, len, "%s %s, not %llu", key, rec_get(e, key) ? rec_get(e, key)->val : "missing",
			    (unsigned long long)v);
}

/* What differs between an event and its expectation, "" when nothing. */
/*
 * The kernel reads the acting process's command line, so every record of a change the process
 * made itself has it; a modify found for it later (the periodic check, its exit) may not.
 */
static void want_cmdline(char *pr, size_t len, const struct rec *e, const struct who *w)
{
	const char *sc = str_or(e, "syscall", "");
	char *got;

	if (!w->cmdline[0])
		return;
	got = rec_path(e, "cmdline");
	if (!got) {
		if (strcmp(sc, "check") && strcmp(sc, "exit"))
			add_problem(pr, len, "no cmdline");
		return;
	}
	if (strcmp(got, w->cmdline))
		add_problem(pr, len, "cmdline %.200s, not %.200s", got, w->cmdline);
	free(got);
}

static void compare(const struct rec *e, const struct exp *x, char *pr, size_t len)
{
	char *path = rec_path(e, "path"), *old = rec_path(e, "old_path");
	const struct who *w = x->who;
	uint64_t start_ns;

	pr[0] = '\0';
	if (!rec_str_is(e, "operation", x->op))
		add_problem(pr, len, "operation");
	if (!path || strcmp(path, x->path))
		add_problem(pr, len, "path");
	if (x->old_path && (!old || strcmp(old, x->old_path)))
		add_problem(pr, len, "old_path");
	if (x->file_type.k == X_NULL && !rec_is_null(e, "file_type"))
		add_problem(pr, len, "file_type %s, not null", str_or(e, "file_type", "?"));
	if (x->file_type.k == X_VAL && !rec_str_is(e, "file_type", x->file_type.s))
		add_problem(pr, len, "file_type %s, not %s", str_or(e, "file_type", "null"), x->file_type.s);
	if (x->inode.k == X_NULL && !rec_is_null(e, "inode"))
		add_problem(pr, len, "inode %s, not null", rec_get(e, "inode") ? rec_get(e, "inode")->val : "missing");
	if (x->inode.k == X_VAL)
		want_u64(pr, len, e, "inode", x->inode.v);
	if (x->syscall && !rec_str_is(e, "syscall", x->syscall))
		add_problem(pr, len, "syscall %s, not %s", str_or(e, "syscall", "?"), x->syscall);
	if (w) {
		want_u64(pr, len, e, "pid", (uint64_t)w->pid);
		want_u64(pr, len, e, "tid", (uint64_t)w->pid);
		want_u64(pr, len, e, "ppid", (uint64_t)w->ppid);
		want_u64(pr, len, e, "uid", w->uid);
		want_u64(pr, len, e, "euid", w->euid);
		want_u64(pr, len, e, "gid", w->gid);
		want_u64(pr, len, e, "egid", w->egid);
		if (!rec_u64(e, "process_start_ns", &start_ns) ||
		    start_ns / (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK)) != w->start_ticks)
			add_problem(pr, len, "process_start_ns %s, not in tick %llu",
				    rec_get(e, "process_start_ns") ? rec_get(e, "process_start_ns")->val : "missing",
				    (unsigned long long)w->start_ticks);
		if (!rec_str_is(e, "process_name", w->comm))
			add_problem(pr, len, "process_name %s, not %s", str_or(e, "process_name", "?"), w->comm);
		if (!rec_str_is(e, "exe", w->exe))
			add_problem(pr, len, "exe %s, not %s", str_or(e, "exe", "null"), w->exe);
		want_cmdline(pr, len, e, w);
		if (w->auid_kind == AUID_NULL && (!rec_is_null(e, "auid") || !rec_is_null(e, "session_id")))
			add_problem(pr, len, "auid/session_id not null");
		if (w->auid_kind == AUID_VALUE) {
			want_u64(pr, len, e, "auid", w->auid);
			want_u64(pr, len, e, "session_id", w->session_id);
		}
	}
	free(path);
	free(old);
}

void check_events(struct t *t, const struct rec *const *evs, size_t n, const struct exp *exp, size_t m)
{
	char pr[1024], line[2300];
	bool ok = n == m;

	for (size_t i = 0; ok && i < m; i++) {
		compare(evs[i], &exp[i], pr, sizeof(pr));
		ok = !pr[0];
	}
	if (ok)
		return;
	fail(t, "the events are not the expected ones");
	diag("  expected (%zu):", m);
	for (size_t i = 0; i < m; i++) {
		brief_exp(&exp[i], line, sizeof(line));
		diag("    %s", line);
	}
	diag("  observed (%zu):", n);
	for (size_t i = 0; i < n; i++) {
		brief(evs[i], line, sizeof(line));
		diag("    %s", line);
		if (i < m) {
			compare(evs[i], &exp[i], pr, sizeof(pr));
			if (pr[0])
				diag("      differs: %s", pr);
		}
	}
}
