// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fim-loader: loads the fim-whodata kernel sensor and turns its ring buffer into NDJSON.
 *
 * Small and dumb on purpose (DESIGN.md §1): load, attach, register watched paths, format,
 * count. Records on stdout, logs on stderr, commands on stdin; docs/protocol.md is the contract.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "command.h"
#include "fim.h"
#include "fim-hooks.h"
#include "fim.skel.h"
#include "fim-compat.skel.h"
#include "fim-vfs.skel.h"
#include "fim-vfs-compat.skel.h"
#include "json_out.h"
#include "pacing.h"
#include "paths.h"

#define PROTOCOL_VERSION 1
#define LOADER_VERSION "0.1.0"
#define TRACEFS "/sys/kernel/tracing"

enum exit_code {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,
	EXIT_USAGE = 2,
	EXIT_UNSUPPORTED = 3,
	EXIT_PERMISSION = 4,
};

/* DESIGN.md §2: an event line stays under 16 KiB so Fluent Bit's stdin reader never splits it. */
#define LINE_MAX_BYTES 16000
#define PATH_FIELD_MAX 4600 /* budget per path-like field, escapes and _b64 sibling included */
/* and the command line's: three full path fields, this and the rest of an event stay under
 * LINE_MAX_BYTES (the rest is under 700 bytes even with every id at its widest) */
#define CMDLINE_FIELD_MAX 1200
/* Lines wait here until the loop's turn ends or the next one might not fit. A busy stream's
 * turn (one max delay of records) is tens of KiB; only a backlog fills the buffer, and a full
 * buffer is one write into the roomy pipe (STDOUT_PIPE_BYTES). Larger, it only cost memory:
 * the pages a backlog touched stayed in the loader's RSS for good. */
#define OUT_BUF_BYTES (256 << 10)
#define STDOUT_PIPE_BYTES (1 << 20)
#define HOOK_NAME_MAX 48

struct watch {
	int id; /* 0 = free slot */
	int fd; /* O_PATH, pins the directory's dentry and inode; -1 while the path is gone */
	__u64 inode_key;
	/* the directory that holds the path, where it may be made again: O_PATH, as fd; -1 for "/" */
	int parent_fd;
	__u64 parent_key;
	struct fim_root_name name_key; /* of root_names, for the inode fd pins */
	char path[PATH_MAX];
	size_t path_len;
};

static struct {
	/* the loaded objects, open from loading until their programs are attached
	 * (let_go_of_objects()); afterwards the loader works through the handles below */
	struct fim_bpf *skel;
	struct fim_vfs *vfs; /* the fentry backend's programs, NULL on the tracepoint backend */
	int rb_fd, stats_fd, watch_reg_fd, watch_inodes_fd, watch_prefixes_fd, root_parents_fd, root_names_fd;
	/* last_wake_ns, wakeup_gap_ns and ringbuf_used_max of each object that sends records, in
	 * its .bss */
	struct sensor_globals {
		__u64 *last_wake_ns;
		__u64 *wakeup_gap_ns;
		__u64 *ringbuf_used_max;
	} globals[2];
	int n_globals;
	struct ring_buffer *rb;
	struct bpf_link *check_link; /* iter over tracked writable files: the periodic check */
	struct bpf_link *seed_link;  /* iter over every open file: writers that predate a watch */
	struct watch watches[CLI_MAX_PATHS * 4];
	/* slots at and past this one were never used: the loops over the watches stop there. A
	 * slot is 4 KiB, and going through all of them for each rename or lexical path cost more
	 * than formatting its event. */
	size_t watch_slots;
	int next_watch_id;
	struct loader_opts opts;
	__u64 boot_wall_ns;
	char out[OUT_BUF_BYTES];
	size_t out_len;
	char line[LINE_MAX_BYTES + 256];
	__u64 lines_written, outside_watch_dropped, commands;
	__u64 unchanged_renames_dropped; /* see rename_changed_nothing() */
	__u64 ringbuf_used_max; /* the kernel's marks taken since the last stats record */
	__u64 lost_reported;    /* `lost` in the last stats record */
	__u64 loss_looked_ns;   /* CLOCK_MONOTONIC of the last look_for_loss() at the counters */
	int loss_tfd;           /* one-shot: a look that came too soon */
	bool loss_look_pending; /* loss_tfd is armed */
	bool stdout_broken;
	char hooks[96][HOOK_NAME_MAX];
	struct bpf_link *links[96]; /* hooks[i]'s link, detached at exit (detach_links()) */
	int n_hooks;
	int ncpus;
	bool compat; /* the object without direct kernel reads is loaded */
	__u32 *tree_generation; /* the sensor's map of that name, mapped */
	enum cli_backend backend; /* in use: BACKEND_TRACEPOINT or BACKEND_FENTRY */
	char backend_reason[256]; /* why, for hello and `fimctl check` */
} L;

static const char *backend_name(enum cli_backend b)
{
	return b == BACKEND_FENTRY ? "fentry" : b == BACKEND_TRACEPOINT ? "tracepoint" : "auto";
}

static void logmsg(const char *level, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fim-loader: %s: ", level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define die(code, ...)                            \
	do {                                      \
		logmsg("error", __VA_ARGS__);     \
		exit(code);                       \
	} while (0)

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || !getenv("FIM_LOADER_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- output: whole lines into one buffer, written in batches ------------------------- */

static void flush_out(void)
{
	size_t off = 0;

	while (off < L.out_len && !L.stdout_broken) {
		ssize_t n = write(STDOUT_FILENO, L.out + off, L.out_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* the reader is gone: nothing we print can arrive any more */
			L.stdout_broken = true;
			logmsg("error", "stdout: %s", strerror(errno));
			break;
		}
		off += n;
	}
	L.out_len = 0;
}

/*
 * A pipe holds 64 KiB unless asked for more, less than a busy stream's batch: the loader then
 * blocked in write() until its reader took the first part, two context switches per batch on
 * both sides. With 1 MiB (the default fs.pipe-max-size, four times L.out) a batch is one write
 * the loader does not wait for, and so are the next few while the reader catches up. The kernel
 * allocates the pipe's pages as they fill, so a reader that keeps up costs no memory for it.
 * Not a pipe, or not allowed: nothing changes.
 */
static void widen_stdout_pipe(void)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) || !S_ISFIFO(st.st_mode))
		return;
	if (fcntl(STDOUT_FILENO, F_GETPIPE_SZ) < STDOUT_PIPE_BYTES &&
	    fcntl(STDOUT_FILENO, F_SETPIPE_SZ, STDOUT_PIPE_BYTES) < 0)
		logmsg("info", "stdout pipe left at %d bytes: %s", fcntl(STDOUT_FILENO, F_GETPIPE_SZ),
		       strerror(errno));
}

/* An event is formatted in place at the end of the output buffer, which emit_line() then
 * only has to take: one copy of each line less. */
static void begin_line_in_place(struct jw *w)
{
	if (sizeof(L.out) - L.out_len < LINE_MAX_BYTES)
		flush_out();
	jw_init(w, L.out + L.out_len, LINE_MAX_BYTES);
}

static void emit_line(const struct jw *w)
{
	if (w->overflow) {
		logmsg("warning", "record did not fit in %d bytes, dropped", LINE_MAX_BYTES);
		return;
	}
	if (w->buf == L.out + L.out_len) {
		L.out_len += w->len;
		L.lines_written++;
		return;
	}
	if (L.out_len + w->len > sizeof(L.out))
		flush_out();
	memcpy(L.out + L.out_len, w->buf, w->len);
	L.out_len += w->len;
	L.lines_written++;
}

static __u64 clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void refresh_boot_wall(void)
{
	L.boot_wall_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
}

/* ---- events ------------------------------------------------------------------------------ */

static const char *const syscall_names[FIM_SC_MAX] = {
	[FIM_SC_OPEN] = "open", [FIM_SC_OPENAT] = "openat", [FIM_SC_OPENAT2] = "openat2",
	[FIM_SC_CREAT] = "creat", [FIM_SC_CLOSE] = "close", [FIM_SC_CHECK] = "check",
	[FIM_SC_UNLINK] = "unlink", [FIM_SC_UNLINKAT] = "unlinkat", [FIM_SC_RMDIR] = "rmdir",
	[FIM_SC_RENAME] = "rename", [FIM_SC_RENAMEAT] = "renameat", [FIM_SC_RENAMEAT2] = "renameat2",
	[FIM_SC_MKDIR] = "mkdir", [FIM_SC_MKDIRAT] = "mkdirat", [FIM_SC_MKNOD] = "mknod",
	[FIM_SC_MKNODAT] = "mknodat", [FIM_SC_SYMLINK] = "symlink", [FIM_SC_SYMLINKAT] = "symlinkat",
	[FIM_SC_LINK] = "link", [FIM_SC_LINKAT] = "linkat", [FIM_SC_CHMOD] = "chmod",
	[FIM_SC_FCHMOD] = "fchmod", [FIM_SC_FCHMODAT] = "fchmodat", [FIM_SC_FCHMODAT2] = "fchmodat2",
	[FIM_SC_CHOWN] = "chown", [FIM_SC_FCHOWN] = "fchown", [FIM_SC_LCHOWN] = "lchown",
	[FIM_SC_FCHOWNAT] = "fchownat", [FIM_SC_SETXATTR] = "setxattr", [FIM_SC_LSETXATTR] = "lsetxattr",
	[FIM_SC_FSETXATTR] = "fsetxattr", [FIM_SC_REMOVEXATTR] = "removexattr",
	[FIM_SC_LREMOVEXATTR] = "lremovexattr", [FIM_SC_FREMOVEXATTR] = "fremovexattr",
	[FIM_SC_UTIME] = "utime", [FIM_SC_UTIMES] = "utimes", [FIM_SC_UTIMENSAT] = "utimensat",
	[FIM_SC_FUTIMESAT] = "futimesat", [FIM_SC_TRUNCATE] = "truncate",
	[FIM_SC_FTRUNCATE] = "ftruncate", [FIM_SC_FALLOCATE] = "fallocate",
	[FIM_SC_SETXATTRAT] = "setxattrat", [FIM_SC_REMOVEXATTRAT] = "removexattrat",
	[FIM_SC_EXIT] = "exit",
};

static const char *const op_names[] = {
	[FIM_OP_ADD] = "add", [FIM_OP_MODIFY] = "modify", [FIM_OP_DELETE] = "delete",
	[FIM_OP_RENAME] = "rename", [FIM_OP_ATTRIB] = "attrib",
};

static const char *file_type_name(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "char";
	case S_IFBLK: return "block";
	default: return NULL;
	}
}

/* "major:minor" without printf, which showed in the loader's profile: the kernel's encoding is
 * major << 20 | minor */
static void put_dev(struct jw *w, __u32 dev)
{
	char buf[24], *p = buf + sizeof(buf);
	unsigned v = dev & 0xfffff;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	*--p = ':';
	v = dev >> 20;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jw__key(w, "dev", 3);
	jw__str_value(w, p, (size_t)(buf + sizeof(buf) - p));
}

static void put_id(struct jw *w, const char *key, __u32 v)
{
	if (v == FIM_UNSET_ID)
		jw_null(w, key);
	else
		jw_u64(w, key, v);
}

