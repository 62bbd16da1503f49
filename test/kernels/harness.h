/* The kernel matrix's test driver: the C counterpart of test/e2e/loader/harness.ts, small and
 * static so it runs in a busybox initramfs on any kernel.
 *
 * One fim-loader watches a fresh tree for the whole run (loading the sensor under an emulated
 * CPU takes seconds, so it is not restarted per case):
 *
 *   <base>/w/<case>        watched: each case changes files in its own directory
 *   <base>/fence/f<N>      watched too: settle() mkdir()s here to know "everything before is in"
 *   <base>/sibling/<case>  not watched
 *
 * Changes are made by child processes: the actor (this same program exec'd as `fim-actor`, so
 * its comm and exe differ from the driver's) or a tool such as busybox's mv; every event must
 * carry that child's whodata. Output is TAP-like: "ok N - name" / "not ok N - name" with "# "
 * diagnostics, then "# kernel-test: P passed, F failed".
 */
#ifndef FIM_KT_HARNESS_H
#define FIM_KT_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ndjson.h"

struct loader {
	pid_t pid;
	int in_fd, out_fd;
	struct rec **recs;
	size_t n, cap;
	char *pending; /* bytes of a line not yet ended */
	size_t pending_len;
	bool eof;
	int bad_lines;
	char base[PATH_MAX], w[PATH_MAX], fence[PATH_MAX], sibling[PATH_MAX];
	int fence_n, cmd_n;
};

/* Who a child is: what every event it causes must carry. */
struct who {
	pid_t pid, ppid;
	char comm[16];
	char exe[PATH_MAX];
	/* its arguments joined by spaces, as far as the kernel reads them (1023 bytes); empty when
	 * the program it started as becomes another */
	char cmdline[1024];
	uint64_t uid, euid, gid, egid;
	enum { AUID_ANY, AUID_NULL, AUID_VALUE } auid_kind;
	uint64_t auid, session_id;
	uint64_t start_ticks; /* /proc/PID/stat starttime, read before the child was reaped */
	int status;     /* waitpid status */
	char out[4096]; /* what it printed on stdout */
};

struct t {
	const char *name;
	int fails;
	struct loader *l;
	char dir[PATH_MAX]; /* <base>/w/<case>, created empty */
	char sib[PATH_MAX]; /* <base>/sibling/<case>, created empty */
};

/* What one expected event must hold; a member left zero is not compared. */
enum { X_ANY, X_NULL, X_VAL };
struct xstr { int k; const char *s; };
struct xu64 { int k; uint64_t v; };
#define IS_NULL { X_NULL, 0 }
#define STR(x) { X_VAL, (x) }
#define U64(x) { X_VAL, (x) }

struct exp {
	const char *op;
	const char *path;     /* the exact bytes */
	const char *old_path; /* rename only */
	struct xstr file_type;
	struct xu64 inode;
	const char *syscall;
	const struct who *who;
};

/* File type, inode and dev of a name-based call: the tracepoint backend cannot know them
 * (the fentry backend knows them for adds, renames and deletes: see named_inode in cases.c). */
#define NAMED .file_type = IS_NULL, .inode = IS_NULL

extern const char *g_actor_path;
/* The backend the loader was started with: every event must name it. */
extern const char *g_backend;

void fail(struct t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Aborts the run: the harness itself cannot go on (setup failed). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* a + "/" + b, malloc'd and never freed: the driver lives for one run. */
char *pj(const char *a, const char *b);
uint64_t ino(const char *p);
void mkdirs(const char *p, mode_t mode);
void write_file(const char *p, const char *content);
/* The first of /bin, /usr/bin, /sbin, /usr/sbin that holds name. */
const char *tool(const char *name);

int loader_start(struct loader *l, const char *loader_path, const char *tmp_root, char *const extra_args[]);
/* SIGTERM, then the checks every run must pass: exit 0, last line bye, no record lost. */
void loader_stop(struct loader *l, struct t *t);
/* Sends {"cmd":..,"path":..} with an id, returns the ack (NULL on timeout). */
const struct rec *loader_command(struct loader *l, const char *cmd, const char *path);
size_t loader_mark(const struct loader *l);
/* Takes in what the loader wrote within timeout_ms; false once its stdout has ended. */
bool loader_read(struct loader *l, int timeout_ms);
/* Waits until every event caused before the call has been read (a fence), then returns the
 * events since `from`, fence events left out, in *out (malloc'd array). */
size_t settle(struct t *t, size_t from, const struct rec ***out);

/* Runs the actor's `action` with args (NULL-terminated) in a child; false if it failed. */
bool actor(struct t *t, struct who *w, const char *action, ...) __attribute__((sentinel));
/* Runs argv[0] in a child; comm_path names the image the child ends up in (after sh -c 'exec
 * ..'), for process_name and exe. */
bool run_tool(struct t *t, struct who *w, const char *comm_path, char *const argv[]);

/* The events are exactly `exp`, in order; a mismatch prints both sequences. */
void check_events(struct t *t, const struct rec *const *evs, size_t n, const struct exp *exp, size_t m);
#define CHECK_EVENTS(t, evs, n, ...)                                                              \
	do {                                                                                       \
		const struct exp x_[] = { __VA_ARGS__ };                                               \
		check_events((t), (evs), (n), x_, sizeof(x_) / sizeof(x_[0]));                         \
	} while (0)
#define CHECK_NO_EVENTS(t, evs, n) check_events((t), (evs), (n), NULL, 0)

/* One line per event: "add /path [openat, file, fim-actor]". */
void brief(const struct rec *r, char *buf, size_t len);

#endif