/* A path field; `truncated` collects the names of fields that had to be cut. */
static void put_path_field(struct jw *w, const char *key, const char *p, size_t n, bool cut_in_kernel,
			   const char **truncated, int *n_trunc)
{
	size_t written;

	if (n == 0 && !cut_in_kernel) {
		p = "/"; /* the kernel writes the root directory as an empty path */
		n = 1;
	}
	written = jw_bytes_cut(w, key, (const unsigned char *)p, n, PATH_FIELD_MAX);
	if (written < n || cut_in_kernel)
		truncated[(*n_trunc)++] = key;
}

/*
 * The command lines the kernel sent, by process (pid modulo the slots, with its start time):
 * a record flagged FIM_F_CMDLINE_SAME carries no bytes, the kernel having sent them in an
 * earlier record about the same process, and gets them here. A process whose slot another took
 * meanwhile gets no cmdline, which a reader then looks for elsewhere (fimctl: /proc).
 */
#define CMDLINE_SLOTS 2048

struct cmdline {
	const char *bytes;
	size_t len; /* 0: none known */
};

static struct {
	__u32 pid;
	__u64 process_start_ns;
	__u16 len;
	char bytes[FIM_CMDLINE_MAX];
} cmdline_slots[CMDLINE_SLOTS];

/* Where a record's own command line bytes are (FIM_F_CMDLINE): after its paths and exe. */
static const char *record_cmdline(const struct fim_event *e)
{
	return e->data + e->path_len + e->old_path_len + e->exe_len;
}

/* Every record that carries a command line, before anything may drop the record. */
static void remember_cmdline(const struct fim_event *e)
{
	__u32 i = e->pid % CMDLINE_SLOTS;

	if (!(e->flags & FIM_F_CMDLINE) || e->cmdline_len >= FIM_CMDLINE_MAX)
		return;
	cmdline_slots[i].pid = e->pid;
	cmdline_slots[i].process_start_ns = e->process_start_ns;
	cmdline_slots[i].len = e->cmdline_len;
	memcpy(cmdline_slots[i].bytes, record_cmdline(e), e->cmdline_len);
}

static struct cmdline cmdline_of(const struct fim_event *e)
{
	__u32 i = e->pid % CMDLINE_SLOTS;

	if (e->flags & FIM_F_CMDLINE)
		return (struct cmdline){ record_cmdline(e), e->cmdline_len };
	if ((e->flags & FIM_F_CMDLINE_SAME) && cmdline_slots[i].pid == e->pid &&
	    cmdline_slots[i].process_start_ns == e->process_start_ns)
		return (struct cmdline){ cmdline_slots[i].bytes, cmdline_slots[i].len };
	return (struct cmdline){ NULL, 0 };
}

/*
 * The process fields of an event (pid to cmdline) as the last event of that thread printed
 * them: a process makes its changes in bursts, and formatting its nine ids, its name, its
 * executable and its command line again was a third of the loader's time per event. A few
 * slots, chosen by thread, because the ring interleaves the bursts of processes running at
 * once (with one slot, two writers alternating missed on nearly every record). Only a plain
 * executable path and a command line that was not cut are kept: the record's truncated array
 * never depends on what is copied from here.
 */
#define WHO_EXE_MAX 256
#define WHO_FLAGS (FIM_F_EXE | FIM_F_EXE_TRUNC | FIM_F_CMDLINE_TRUNC)
#define WHO_SLOTS 8

struct who_json {
	bool valid;
	__u32 ids[9]; /* pid tid ppid uid gid euid egid auid ses, as in struct fim_event */
	char comm[FIM_COMM_LEN];
	__u32 flags; /* WHO_FLAGS of the record */
	__u16 exe_len, cmdline_len;
	char exe[WHO_EXE_MAX];
	char cmdline[FIM_CMDLINE_MAX];
	size_t len;
	char json[2048];
};

static struct who_json who_slots[WHO_SLOTS];

_Static_assert(offsetof(struct fim_event, ses) - offsetof(struct fim_event, pid) == 8 * sizeof(__u32),
	       "the process ids of struct fim_event are contiguous");

static struct who_json *who_slot(const struct fim_event *e)
{
	return &who_slots[e->tid % WHO_SLOTS];
}

static bool who_json_matches(const struct who_json *who, const struct fim_event *e, const char *exe,
			     struct cmdline cmd)
{
	return who->valid && who->flags == (e->flags & WHO_FLAGS) &&
	       !memcmp(who->ids, &e->pid, sizeof(who->ids)) && !memcmp(who->comm, e->comm, sizeof(who->comm)) &&
	       (!(e->flags & FIM_F_EXE) || (who->exe_len == e->exe_len && !memcmp(who->exe, exe, e->exe_len))) &&
	       who->cmdline_len == cmd.len && !memcmp(who->cmdline, cmd.bytes ? cmd.bytes : "", cmd.len);
}

static void who_json_remember(struct who_json *who, const struct fim_event *e, const char *exe,
			      struct cmdline cmd, const char *json, size_t len)
{
	who->valid = false;
	if (len > sizeof(who->json) || (e->flags & (FIM_F_EXE_TRUNC | FIM_F_CMDLINE_TRUNC)) ||
	    ((e->flags & FIM_F_EXE) && e->exe_len > WHO_EXE_MAX) || cmd.len >= FIM_CMDLINE_MAX)
		return;
	memcpy(who->ids, &e->pid, sizeof(who->ids));
	memcpy(who->comm, e->comm, sizeof(who->comm));
	who->flags = e->flags & WHO_FLAGS;
	who->exe_len = e->flags & FIM_F_EXE ? e->exe_len : 0;
	memcpy(who->exe, exe, who->exe_len);
	who->cmdline_len = cmd.len;
	memcpy(who->cmdline, cmd.bytes ? cmd.bytes : "", cmd.len);
	memcpy(who->json, json, len);
	who->len = len;
	who->valid = true;
}

/*
 * The command line as /proc/PID/cmdline reads once its NULs are spaces, the form users know
 * from ps: arguments joined by one space, the NUL that ends the last one dropped. Present
 * only when the kernel read it and it is not empty, so that a reader knows to look elsewhere
 * otherwise.
 */
static void put_cmdline_field(struct jw *w, const struct fim_event *e, struct cmdline cmd,
			      const char **truncated, int *n_trunc)
{
	unsigned char joined[FIM_CMDLINE_MAX];
	size_t n = cmd.len < sizeof(joined) ? cmd.len : sizeof(joined);

	while (n > 0 && cmd.bytes[n - 1] == 0)
		n--;
	if (n == 0) /* none, or wiped by the process: nothing to name it by, as /proc says */
		return;
	for (size_t i = 0; i < n; i++)
		joined[i] = cmd.bytes[i] ? (unsigned char)cmd.bytes[i] : ' ';
	if (jw_bytes_cut(w, "cmdline", joined, n, CMDLINE_FIELD_MAX) < n || (e->flags & FIM_F_CMDLINE_TRUNC))
		truncated[(*n_trunc)++] = "cmdline";
}

static void format_event(const struct fim_event *e, const char *path, size_t plen, const char *old,
			 size_t olen, __u32 path_trunc_flag, __u32 old_trunc_flag)
{
	size_t who_at;
	int trunc_before_who;
	struct jw w;
	const char *truncated[4];
	int n_trunc = 0;
	const char *ftype = NULL;
	const char *exe = e->data + e->path_len + e->old_path_len;
	struct cmdline cmd = cmdline_of(e);
	struct who_json *who = who_slot(e);

	begin_line_in_place(&w);
	jw_begin(&w);
	jw_literal(&w, "type", "event");
	jw_u64(&w, "timestamp", L.boot_wall_ns + e->ts_boot_ns);
	jw_literal(&w, "operation", e->op < sizeof(op_names) / sizeof(op_names[0]) && op_names[e->op] ? op_names[e->op] : "unknown");
	put_path_field(&w, "path", path, plen, e->flags & path_trunc_flag, truncated, &n_trunc);
	if (e->op == FIM_OP_RENAME)
		put_path_field(&w, "old_path", old, olen, e->flags & old_trunc_flag, truncated, &n_trunc);
	else
		jw_null(&w, "old_path");
	if (e->mode)
		ftype = file_type_name(e->mode);
	if (ftype)
		jw_literal(&w, "file_type", ftype);
	else
		jw_null(&w, "file_type");
	if (e->flags & FIM_F_INODE) {
		jw_u64(&w, "inode", e->ino);
		put_dev(&w, e->dev);
	} else {
		jw_null(&w, "inode");
		jw_null(&w, "dev");
	}
	who_at = w.len;
	if (who_json_matches(who, e, exe, cmd)) {
		jw__raw(&w, who->json, who->len);
	} else {
		trunc_before_who = n_trunc;
		jw_u64(&w, "pid", e->pid);
		jw_u64(&w, "tid", e->tid);
		jw_u64(&w, "ppid", e->ppid);
		jw_u64(&w, "uid", e->uid);
		jw_u64(&w, "gid", e->gid);
		jw_u64(&w, "euid", e->euid);
		jw_u64(&w, "egid", e->egid);
		put_id(&w, "auid", e->auid);
		put_id(&w, "session_id", e->ses);
		jw_bytes(&w, "process_name", (const unsigned char *)e->comm, strnlen(e->comm, FIM_COMM_LEN));
		if (e->flags & FIM_F_EXE)
			put_path_field(&w, "exe", exe, e->exe_len, e->flags & FIM_F_EXE_TRUNC, truncated, &n_trunc);
		else
			jw_null(&w, "exe");
		put_cmdline_field(&w, e, cmd, truncated, &n_trunc);
		if (!w.overflow && n_trunc == trunc_before_who)
			who_json_remember(who, e, exe, cmd, w.buf + who_at, w.len - who_at);
		else
			who->valid = false;
	}
	jw_literal(&w, "syscall", e->syscall < FIM_SC_MAX && syscall_names[e->syscall] ? syscall_names[e->syscall] : "unknown");
	jw_u64(&w, "cgroup_id", e->cgroup_id);
	jw_literal(&w, "source", "kernel");
	jw_literal(&w, "backend", backend_name(L.backend));
	if (n_trunc) {
		jw_array_begin(&w, "truncated");
		for (int i = 0; i < n_trunc; i++)
			jw_array_str(&w, truncated[i]);
		jw_array_end(&w);
	}
	/* last, so that a reader that keeps it to itself cuts it off the end of the line */
	jw_u64(&w, "process_start_ns", e->process_start_ns);
	jw_end(&w);
	emit_line(&w);
}

static struct watch *find_watch_by_path(const char *p, size_t n)
{
	for (size_t i = 0; i < L.watch_slots; i++)
		if (L.watches[i].id && L.watches[i].path_len == n && !memcmp(L.watches[i].path, p, n))
			return &L.watches[i];
	return NULL;
}

static bool under_any_watch(const char *p, size_t n)
{
	for (size_t i = 0; i < L.watch_slots; i++)
		if (L.watches[i].id && path_is_under(p, n, L.watches[i].path, L.watches[i].path_len))
			return true;
	return false;
}

static int register_watch(struct watch *w);
static void seed_open_writers(void);
static void forget_watched_inode(struct watch *w);

/*
 * A watched root that is created or renamed into place is a new inode: register it again so
 * the fd-based filter follows the name (name-based syscalls already match by prefix).
 */
static void follow_watched_root(const struct fim_event *e, const char *p, size_t n)
{
	struct watch *w;

	if (e->op != FIM_OP_ADD && e->op != FIM_OP_RENAME)
		return;
	w = find_watch_by_path(p, n);
	if (!w)
		return;
	if (register_watch(w) == 0) {
		logmsg("info", "watched path %s was %s; now watching the new one", w->path,
		       e->op == FIM_OP_ADD ? "made again" : "replaced");
		/* the call that made it may hold it open for write (open(O_CREAT) of a file) */
		seed_open_writers();
	}
}

/*
 * A watched root deleted, or moved away (not exchanged: the name still holds one), stops being
 * watched where it went: the watch is on the path, and waits in its directory for the path to
 * be made again (follow_watched_root()).
 */
static void let_go_of_watched_root(const struct fim_event *e, const char *p, size_t n, const char *old,
				   size_t olen)
{
	struct watch *w;

	if (e->op == FIM_OP_DELETE)
		w = find_watch_by_path(p, n);
	else if (e->op == FIM_OP_RENAME && !(e->flags & FIM_F_EXCHANGE))
		w = find_watch_by_path(old, olen);
	else
		return;
	if (!w || w->fd < 0)
		return;
	/* read late, the record may be older than the path there now: follow that one */
	if (!access(w->path, F_OK)) {
		register_watch(w);
		return;
	}
	forget_watched_inode(w);
	if (e->op == FIM_OP_DELETE)
		logmsg("info", "watched path %s was deleted; it is watched again if it is made again", w->path);
	else
		logmsg("info", "watched path %s was moved to %.*s; it is no longer watched there, and watched again if it is made again",
		       w->path, (int)n, p);
}

/*
 * A name-based path is "<canonical base>/<string as passed>": a symlink among the string's
 * directories is not resolved in the kernel. Its parent directory still exists when the event
 * arrives (for a delete too), so resolve that here. Bursts hit the same directory, hence a
 * small cache; a short lifetime bounds how long a replaced symlink can be misread.
 */
#define PARENT_CACHE_SLOTS 8
#define PARENT_CACHE_NS 100000000ull

static struct {
	char dir[PATH_MAX];
	char real[PATH_MAX];
	__u64 at_ns;
} parent_cache[PARENT_CACHE_SLOTS];
static unsigned parent_cache_next;

/* now: the event's kernel timestamp (CLOCK_BOOTTIME), a clock read per event less; events of
 * two CPUs may come a little out of order, hence the signed age */
static const char *resolve_dir(const char *dir, __u64 now)
{
	char real[PATH_MAX];
	unsigned slot;

	for (unsigned i = 0; i < PARENT_CACHE_SLOTS; i++)
		if ((__s64)(now - parent_cache[i].at_ns) < (__s64)PARENT_CACHE_NS && !strcmp(parent_cache[i].dir, dir))
			return parent_cache[i].real;
	/* into a buffer of its own: a failed realpath() leaves part of a path in it, which in the
	 * slot would have become another directory's answer */
	if (!realpath(dir, real))
		return NULL;
	slot = parent_cache_next++ % PARENT_CACHE_SLOTS;
	memcpy(parent_cache[slot].real, real, sizeof(real));
	snprintf(parent_cache[slot].dir, sizeof(parent_cache[slot].dir), "%s", dir);
	parent_cache[slot].at_ns = now;
	return parent_cache[slot].real;
}

/* p holds a normalised absolute path of n bytes in a buffer of cap bytes; returns the new n. */
static size_t canonical_parent(char *p, size_t n, size_t cap, __u64 now)
{
	char dir[PATH_MAX];
	const char *real;
	size_t slash = n, rlen, blen;

	while (slash > 0 && p[slash - 1] != '/')
		slash--;
	if (slash <= 1 || slash - 1 >= sizeof(dir) || memchr(p, 0, n))
		return n; /* in "/" itself, or not a C string: nothing to resolve */
	memcpy(dir, p, slash - 1);
	dir[slash - 1] = 0;
	real = resolve_dir(dir, now);
	if (!real || !strcmp(real, dir))
		return n;
	rlen = strlen(real);
	blen = n - slash;
	if (rlen + 1 + blen > cap)
		return n;
	memmove(p + rlen + 1, p + slash, blen);
	memcpy(p, real, rlen);
	p[rlen] = '/';
	if (rlen == 1) { /* resolved to "/" */
		memmove(p + 1, p + 2, blen);
		return 1 + blen;
	}
	return rlen + 1 + blen;
}

/* The mount point of the filesystem dir is on, from the mount table: dir may be gone. */
static bool mount_point_of(const char *dir, size_t dn, char *mount_point, size_t cap)
{
	char *line = NULL, candidate[PATH_MAX];
	size_t line_cap = 0, best = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (getline(&line, &line_cap, f) > 0) {
		size_t n;

		if (!mountinfo_covers(line, dir, dn, candidate, sizeof(candidate)))
			continue;
		n = strlen(candidate);
		if (n < cap && (!found || n >= best)) {
			memcpy(mount_point, candidate, n + 1);
			best = n;
			found = true;
		}
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * Whether the directory dir (NUL-terminated, canonical) is on a filesystem that sets a rename's
 * ctimes while the call runs, where the timestamp hooks see them: every local one. A directory
 * gone by the time its record is read (one above it renamed right after) is on the filesystem
 * of its mount point, which the mount table names (~70 us with 55 mounts: only then).
 */
static bool on_ctime_setting_fs(const char *dir)
{
	char mount_point[PATH_MAX];
	struct statfs fs;

	if (statfs(dir, &fs) &&
	    ((errno != ENOENT && errno != ENOTDIR) || !mount_point_of(dir, strlen(dir), mount_point, sizeof(mount_point)) ||
	     statfs(mount_point, &fs)))
		return false;
	switch ((unsigned long)fs.f_type) {
	case EXT4_SUPER_MAGIC: /* ext2 and ext3 too */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case F2FS_SUPER_MAGIC:
	case TMPFS_MAGIC:
	case RAMFS_MAGIC:
	case OVERLAYFS_SUPER_MAGIC:
		return true;
	default:
		return false;
	}
}

/*
 * A rename that changed no ctime (FIM_F_UNCHANGED): rename(2) between two links of one file (or
 * of a name onto itself) succeeds and leaves both names, and its event would tell consumers
 * that one of them is gone. Did it change nothing? Surely so on a filesystem that sets a
 * rename's ctimes while the call runs. Elsewhere (a network filesystem may only mark its cached
 * ctimes stale) a real rename has no ctime change either: there, only two names that are one
 * file now say so. That look comes after the fact, and a later change may have moved a name
 * meanwhile, so it is not the rule where the kernel's word can be trusted.
 */
static bool rename_changed_nothing(const char *path, size_t plen, const char *old, size_t olen)
{
	char p[FIM_PATH_MAX * 2 + 1], o[FIM_PATH_MAX * 2 + 1], *slash;
	struct stat sp, so;

	if (plen >= sizeof(p) || olen >= sizeof(o) || memchr(path, 0, plen) || memchr(old, 0, olen))
		return false;
	memcpy(p, path, plen);
	p[plen] = 0;
	memcpy(o, old, olen);
	o[olen] = 0;
	slash = strrchr(p, '/');
	if (slash) {
		bool local;

		*slash = 0;
		local = on_ctime_setting_fs(slash == p ? "/" : p);
		*slash = '/';
		if (local)
			return true;
	}
	return !lstat(p, &sp) && !lstat(o, &so) && sp.st_dev == so.st_dev && sp.st_ino == so.st_ino;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	const struct fim_event *e = data;
	char path[FIM_PATH_MAX * 2], old[FIM_PATH_MAX * 2];
	size_t plen, olen;

	if (size == 0) /* only there to wake the loader: see submit() in bpf/fim-common.h */
		return 0;
	if (size < sizeof(*e) ||
	    sizeof(*e) + (size_t)e->path_len + e->old_path_len + e->exe_len + e->cmdline_len > size) {
		logmsg("warning", "malformed record of %zu bytes from the kernel, dropped", size);
		return 0;
	}
	remember_cmdline(e);
	plen = e->path_len;
	memcpy(path, e->data, plen);
	if (e->flags & FIM_F_LEXICAL)
		plen = canonical_parent(path, path_normalize(path, plen), sizeof(path), e->ts_boot_ns);
	olen = e->old_path_len;
	memcpy(old, e->data + e->path_len, olen);
	if (e->flags & FIM_F_OLD_LEXICAL)
		olen = canonical_parent(old, path_normalize(old, olen), sizeof(old), e->ts_boot_ns);
	if (e->flags & (FIM_F_LEXICAL | FIM_F_OLD_LEXICAL | FIM_F_ROOT_CANDIDATE)) {
		/* The kernel matched the string as given; ".." or a symlink may have led in or out of
		 * the watched tree, so decide again on the canonical paths. A candidate is an entry
		 * made beside a watched root, which only its name can tell from the root made again. */
		bool watched = under_any_watch(path, plen) ||
			       (e->op == FIM_OP_RENAME && under_any_watch(old, olen));

		if (!watched) {
			L.outside_watch_dropped++;
			return 0;
		}
	}
	if (e->op == FIM_OP_RENAME && (e->flags & FIM_F_UNCHANGED) && rename_changed_nothing(path, plen, old, olen)) {
		L.unchanged_renames_dropped++;
		return 0;
	}
	if (e->op == FIM_OP_RENAME && (e->flags & FIM_F_EXCHANGE)) {
		/* both names now point at the other file: two renames say exactly that */
		format_event(e, path, plen, old, olen, FIM_F_PATH_TRUNC, FIM_F_OLD_PATH_TRUNC);
		format_event(e, old, olen, path, plen, FIM_F_OLD_PATH_TRUNC, FIM_F_PATH_TRUNC);
	} else {
		format_event(e, path, plen, old, olen, FIM_F_PATH_TRUNC, FIM_F_OLD_PATH_TRUNC);
	}
	follow_watched_root(e, path, plen);
	let_go_of_watched_root(e, path, plen, old, olen);
	return 0;
}

/* ---- stats ------------------------------------------------------------------------------- */

/* The most bytes the kernel saw waiting in the ring buffer since the last stats record: each
 * object that sends records keeps its own mark, which the loader takes (0 starts the next
 * interval) for its stats records and to look for loss (look_for_loss()), gathering them in
 * L.ringbuf_used_max meanwhile. The mark counts the record being added on top of a figure that
 * may already hold it, so a full ring would read a few bytes over its size: a fill gauge stops
 * at full. */
static void gather_ringbuf_used_max(void)
{
	for (int i = 0; i < L.n_globals; i++) {
		__u64 v = __atomic_exchange_n(L.globals[i].ringbuf_used_max, 0, __ATOMIC_RELAXED);

		if (v > L.ringbuf_used_max)
			L.ringbuf_used_max = v;
	}
}

static __u64 take_ringbuf_used_max(void)
{
	__u64 ring_bytes = (__u64)L.opts.ringbuf_mb << 20;
	__u64 m;

	gather_ringbuf_used_max();
	m = L.ringbuf_used_max;
	L.ringbuf_used_max = 0;
	return m < ring_bytes ? m : ring_bytes;
}

/* The kernel's counters, per CPU and in total: one syscall, a per-CPU map cannot be mapped. */
static void read_kernel_stats(struct fim_stats per[256], __u64 tot[FIM_STAT_MAX])
{
	__u32 z = 0;
	int n = L.ncpus > 256 ? 256 : L.ncpus;

	memset(per, 0, sizeof(struct fim_stats) * 256);
	memset(tot, 0, sizeof(__u64) * FIM_STAT_MAX);
	if (bpf_map_lookup_elem(L.stats_fd, &z, per))
		logmsg("warning", "reading kernel counters: %s", strerror(errno));
	for (int c = 0; c < n; c++)
		for (int i = 0; i < FIM_STAT_MAX; i++)
			tot[i] += per[c].n[i];
}

static void write_stats(const struct fim_stats per[256], const __u64 tot[FIM_STAT_MAX])
{
	struct jw w;
	int n = L.ncpus > 256 ? 256 : L.ncpus;

	refresh_boot_wall();
	jw_init(&w, L.line, LINE_MAX_BYTES);
	jw_begin(&w);
	jw_str(&w, "type", "stats");
	jw_u64(&w, "timestamp", clock_ns(CLOCK_REALTIME));
	jw_u64(&w, "events", tot[FIM_STAT_EVENTS]);
	jw_u64(&w, "lost", tot[FIM_STAT_LOST]);
	jw_array_begin(&w, "lost_per_cpu");
	for (int c = 0; c < n; c++)
		jw_array_u64(&w, per[c].n[FIM_STAT_LOST]);
	jw_array_end(&w);
	jw_u64(&w, "truncated", tot[FIM_STAT_TRUNCATED]);
	jw_u64(&w, "tracked_files", tot[FIM_STAT_TRACKED]);
	jw_u64(&w, "ringbuf_bytes", (__u64)L.opts.ringbuf_mb << 20);
	jw_u64(&w, "ringbuf_used_max_bytes", take_ringbuf_used_max());
	jw_u64(&w, "outside_watch_dropped", L.outside_watch_dropped);
	jw_u64(&w, "unchanged_renames", L.unchanged_renames_dropped);
	jw_u64(&w, "lines_written", L.lines_written);
	jw_u64(&w, "commands", L.commands);
	jw_end(&w);
	emit_line(&w);
	L.lost_reported = tot[FIM_STAT_LOST];
}

static void emit_stats(void)
{
	struct fim_stats per[256];
	__u64 tot[FIM_STAT_MAX];

	read_kernel_stats(per, tot);
	write_stats(per, tot);
}

/*
 * Loss is reported by a stats record soon after it happens, not at the next periodic one
 * seconds later. Reading the kernel's counters is a syscall, too much for every batch; but a
 * record is lost only when the ring is full, and each record's sender marks how full it found
 * the ring (ringbuf_used_max, in the mapped .bss). So after each read of the ring the loader
 * looks at the marks, two loads; only a mark at half the ring or more (the margin covers a
 * concurrent update that missed the top) makes it read the counters, and take the marks so
 * that the next look sees new pressure only. A rise of `lost` since the last stats record is
 * then reported at once, so the record follows the batch that came after the loss.
 *
 * At most one look per LOSS_LOOK_GAP_NS: while the ring keeps overflowing (a consumer slower
 * than its producers), every batch would otherwise bring a stats record, thousands a second at
 * the default max delay, each a `loss` record and a warning downstream. 250 ms keeps that to
 * four a second and still tells of a loss twenty times sooner than the default interval. A
 * look that comes too soon is put off to a timer, so a loss followed by silence is reported too.
 */
#define LOSS_LOOK_GAP_NS (250 * 1000000ull)

static bool ring_filled_up(void)
{
	__u64 half = ((__u64)L.opts.ringbuf_mb << 20) / 2;

	for (int i = 0; i < L.n_globals; i++)
		if (__atomic_load_n(L.globals[i].ringbuf_used_max, __ATOMIC_RELAXED) >= half)
			return true;
	return false;
}

static void look_for_loss(void)
{
	__u64 now = clock_ns(CLOCK_MONOTONIC), since = now - L.loss_looked_ns;
	struct fim_stats per[256];
	__u64 tot[FIM_STAT_MAX];

	if (since < LOSS_LOOK_GAP_NS) {
		__u64 wait = LOSS_LOOK_GAP_NS - since;
		struct itimerspec its = { .it_value = { wait / 1000000000ull, (long)(wait % 1000000000ull) } };

		if (!L.loss_look_pending && !timerfd_settime(L.loss_tfd, 0, &its, NULL))
			L.loss_look_pending = true;
		return;
	}
	L.loss_looked_ns = now;
	gather_ringbuf_used_max();
	read_kernel_stats(per, tot);
	if (tot[FIM_STAT_LOST] > L.lost_reported)
		write_stats(per, tot);
}

/* ---- watches ----------------------------------------------------------------------------- */

static void prefix_key_for(const char *path, size_t n, struct fim_prefix_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->data, path, n);
	if (n == 1 && path[0] == '/') {
		k->prefixlen = 8; /* "/" watches everything */
		return;
	}
	k->data[n] = '/';
	k->prefixlen = (n + 1) * 8;
}

/* The kernel remembers which directories are under a watch; any change to the list forgets that. */
static void watches_changed(void)
{
	/* the programs add one too (a directory renamed): atomically on both sides */
	__atomic_fetch_add(L.tree_generation, 1, __ATOMIC_SEQ_CST);
}

/*
 * Opens path with O_PATH while the kernel side is armed, so it keys the inode for us: in
 * watch_inodes, or in root_parents for the directory that holds a watched root (parent).
 */
static int pin_inode(const char *path, int watch_id, bool parent, int *fd_out, struct fim_watch_reg *out)
{
	int map = L.watch_reg_fd;
	struct fim_watch_reg reg = { .armed = 1, .watch_id = watch_id, .parent = parent };
	__u32 z = 0;
	int fd;

	if (bpf_map_update_elem(map, &z, &reg, BPF_ANY))
		return -errno;
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;

		reg.armed = 0;
		bpf_map_update_elem(map, &z, &reg, BPF_ANY);
		return err;
	}
	if (bpf_map_lookup_elem(map, &z, &reg) || reg.armed) {
		close(fd);
		return -EIO;
	}
	*fd_out = fd;
	*out = reg;
	return 0;
}

static int register_watch(struct watch *w)
{
	struct fim_watch_reg reg;
	int fd, rc = pin_inode(w->path, w->id, false, &fd, &reg);

	if (rc)
		return rc;
	if (w->fd >= 0) {
		if (w->inode_key != reg.inode_key)
			bpf_map_delete_elem(L.watch_inodes_fd, &w->inode_key);
		close(w->fd);
	}
	/* the name stays while the path is watched, gone or not: see DIR_AT_ROOT_NAME */
	if (w->name_key.parent_inode && memcmp(&w->name_key, &reg.name, sizeof(reg.name)))
		bpf_map_delete_elem(L.root_names_fd, &w->name_key);
	w->fd = fd;
	w->inode_key = reg.inode_key;
	w->name_key = reg.name;
	watches_changed();
	return 0;
}

/* The watched root is gone from its path: its inode, wherever it is now, is not watched. */
static void forget_watched_inode(struct watch *w)
{
	bpf_map_delete_elem(L.watch_inodes_fd, &w->inode_key);
	close(w->fd);
	w->fd = -1;
	watches_changed();
}

/* The directory that holds w's path; false for "/", which is in none. */
static bool dir_of_watch(const struct watch *w, char dir[PATH_MAX])
{
	const char *slash = strrchr(w->path, '/');

	if (!slash || w->path_len <= 1)
		return false;
	snprintf(dir, PATH_MAX, "%.*s", slash == w->path ? 1 : (int)(slash - w->path), w->path);
	return true;
}

/* The directory that holds w's path, where the path may be made again (DIR_HOLDS_ROOT). */
static int register_root_parent(struct watch *w)
{
	char dir[PATH_MAX];
	struct fim_watch_reg reg;
	int rc;

	w->parent_fd = -1;
	if (!dir_of_watch(w, dir))
		return 0;
	rc = pin_inode(dir, w->id, true, &w->parent_fd, &reg);
	if (rc)
		return rc;
	w->parent_key = reg.inode_key;
	watches_changed();
	return 0;
}

static void release_root_parent(struct watch *w)
{
	if (w->parent_fd < 0)
		return;
	close(w->parent_fd);
	w->parent_fd = -1;
	for (size_t i = 0; i < L.watch_slots; i++)
		if (L.watches[i].id && &L.watches[i] != w && L.watches[i].parent_fd >= 0 &&
		    L.watches[i].parent_key == w->parent_key)
			return; /* another watched root in the same directory */
	bpf_map_delete_elem(L.root_parents_fd, &w->parent_key);
	watches_changed();
}

/*
 * The canonical form of a path that does not exist: the real path of the nearest directory
 * above it that does, and the names below that, which must not be "." or "..": what they
 * would name is not known until they exist.
 */
static int canonical_absent_path(const char *given, char canon[PATH_MAX], char *err, size_t errlen)
{
	char path[PATH_MAX], cwd[PATH_MAX], real[PATH_MAX];
	size_t n = 0, names = 0;
	const char *p = given;
	struct stat st;

	if (given[0] != '/' && !getcwd(cwd, sizeof(cwd))) {
		snprintf(err, errlen, "%s: %s", given, strerror(errno));
		return -errno;
	}
	if (given[0] != '/') {
		n = strlen(cwd);
		memcpy(path, cwd, n);
	}
	/* one slash before each name, none at the end */
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len > NAME_MAX || n + 1 + len >= sizeof(path)) {
			snprintf(err, errlen, "%s: %s", given, strerror(ENAMETOOLONG));
			return -ENAMETOOLONG;
		}
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(err, errlen, "%s: does not exist, and names no entry of a directory", given);
			return -EINVAL;
		}
		if (len) {
			path[n++] = '/';
			memcpy(path + n, p, len);
			n += len;
			names++;
		}
		p += len + (p[len] == '/');
	}
	path[n] = 0;
	if (!names) {
		snprintf(err, errlen, "%s: does not exist, and names no entry of a directory", given);
		return -EINVAL;
	}
	for (size_t cut = n; cut > 0;) {
		while (path[--cut] != '/')
			;
		path[cut] = 0;
		if (!realpath(cut ? path : "/", real)) {
			path[cut] = '/';
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "%s: %s", given, strerror(errno));
			return -errno;
		}
		path[cut] = '/';
		if (stat(real, &st) || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: %s", given, strerror(ENOTDIR));
			return -ENOTDIR;
		}
		if (snprintf(canon, PATH_MAX, "%s%s", strcmp(real, "/") ? real : "", path + cut) >= PATH_MAX) {
			snprintf(err, errlen, "%s: %s", given, strerror(ENAMETOOLONG));
			return -ENAMETOOLONG;
		}
		return 0;
	}
	snprintf(err, errlen, "%s: %s", given, strerror(ENOENT)); /* not even "/" */
	return -ENOENT;
}

/*
 * may_be_absent: a path that does not exist now is watched from when it is made (a watched path
 * deleted while the loader was not running, and started again with --absent-path).
 */
static int add_watch(const char *given, bool may_be_absent, char *err, size_t errlen)
{
	char canon[PATH_MAX];
	struct fim_prefix_key key;
	struct watch *w = NULL;
	bool absent = false;
	size_t n;
	int rc;

	if (!realpath(given, canon)) {
		rc = -errno;
		if (rc != -ENOENT || !may_be_absent) {
			snprintf(err, errlen, "%s: %s", given, strerror(-rc));
			return rc;
		}
		rc = canonical_absent_path(given, canon, err, errlen);
		if (rc)
			return rc;
		absent = true;
	}
	n = strlen(canon);
	if (n >= FIM_WATCH_KEY_LEN - 1) {
		snprintf(err, errlen, "%s: watched paths are limited to %d bytes", given, FIM_WATCH_KEY_LEN - 2);
		return -ENAMETOOLONG;
	}
	if (find_watch_by_path(canon, n))
		return 0; /* already watched: adding twice is not an error */
	if (strcmp(canon, given))
		logmsg("info", "watching %s as %s", given, canon);
	for (size_t i = 0; i < sizeof(L.watches) / sizeof(L.watches[0]); i++)
		if (!L.watches[i].id) {
			w = &L.watches[i];
			if (L.watch_slots < i + 1)
				L.watch_slots = i + 1;
			break;
		}
	if (!w) {
		snprintf(err, errlen, "%s: too many watched paths", given);
		return -ENOSPC;
	}
	memcpy(w->path, canon, n + 1);
	w->path_len = n;
	w->fd = -1;
	w->parent_fd = -1;
	memset(&w->name_key, 0, sizeof(w->name_key));
	w->id = ++L.next_watch_id;
	rc = absent ? 0 : register_watch(w);
	if (rc) {
		snprintf(err, errlen, "%s: %s", given, strerror(-rc));
		w->id = 0;
		return rc;
	}
	prefix_key_for(canon, n, &key);
	if (bpf_map_update_elem(L.watch_prefixes_fd, &key, &w->id, BPF_ANY)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", given, strerror(errno));
		if (w->fd >= 0) {
			bpf_map_delete_elem(L.watch_inodes_fd, &w->inode_key);
			close(w->fd);
		}
		w->id = 0;
		return rc;
	}
	rc = register_root_parent(w);
	if (rc && rc != -ENOENT)
		logmsg("warning", "%s: its directory cannot be opened (%s): if the path is deleted and made again, it will be watched again only within a check interval, without who made it",
		       canon, strerror(-rc));
	if (absent) {
		/* its directory, if it is missing too, is looked for by check_watched_paths() */
		logmsg("info", "watched path %s does not exist%s; it is watched from when it is made", canon,
		       rc == -ENOENT ? ", nor its directory" : "");
		/* made between the loader's look and its registration: follow it now */
		if (!access(canon, F_OK) && register_watch(w) == 0)
			logmsg("info", "watched path %s was made; now watching it", canon);
	}
	return 0;
}

static int remove_watch(const char *given, char *err, size_t errlen)
{
	char canon[PATH_MAX];
	const char *p = given;
	struct fim_prefix_key key;
	struct watch *w;

	if (realpath(given, canon))
		p = canon;
	w = find_watch_by_path(p, strlen(p));
	if (!w) {
		snprintf(err, errlen, "%s: not watched", given);
		return -ENOENT;
	}
	prefix_key_for(w->path, w->path_len, &key);
	bpf_map_delete_elem(L.watch_prefixes_fd, &key);
	if (w->fd >= 0) {
		bpf_map_delete_elem(L.watch_inodes_fd, &w->inode_key);
		close(w->fd);
	}
	bpf_map_delete_elem(L.root_names_fd, &w->name_key);
	release_root_parent(w);
	w->id = 0;
	watches_changed();
	return 0;
}

/* ---- commands ------------------------------------------------------------------------------ */

/* "paths": every watched path; "absent_paths": those of them that do not exist now */
static void put_watched_paths(struct jw *w)
{
	jw_array_begin(w, "paths");
	for (size_t i = 0; i < L.watch_slots; i++)
		if (L.watches[i].id)
			jw_array_str(w, L.watches[i].path);
	jw_array_end(w);
	jw_array_begin(w, "absent_paths");
	for (size_t i = 0; i < L.watch_slots; i++)
		if (L.watches[i].id && L.watches[i].fd < 0)
			jw_array_str(w, L.watches[i].path);
	jw_array_end(w);
}

static void ack(const struct command *c, const char *cmd, int rc, const char *msg, bool list)
{
	struct jw w;

	jw_init(&w, L.line, LINE_MAX_BYTES);
	jw_begin(&w);
	jw_str(&w, "type", "ack");
	if (c->has_id)
		jw_str(&w, "id", c->id);
	else
		jw_null(&w, "id");
	if (cmd)
		jw_str(&w, "cmd", cmd);
	else
		jw_null(&w, "cmd");
	jw_bool(&w, "ok", rc == 0);
	if (c->path_len)
		jw_bytes(&w, "path", c->path, c->path_len);
	if (rc) {
		jw_str(&w, "error", rc == -EINVAL ? "EINVAL" : rc == -ENOENT ? "ENOENT" : rc == -ENOTDIR ? "ENOTDIR" : rc == -EACCES ? "EACCES" : rc == -ENAMETOOLONG ? "ENAMETOOLONG" : rc == -ENOSPC ? "ENOSPC" : "EIO");
		jw_str(&w, "message", msg);
	}
	if (list)
		put_watched_paths(&w);
	jw_end(&w);
	emit_line(&w);
}

static void handle_command(const char *line, size_t len)
{
	struct command c;
	char err[PATH_MAX + 256] = "";
	int rc = 0;

	L.commands++;
	memset(&c, 0, sizeof(c));
	if (command_parse(line, len, &c, err, sizeof(err))) {
		c.path_len = 0;
		ack(&c, NULL, -EINVAL, err, false);
		return;
	}
	/* The records waiting were made under the watch list as it is: the ones decided here by
	 * their path (names through "..", entries beside a watched root) are judged by it. */
	if (c.cmd == CMD_ADD || c.cmd == CMD_REMOVE)
		ring_buffer__consume(L.rb);
	switch (c.cmd) {
	case CMD_ADD:
		rc = add_watch((const char *)c.path, false, err, sizeof(err));
		if (!rc)
			seed_open_writers();
		break;
	case CMD_REMOVE:
		rc = remove_watch((const char *)c.path, err, sizeof(err));
		break;
	case CMD_STATS:
		emit_stats();
		break;
	case CMD_LIST:
		break;
	}
	if (rc)
		logmsg("warning", "%s: %s", command_name(c.cmd), err);
	ack(&c, command_name(c.cmd), rc, err, c.cmd == CMD_LIST);
}

static char stdin_buf[CMD_LINE_MAX * 2 + 4];
static size_t stdin_len;
static bool stdin_discarding; /* inside a line that is too long: skip to its end */

/* Returns false at EOF. */
static bool read_commands(void)
{
	ssize_t n = read(STDIN_FILENO, stdin_buf + stdin_len, sizeof(stdin_buf) - stdin_len);
	size_t start = 0;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	stdin_len += n;
	for (size_t i = 0; i < stdin_len; i++) {
		if (stdin_buf[i] != '\n')
			continue;
		if (stdin_discarding)
			stdin_discarding = false;
		else if (i > start)
			handle_command(stdin_buf + start, i - start);
		start = i + 1;
	}
	memmove(stdin_buf, stdin_buf + start, stdin_len - start);
	stdin_len -= start;
	if (stdin_len > CMD_LINE_MAX + 2) {
		struct command c = { 0 };

		if (!stdin_discarding)
			ack(&c, NULL, -EINVAL, "command line longer than 8192 bytes", false);
		stdin_discarding = true;
		stdin_len = 0;
	}
	return true;
}

/* ---- setup ---------------------------------------------------------------------------------- */

static void ensure_tracefs(void)
{
	if (access(TRACEFS "/events", F_OK) == 0 || access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return;
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL))
		die(EXIT_UNSUPPORTED, "tracefs is not mounted and mounting it at %s failed: %s", TRACEFS, strerror(errno));
	logmsg("info", "mounted tracefs at %s", TRACEFS);
}

static bool tracepoint_exists(const char *category, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), TRACEFS "/events/%s/%s", category, name);
	if (access(p, F_OK) == 0)
		return true;
	snprintf(p, sizeof(p), "/sys/kernel/debug/tracing/events/%s/%s", category, name);
	return access(p, F_OK) == 0;
}

/* A typed (tp_btf) tracepoint exists when the kernel's BTF has its btf_trace_ typedef. */
static bool btf_tracepoint_exists(const struct btf *vmlinux, const char *name)
{
	char t[160];

	if (!vmlinux)
		return false;
	snprintf(t, sizeof(t), "btf_trace_%s", name);
	return btf__find_by_name_kind(vmlinux, t, BTF_KIND_TYPEDEF) >= 0;
}

/* The programs that serve several sys_exit_<syscall> tracepoints (bpf/fim-hooks.h). */
#define SYSCALL_NAME(name, ...) #name,
static const char *const by_name_syscalls[] = { FIM_BY_NAME_HOOKS(SYSCALL_NAME) NULL };
static const char *const rename_syscalls[] = { FIM_RENAME_HOOKS(SYSCALL_NAME) NULL };
static const char *const by_fd_syscalls[] = { FIM_BY_FD_HOOKS(SYSCALL_NAME) NULL };
/* A program the loader attaches to the <tracepoint prefix><name> of each syscall of its list. */
struct shared_program {
	const char *prog;
	const char *tp_prefix;
	const char *const *syscalls;
};

static const struct shared_program shared_programs[] = {
	{ "exit_by_name", "sys_exit_", by_name_syscalls },
	{ "exit_rename", "sys_exit_", rename_syscalls },
	{ "enter_rename", "sys_enter_", rename_syscalls },
	{ "exit_by_fd", "sys_exit_", by_fd_syscalls },
};

static const struct shared_program *shared_program(const struct bpf_program *prog)
{
	for (size_t i = 0; i < sizeof(shared_programs) / sizeof(shared_programs[0]); i++)
		if (!strcmp(bpf_program__name(prog), shared_programs[i].prog))
			return &shared_programs[i];
	return NULL;
}

/* Name-based calls the fentry backend sees on VFS and security functions instead (bpf/fim-vfs.bpf.c
 * says why): their tracepoints are left alone. */
static const char *const replaced_by_fentry[] = {
	"unlink", "unlinkat", "rmdir", "rename", "renameat", "renameat2", "mkdir", "mkdirat",
	"mknod", "mknodat", "symlink", "symlinkat", "link", "linkat",
};

static bool replaced_syscall(const char *syscall)
{
	if (L.backend != BACKEND_FENTRY)
		return false;
	for (size_t i = 0; i < sizeof(replaced_by_fentry) / sizeof(replaced_by_fentry[0]); i++)
		if (!strcmp(syscall, replaced_by_fentry[i]))
			return true;
	return false;
}

/*
 * Whether a shared program goes on <prefix><syscall> (its name left in tp): the kernel has
 * that tracepoint and the fentry backend does not replace the syscall. `say`: log a missing one.
 */
static bool shared_hook_wanted(const struct shared_program *p, const char *syscall, char tp[HOOK_NAME_MAX],
			       bool say)
{
	snprintf(tp, HOOK_NAME_MAX, "%s%s", p->tp_prefix, syscall);
	if (replaced_syscall(syscall))
		return false;
	if (tracepoint_exists("syscalls", tp))
		return true;
	if (say)
		logmsg("info", "tracepoint syscalls/%s not in this kernel, skipped", tp);
	return false;
}

/*
 * Tracepoints differ between kernels (fchmodat2 is 6.6+, setxattrat and the timestamp
 * tracepoints 6.13+): load what exists.
 */
static void select_programs(struct bpf_object *obj)
{
	struct bpf_program *prog;
	/* parsed once here and freed at once: kept, it would be most of the loader's memory */
	struct btf *vmlinux = btf__load_vmlinux_btf();

	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		char cat[64], name[128];

		if (!strncmp(sec, "tp_btf/", 7)) {
			if (!btf_tracepoint_exists(vmlinux, sec + 7)) {
				logmsg("info", "tracepoint %s not in this kernel, skipped", sec + 7);
				bpf_program__set_autoload(prog, false);
			}
			continue;
		}
		if (strncmp(sec, "tracepoint/", 11))
			continue;
		if (shared_program(prog)) {
			const struct shared_program *p = shared_program(prog);
			char tp[HOOK_NAME_MAX];
			bool any = false;

			for (const char *const *sc = p->syscalls; *sc; sc++)
				any |= shared_hook_wanted(p, *sc, tp, true);
			bpf_program__set_autoload(prog, any);
			continue;
		}
		if (sscanf(sec + 11, "%63[^/]/%127s", cat, name) != 2)
			continue;
		if (!tracepoint_exists(cat, name)) {
			logmsg("info", "tracepoint %s/%s not in this kernel, skipped", cat, name);
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);
}

/* Keeps an attached hook's link, to detach at exit, and its name, for `hello`. */
static void add_hook(struct bpf_link *link, const char *name)
{
	if (!link) {
		int err = errno;

		die(err == EPERM || err == EACCES ? EXIT_PERMISSION : EXIT_RUNTIME,
		    "attaching %s: %s", name, strerror(err));
	}
	if (L.n_hooks < (int)(sizeof(L.hooks) / sizeof(L.hooks[0]))) {
		snprintf(L.hooks[L.n_hooks], HOOK_NAME_MAX, "%s", name);
		L.links[L.n_hooks++] = link;
	}
}

static void attach_programs(struct bpf_object *obj)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		struct bpf_link *link;

		if (!bpf_program__autoload(prog))
			continue;
		if (!strcmp(sec, "iter/bpf_map_elem")) {
			union bpf_iter_link_info info = {};
			LIBBPF_OPTS(bpf_iter_attach_opts, o, .link_info = &info, .link_info_len = sizeof(info));

			info.map.map_fd = bpf_map__fd(L.skel->maps.wfiles);
			link = bpf_program__attach_iter(prog, &o);
			if (!link)
				die(EXIT_RUNTIME, "attaching the periodic check: %s", strerror(errno));
			L.check_link = link;
			continue;
		}
		if (!strcmp(sec, "iter/task_file")) {
			link = bpf_program__attach_iter(prog, NULL);
			if (!link)
				die(EXIT_RUNTIME, "attaching the open-writer scan: %s", strerror(errno));
			L.seed_link = link;
			continue;
		}
		if (shared_program(prog)) {
			const struct shared_program *p = shared_program(prog);

			for (const char *const *sc = p->syscalls; *sc; sc++) {
				char tp[HOOK_NAME_MAX];

				if (shared_hook_wanted(p, *sc, tp, false))
					add_hook(bpf_program__attach_tracepoint(prog, "syscalls", tp), tp);
			}
			continue;
		}
		add_hook(bpf_program__attach(prog), strrchr(sec, '/') + 1);
	}
}

/*
 * Detaching is what makes a loader slow to exit: the kernel lets go of each syscall
 * tracepoint's BPF link, then of its perf event, after RCU grace periods, about 70 ms a hook
 * here: 3.5 s for 49 hooks when the process's exit closes them one after the other, and its
 * parent waits that long. The links' share overlaps when threads release them side by side;
 * the perf events' does not (the kernel takes them one at a time under a mutex). So the exit
 * takes half as long (1.8 s here), and it comes after the last record is out.
 */
#define DETACH_THREADS 8

static void *detach_share(void *arg)
{
	for (int i = (int)(long)arg; i < L.n_hooks; i += DETACH_THREADS)
		bpf_link__destroy(L.links[i]);
	return NULL;
}

static void detach_links(void)
{
	pthread_t threads[DETACH_THREADS];
	int started = 0;

	for (long i = 0; i < DETACH_THREADS; i++) {
		if (pthread_create(&threads[started], NULL, detach_share, (void *)i))
			detach_share((void *)i); /* no thread: this share in turn, on this one */
		else
			started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
}

/* Reading an iterator runs its program once over everything it iterates. */
static void run_iter(struct bpf_link *link, const char *what)
{
	char buf[512];
	int fd;

	if (!link)
		return;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		logmsg("warning", "%s: %s", what, strerror(errno));
		return;
	}
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

/* A "watch" record: the periodic look at the watched paths found one gone, or found again. */
static void emit_watch_record(const struct watch *w, const char *state)
{
	struct jw j;

	jw_init(&j, L.line, LINE_MAX_BYTES);
	jw_begin(&j);
	jw_str(&j, "type", "watch");
	jw_u64(&j, "timestamp", clock_ns(CLOCK_REALTIME));
	jw_bytes(&j, "path", (const unsigned char *)w->path, w->path_len);
	jw_str(&j, "state", state);
	jw_end(&j);
	emit_line(&j);
}

/*
 * Does path lead to the file pinned by fd? A file system mounted on the pinned directory counts
 * as yes: the kernel's walk goes from that mount to the directory under it, so what changes on
 * it is watched already, and pinning the mount instead would keep it from being unmounted.
 */
static bool leads_to_pinned(const char *path, int fd, const struct stat *st)
{
	struct stat pinned;
	struct statx sx;

	if (fstat(fd, &pinned))
		return false;
	if (pinned.st_dev == st->st_dev && pinned.st_ino == st->st_ino)
		return true;
	return S_ISDIR(pinned.st_mode) && pinned.st_nlink > 0 &&
	       !statx(AT_FDCWD, path, AT_STATX_DONT_SYNC, STATX_BASIC_STATS, &sx) &&
	       (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/*
 * The kernel tells when a watched path itself is deleted, moved or made again; not when a
 * directory above it is (`mv /srv/app /srv/app.old; mkdir -p /srv/app/config`): the pins then
 * hold the directories where they went. Once per check interval, each watched path and the
 * directory that holds it are looked up by name again; a pin that no longer matches is let go
 * or moved to what the name holds now, and a "watch" record tells the reader (fimctl scans it).
 */
static void check_watched_paths(void)
{
	for (size_t i = 0; i < L.watch_slots; i++) {
		struct watch *w = &L.watches[i];
		char dir[PATH_MAX];
		struct stat st;
		bool exists, was_pinned = w->fd >= 0;

		if (!w->id)
			continue;
		exists = !stat(w->path, &st);
		if (w->fd >= 0 && exists && leads_to_pinned(w->path, w->fd, &st)) {
			/* the path is right; the directory that holds it may have been replaced all the same */
		} else if (w->fd >= 0 && !exists) {
			forget_watched_inode(w);
			logmsg("info", "watched path %s no longer exists (a directory above it was moved or deleted); it is watched again when it exists again",
			       w->path);
			emit_watch_record(w, "gone");
		} else if (exists && register_watch(w) == 0) {
			logmsg("info", "watched path %s %s; now watching it", w->path,
			       was_pinned ? "leads to another file now (a directory above it was moved or replaced)" : "exists now");
			emit_watch_record(w, "found");
			seed_open_writers();
		}
		if (dir_of_watch(w, dir)) {
			exists = !stat(dir, &st);
			if (w->parent_fd >= 0 && exists && leads_to_pinned(dir, w->parent_fd, &st))
				continue;
			if (w->parent_fd >= 0 || exists) {
				release_root_parent(w);
				register_root_parent(w);
			}
		}
	}
}

static void run_periodic_check(void)
{
	run_iter(L.check_link, "periodic check");
	/* A directory can move where no hook sees it (io_uring's renameat on the tracepoint
	 * backend, nfsd, mount --move): the kernel's remembered verdicts last one window at most. */
	__atomic_fetch_add(L.tree_generation, 1, __ATOMIC_SEQ_CST);
}

/* Files opened for write before their path was watched (a daemon's log) are tracked too. */
static void seed_open_writers(void)
{
	run_iter(L.seed_link, "scan of open files");
}

/*
 * --sched-policy batch: as SCHED_BATCH the loader, woken up, does not preempt the task on the
 * CPU. Its wake-ups come from a record, in the task that made the change, and its writes wake
 * the supervisor: with the normal policy each preempted the task before it, a context switch
 * each way. At 2,000 operations a second `fimctl start` took 9.3-10.9% of a core in loader
 * and node with the normal policy, 6.1-6.7% with both batch, and p99 went from 317-435 to
 * 203-231 us (scripts/bench-fimctl.mjs); at full speed nothing moved. The price is latency
 * while other tasks hold every CPU (docs/protocol.md). A policy chosen by whoever started the
 * loader (chrt, systemd's CPUSchedulingPolicy) is kept.
 */
static void choose_sched_policy(void)
{
	if (L.opts.sched_policy != SCHED_POLICY_BATCH || sched_getscheduler(0) != SCHED_OTHER)
		return;
	if (sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ .sched_priority = 0 }))
		logmsg("warning", "--sched-policy batch: %s; the normal policy is kept", strerror(errno));
}

static const char *sched_policy_name(int policy)
{
	switch (policy & ~SCHED_RESET_ON_FORK) {
	case SCHED_OTHER: return "normal";
	case SCHED_BATCH: return "batch";
	case SCHED_IDLE: return "idle";
	case SCHED_FIFO: return "fifo";
	case SCHED_RR: return "rr";
	case SCHED_DEADLINE: return "deadline";
	default: return "other";
	}
}

static void emit_hello(void)
{
	struct jw w;

	jw_init(&w, L.line, LINE_MAX_BYTES);
	jw_begin(&w);
	jw_str(&w, "type", "hello");
	jw_u64(&w, "protocol", PROTOCOL_VERSION);
	jw_str(&w, "loader_version", LOADER_VERSION);
	jw_u64(&w, "pid", getpid());
	jw_str(&w, "backend", backend_name(L.backend));
	jw_str(&w, "backend_reason", L.backend_reason);
	jw_str(&w, "kernel_reads", L.compat ? "probe" : "direct");
	jw_array_begin(&w, "hooks");
	for (int i = 0; i < L.n_hooks; i++)
		jw_array_str(&w, L.hooks[i]);
	jw_array_end(&w);
	put_watched_paths(&w);
	jw_u64(&w, "ringbuf_bytes", (__u64)L.opts.ringbuf_mb << 20);
	jw_u64(&w, "ringbuf_used_max_bytes", take_ringbuf_used_max());
	jw_u64(&w, "coalesce_ms", L.opts.coalesce_ms);
	jw_u64(&w, "max_delay_us", L.opts.max_delay_us);
	jw_u64(&w, "busy_delay_us", L.opts.busy_delay_us);
	jw_str(&w, "sched_policy", sched_policy_name(sched_getscheduler(0)));
	jw_u64(&w, "boot_time_ns", L.boot_wall_ns);
	jw_end(&w);
	emit_line(&w);
	flush_out();
}

static void emit_bye(const char *reason)
{
	struct jw w;

	jw_init(&w, L.line, LINE_MAX_BYTES);
	jw_begin(&w);
	jw_str(&w, "type", "bye");
	jw_str(&w, "reason", reason);
	jw_end(&w);
	emit_line(&w);
}

/* Both skeletons' read-only globals have the same names: what the sensor's programs are told. */
#define SET_TARGETS(obj)                                                                       \
	do {                                                                                   \
		(obj)->rodata->targ_loader_tgid = getpid();                                    \
		(obj)->bss->wakeup_gap_ns = pacing_gap_for(L.opts.max_delay_us);               \
		(obj)->rodata->targ_wakeup_bytes = ((__u64)L.opts.ringbuf_mb << 20) / 8;        \
	} while (0)

/*
 * Both objects come from bpf/fim.bpf.c and have the same maps and programs in the same order,
 * so the compatible one is opened through the same skeleton with its own ELF bytes.
 */
static int open_and_load(bool compat)
{
	struct fim_bpf *obj = calloc(1, sizeof(*obj));
	void *gen;
	int err;

	if (!obj)
		return -ENOMEM;
	err = fim_bpf__create_skeleton(obj);
	if (!err && compat)
		obj->skeleton->data = (void *)fim_compat__elf_bytes(&obj->skeleton->data_sz);
	if (!err)
		err = bpf_object__open_skeleton(obj->skeleton, NULL);
	if (err) {
		fim_bpf__destroy(obj);
		return err;
	}
	SET_TARGETS(obj);
	obj->rodata->targ_notes_decide = L.backend == BACKEND_TRACEPOINT;
	bpf_map__set_max_entries(obj->maps.rb, L.opts.ringbuf_mb << 20);
	select_programs(obj->obj);
	/* the base of a rename's relative names read at its start: see struct rename_bases */
	obj->rodata->targ_rename_bases = !compat;
	if (compat)
		bpf_program__set_autoload(obj->progs.enter_rename, false);
	obj->rodata->targ_notes_all = obj->rodata->targ_notes_decide &&
				      bpf_program__autoload(obj->progs.ctime_set) &&
				      bpf_program__autoload(obj->progs.ctime_skip) &&
				      bpf_program__autoload(obj->progs.ctime_xchg);
	err = fim_bpf__load(obj);
	if (err) {
		fim_bpf__destroy(obj);
		return err;
	}
	gen = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED,
		   bpf_map__fd(obj->maps.tree_generation), 0);
	if (gen == MAP_FAILED) {
		err = -errno;
		fim_bpf__destroy(obj);
		return err;
	}
	if (L.tree_generation)
		munmap(L.tree_generation, sysconf(_SC_PAGESIZE));
	L.tree_generation = gen;
	L.skel = obj;
	L.compat = compat;
	return 0;
}

/* The sensor with direct kernel reads, else the compatible one (see `kernel_reads`). */
static int load_sensor(void)
{
	int rc;

	/* FIM_LOADER_COMPAT=1 forces the compatible object, to test it on a newer kernel */
	rc = getenv("FIM_LOADER_COMPAT") ? -ENOTSUP : open_and_load(false);
	if (rc && rc != -EPERM && rc != -EACCES) {
		if (getenv("FIM_LOADER_COMPAT"))
			logmsg("info", "FIM_LOADER_COMPAT is set: loading the compatible sensor");
		else
			logmsg("info", "the kernel refused the sensor with direct reads (%s); loading the compatible one", strerror(-rc));
		rc = open_and_load(true);
	}
	return rc;
}

/* Linux 6.15 made vfs_mkdir() return the dentry it made (or an ERR_PTR) instead of an int. */
static bool mkdir_returns_pointer(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int id = vmlinux ? btf__find_by_name_kind(vmlinux, "vfs_mkdir", BTF_KIND_FUNC) : -1;
	bool ptr = false;

	if (id > 0) {
		const struct btf_type *proto = btf__type_by_id(vmlinux, btf__type_by_id(vmlinux, id)->type);

		ptr = proto && btf_is_ptr(btf__type_by_id(vmlinux, proto->type));
	}
	btf__free(vmlinux);
	return ptr;
}

/*
 * The fentry backend's object, built like the loaded sensor (direct or compatible reads), on
 * the sensor's own maps: one ring buffer, one watch list, one set of counters.
 */
static int load_vfs(void)
{
	struct fim_vfs *obj = calloc(1, sizeof(*obj));
	struct bpf_map *map;
	int err;

	if (!obj)
		return -ENOMEM;
	err = fim_vfs__create_skeleton(obj);
	if (!err && L.compat)
		obj->skeleton->data = (void *)fim_vfs_compat__elf_bytes(&obj->skeleton->data_sz);
	if (!err)
		err = bpf_object__open_skeleton(obj->skeleton, NULL);
	if (err) {
		fim_vfs__destroy(obj);
		return err;
	}
	SET_TARGETS(obj);
	obj->rodata->targ_mkdir_returns_dentry = mkdir_returns_pointer();
	bpf_object__for_each_map(map, obj->obj) {
		struct bpf_map *shared = bpf_object__find_map_by_name(L.skel->obj, bpf_map__name(map));

		if (bpf_map__is_internal(map) || !shared)
			continue;
		err = bpf_map__reuse_fd(map, bpf_map__fd(shared));
		if (err)
			break;
	}
	if (!err)
		err = fim_vfs__load(obj);
	if (err) {
		fim_vfs__destroy(obj);
		return err;
	}
	L.vfs = obj;
	return 0;
}

/*
 * libbpf keeps an object's programs, BTF and relocations for as long as it is open: 2.3 MB, most
 * of the loader's memory, of no use once the programs are attached (their links hold them in the
 * kernel, and they hold their maps). What the loader uses at run time is taken here, once the
 * objects are loaded for good: its own descriptors of a few maps and its own window on each
 * object's .bss. let_go_of_objects() then closes the objects.
 */
static int keep_map(struct bpf_map *map)
{
	int fd = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		die(EXIT_RUNTIME, "keeping the sensor's map %s: %s", bpf_map__name(map), strerror(errno));
	return fd;
}

#define ON_FIRST_PAGE(bss) \
	(offsetof(struct bss, last_wake_ns) < 4096 - sizeof(__u64) && \
	 offsetof(struct bss, wakeup_gap_ns) < 4096 - sizeof(__u64) && \
	 offsetof(struct bss, ringbuf_used_max) < 4096 - sizeof(__u64))
_Static_assert(ON_FIRST_PAGE(fim_bpf__bss) && ON_FIRST_PAGE(fim_vfs__bss),
	       "the globals the loader uses are on the first page of each .bss");

/* Only the first page: libbpf's mapping of the whole .bss was another 40 kB of RSS. */
static void keep_globals(struct bpf_map *bss, size_t last_wake_off, size_t wakeup_gap_off,
			 size_t used_max_off)
{
	char *page = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(bss), 0);

	if (page == MAP_FAILED)
		die(EXIT_RUNTIME, "mapping the sensor's globals: %s", strerror(errno));
	L.globals[L.n_globals].last_wake_ns = (__u64 *)(page + last_wake_off);
	L.globals[L.n_globals].wakeup_gap_ns = (__u64 *)(page + wakeup_gap_off);
	L.globals[L.n_globals].ringbuf_used_max = (__u64 *)(page + used_max_off);
	L.n_globals++;
}

static void take_sensor_handles(void)
{
	L.rb_fd = keep_map(L.skel->maps.rb);
	L.stats_fd = keep_map(L.skel->maps.stats);
	L.watch_reg_fd = keep_map(L.skel->maps.watch_reg);
	L.watch_inodes_fd = keep_map(L.skel->maps.watch_inodes);
	L.watch_prefixes_fd = keep_map(L.skel->maps.watch_prefixes);
	L.root_parents_fd = keep_map(L.skel->maps.root_parents);
	L.root_names_fd = keep_map(L.skel->maps.root_names);
	keep_globals(L.skel->maps.bss, offsetof(struct fim_bpf__bss, last_wake_ns),
		     offsetof(struct fim_bpf__bss, wakeup_gap_ns),
		     offsetof(struct fim_bpf__bss, ringbuf_used_max));
	if (L.vfs)
		keep_globals(L.vfs->maps.bss, offsetof(struct fim_vfs__bss, last_wake_ns),
			     offsetof(struct fim_vfs__bss, wakeup_gap_ns),
			     offsetof(struct fim_vfs__bss, ringbuf_used_max));
}

/*
 * Unmaps pages of read-only data that is of no more use. They stay in the page cache, and a
 * read would fault them back from the file; writable memory must never come here (its changes
 * would be lost), so only the whole pages inside [p, p + n) go.
 */
static void drop_read_only_pages(const void *p, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);

	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

/*
 * Closes the objects once their programs are attached and the watches registered. The ELF
 * images built into the loader (4.4 MB, the one loaded read through) go too: the kernel maps a
 * file's pages by the folio, so loading one image had left 3 MB of them in the loader's RSS.
 */
static void let_go_of_objects(void)
{
	const void *(*images[])(size_t *) = {
		fim_bpf__elf_bytes, fim_compat__elf_bytes, fim_vfs__elf_bytes, fim_vfs_compat__elf_bytes,
	};

	fim_vfs__destroy(L.vfs);
	fim_bpf__destroy(L.skel);
	L.vfs = NULL;
	L.skel = NULL;
	for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++) {
		size_t n;
		const void *p = images[i](&n);

		drop_read_only_pages(p, n);
	}
}

/*
 * Whether the kernel lets a program of this kind run on func: a two-instruction program is
 * loaded and attached, then let go. Asking the kernel is the only reliable answer: a kernel
 * may know the program type and still refuse to attach it (lockdown), and feature tables
 * built by probing tools have answered wrongly on some kernels.
 */
static int probe_tracing(const struct btf *vmlinux, enum bpf_attach_type type, const char *func,
			 char *why, size_t whylen)
{
	const char *kind = type == BPF_TRACE_FEXIT ? "fexit" : "fentry";
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int id = vmlinux ? btf__find_by_name_kind(vmlinux, func, BTF_KIND_FUNC) : -1;
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = type, .attach_btf_id = id);
	int prog, link, err = 0;

	if (id < 0) {
		snprintf(why, whylen, "%s is not in this kernel's BTF", func);
		return -ENOENT;
	}
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "fim_probe", "GPL", insns, 2, &o);
	if (prog < 0) {
		err = -errno;
		snprintf(why, whylen, "the kernel refused an %s program on %s: %s", kind, func, strerror(-err));
		return err;
	}
	link = bpf_raw_tracepoint_open(NULL, prog);
	if (link < 0) {
		err = -errno;
		snprintf(why, whylen, "the kernel refused to attach an %s program to %s: %s", kind, func, strerror(-err));
	} else {
		close(link);
	}
	close(prog);
	return err;
}

/* Each kind of program the fentry backend uses, on one of the functions it uses it on. */
static int probe_fentry(char *why, size_t whylen)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int err = probe_tracing(vmlinux, BPF_TRACE_FENTRY, "security_path_unlink", why, whylen);

	if (!err)
		err = probe_tracing(vmlinux, BPF_TRACE_FEXIT, "vfs_unlink", why, whylen);
	btf__free(vmlinux);
	return err;
}

/* --backend auto: fentry when the kernel allows it, else the tracepoints. */
static void choose_backend(void)
{
	char why[200];

	if (L.opts.backend == BACKEND_TRACEPOINT) {
		L.backend = BACKEND_TRACEPOINT;
		snprintf(L.backend_reason, sizeof(L.backend_reason), "chosen with --backend");
		return;
	}
	if (probe_fentry(why, sizeof(why)) == 0) {
		L.backend = BACKEND_FENTRY;
		snprintf(L.backend_reason, sizeof(L.backend_reason), "%s",
			 L.opts.backend == BACKEND_FENTRY ? "chosen with --backend" : "fentry and fexit allowed by this kernel");
		return;
	}
	if (L.opts.backend == BACKEND_FENTRY)
		die(EXIT_UNSUPPORTED, "--backend fentry: %s", why);
	L.backend = BACKEND_TRACEPOINT;
	snprintf(L.backend_reason, sizeof(L.backend_reason), "fentry unavailable: %s", why);
	logmsg("info", "backend tracepoint: %s", L.backend_reason);
}

/* A timer every ms milliseconds; with 0, one armed later with timerfd_settime(). */
static int make_timer(unsigned ms)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = {
		.it_interval = { ms / 1000, (ms % 1000) * 1000000l },
		.it_value = { ms / 1000, (ms % 1000) * 1000000l },
	};

	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL))
		die(EXIT_RUNTIME, "timerfd: %s", strerror(errno));
	return fd;
}

static void check_paths_exist(void)
{
	for (int i = 0; i < L.opts.n_paths; i++) {
		struct stat st;
		char canon[PATH_MAX], err[PATH_MAX + 128];

		if (!stat(L.opts.paths[i], &st))
			continue;
		if (errno != ENOENT || !L.opts.path_may_be_absent[i])
			die(EXIT_USAGE, "watched path %s: %s", L.opts.paths[i], strerror(errno));
		if (canonical_absent_path(L.opts.paths[i], canon, err, sizeof(err)))
			die(EXIT_USAGE, "watched path %s", err);
	}
}

/*
 * Tells the kernel's programs when the loader last read the ring (they wake it no sooner than
 * one read interval later: the loader reads again by then anyway), or with 0 that it sleeps
 * until a record wakes it. A wake-up costs ~10 us of irq_work to the task making the change,
 * and a timed read ~20 us of scheduling to the loader: pacing.h says when a stream is read by
 * the clock. The store is sequentially consistent: a record committed after it wakes the
 * loader (the programs look at the clock again after their commit), one committed before it
 * is seen by the read that follows it.
 */
static void set_last_wake(__u64 ns)
{
	for (int i = 0; i < L.n_globals; i++)
		__atomic_store_n(L.globals[i].last_wake_ns, ns, __ATOMIC_SEQ_CST);
}

/* How late a read may be before the programs wake the loader; stored only when it changes,
 * which a steady stream, light or heavy, does not make it do. */
static void set_wakeup_gap(__u64 ns)
{
	static __u64 stored;

	if (ns == stored)
		return;
	stored = ns;
	for (int i = 0; i < L.n_globals; i++)
		__atomic_store_n(L.globals[i].wakeup_gap_ns, ns, __ATOMIC_RELAXED);
}

/* Reads the ring; p->draining then says whether to read again by the clock. */
static void consume_ring(struct read_pacing *p)
{
	__u64 now = clock_ns(CLOCK_BOOTTIME);

	pacing_after_read(p, now, ring_buffer__consume(L.rb));
	/* Quiet: sleep until a record wakes us. Announce it, then take what came in before the
	 * announcement; a record taken may have set the clock again, so announce again. A stream
	 * that keeps coming is busy after all. */
	for (int round = 0; !p->draining; round++) {
		set_last_wake(0);
		if (ring_buffer__consume(L.rb) <= 0)
			return;
		if (round == 3)
			pacing_keep_draining(p);
	}
	set_wakeup_gap(pacing_wakeup_gap_ns(p));
	set_last_wake(now);
}

static void read_records(struct read_pacing *p)
{
	consume_ring(p);
	if (ring_filled_up())
		look_for_loss();
}

/*
 * Waits for the next wake-up; while draining, for one read interval at most. Microsecond
 * timeouts need epoll_pwait2 (Linux 5.11+); older kernels get it rounded up to a millisecond.
 */
static int wait_events(int epfd, struct epoll_event *evs, int max, const struct read_pacing *p)
{
	static bool no_pwait2;

	if (!p->draining)
		return epoll_wait(epfd, evs, max, -1);
	if (!no_pwait2) {
		struct timespec delay = {
			.tv_sec = p->interval_us / 1000000,
			.tv_nsec = (long)(p->interval_us % 1000000) * 1000,
		};
		int n = epoll_pwait2(epfd, evs, max, &delay, NULL);

		if (n >= 0 || errno != ENOSYS)
			return n;
		no_pwait2 = true;
	}
	return epoll_wait(epfd, evs, max, (int)((p->interval_us + 999) / 1000));
}

int main(int argc, char **argv)
{
	char err[PATH_MAX + 256];
	int rc, epfd, sfd, check_tfd, stats_tfd = -1;
	sigset_t mask;
	struct epoll_event ev;
	const char *reason = "signal";

	rc = cli_parse(argc, argv, &L.opts, err, sizeof(err));
	if (rc) {
		logmsg("error", "%s (see --help)", err);
		return rc;
	}
	if (L.opts.help) {
		cli_usage(stdout, "fim-loader");
		return 0;
	}
	if (L.opts.version) {
		printf("fim-loader %s (protocol %d)\n", LOADER_VERSION, PROTOCOL_VERSION);
		return 0;
	}
	check_paths_exist();
	if (geteuid() != 0)
		die(EXIT_PERMISSION, "must run as root: loading BPF needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		die(EXIT_UNSUPPORTED, "this kernel has no BTF (/sys/kernel/btf/vmlinux): CONFIG_DEBUG_INFO_BTF=y is required");
	ensure_tracefs();
	choose_sched_policy();
	signal(SIGPIPE, SIG_IGN);
	/* A hangup sent to the whole process group (a terminal closed, `timeout` passing one on,
	 * fimctl's own SIGHUP that reopens its files) is not the end of the watch: the loader ends on
	 * SIGINT/SIGTERM or when stdin closes, as it does when the terminal really goes. */
	signal(SIGHUP, SIG_IGN);
	libbpf_set_print(libbpf_log);
	L.ncpus = libbpf_num_possible_cpus();

	choose_backend();
	rc = load_sensor();
	if (!rc && L.backend == BACKEND_FENTRY) {
		rc = load_vfs();
		if (rc && L.opts.backend == BACKEND_FENTRY)
			die(EXIT_RUNTIME, "--backend fentry: loading the fentry programs: %s (set FIM_LOADER_DEBUG=1 for the verifier log)", strerror(-rc));
		if (rc) {
			/* the probe passed but the programs did not: the tracepoints are complete alone */
			snprintf(L.backend_reason, sizeof(L.backend_reason), "the kernel refused the fentry programs: %s", strerror(-rc));
			logmsg("warning", "backend tracepoint: %s", L.backend_reason);
			fim_bpf__destroy(L.skel);
			L.skel = NULL;
			L.backend = BACKEND_TRACEPOINT;
			rc = load_sensor();
		}
	}
	if (rc) {
		int e = -rc;

		if (e == EPERM || e == EACCES)
			die(EXIT_PERMISSION, "loading BPF programs: %s (root with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN needed; set FIM_LOADER_DEBUG=1 for the verifier log)", strerror(e));
		if (e == ENOSYS || e == EOPNOTSUPP)
			die(EXIT_UNSUPPORTED, "loading BPF programs: %s: this kernel lacks BPF or ring buffers", strerror(e));
		die(EXIT_RUNTIME, "loading BPF programs: %s (set FIM_LOADER_DEBUG=1 for the verifier log)", strerror(e));
	}
	take_sensor_handles();
	attach_programs(L.skel->obj);
	if (L.vfs)
		attach_programs(L.vfs->obj);
	for (int i = 0; i < L.opts.n_paths; i++)
		if (add_watch(L.opts.paths[i], L.opts.path_may_be_absent[i], err, sizeof(err)))
			die(EXIT_USAGE, "watched path %s", err);

	seed_open_writers();
	let_go_of_objects();
	/* Loading read the kernel's BTF and relocated every program, megabytes that libbpf has
	 * freed but the allocator keeps: give them back, the loader runs for days. */
	malloc_trim(0);
	L.rb = ring_buffer__new(L.rb_fd, handle_event, NULL, NULL);
	if (!L.rb)
		die(EXIT_RUNTIME, "ring buffer: %s", strerror(errno));
	refresh_boot_wall();

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	check_tfd = make_timer(L.opts.coalesce_ms);
	if (L.opts.stats_interval_s)
		stats_tfd = make_timer(L.opts.stats_interval_s * 1000);
	L.loss_tfd = make_timer(0);
	int fds[] = { ring_buffer__epoll_fd(L.rb), STDIN_FILENO, sfd, check_tfd, stats_tfd, L.loss_tfd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (fds[i] < 0)
			continue;
		ev.events = EPOLLIN;
		ev.data.fd = fds[i];
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev) && fds[i] != STDIN_FILENO)
			die(EXIT_RUNTIME, "epoll: %s", strerror(errno));
	}
	widen_stdout_pipe();
	emit_hello();
	logmsg("info", "watching %d path(s) with %d hooks", L.opts.n_paths, L.n_hooks);

	struct read_pacing pacing;

	pacing_init(&pacing, L.opts.max_delay_us, L.opts.busy_delay_us);

	for (;;) {
		struct epoll_event evs[8];
		int n = wait_events(epfd, evs, 8, &pacing);
		bool done = false;

		if (n == 0) /* the timed read of a busy stream */
			read_records(&pacing);

		if (n < 0 && errno != EINTR)
			die(EXIT_RUNTIME, "epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			__u64 ticks;

			if (fd == ring_buffer__epoll_fd(L.rb)) {
				read_records(&pacing);
			} else if (fd == STDIN_FILENO) {
				if (!read_commands()) {
					reason = "stdin closed";
					done = true;
				}
				epoll_ctl(epfd, done ? EPOLL_CTL_DEL : EPOLL_CTL_MOD, fd, &evs[i]);
			} else if (fd == sfd) {
				done = true;
			} else if (fd == check_tfd) {
				if (read(fd, &ticks, sizeof(ticks)) > 0) {
					/* what the kernel already said of the watched paths first */
					read_records(&pacing);
					check_watched_paths();
					run_periodic_check();
				}
				/* the check's own records (files still open for write) */
				read_records(&pacing);
			} else if (fd == stats_tfd) {
				if (read(fd, &ticks, sizeof(ticks)) > 0)
					emit_stats();
			} else if (fd == L.loss_tfd) {
				L.loss_look_pending = false;
				if (read(fd, &ticks, sizeof(ticks)) > 0)
					look_for_loss();
			}
		}
		flush_out();
		if (L.stdout_broken)
			exit(EXIT_RUNTIME);
		if (done)
			break;
	}
	run_periodic_check();
	ring_buffer__consume(L.rb);
	emit_stats();
	emit_bye(reason);
	flush_out();
	/* Nothing follows the bye: its reader need not wait through the second or two the kernel
	 * takes to detach the hooks (detach_links()) to know it has every record. */
	close(STDOUT_FILENO);
	ring_buffer__free(L.rb);
	bpf_link__destroy(L.check_link);
	bpf_link__destroy(L.seed_link);
	detach_links();
	return L.stdout_broken ? EXIT_RUNTIME : EXIT_OK;
}
