/* The kernel-facing end-to-end cases, run inside each kernel of the matrix (`make
 * test-kernels`). They mirror the .test.ts files of test/e2e/loader/, which run the same expectations on the
 * build machine's kernel: every operation of DESIGN.md §3 with its whodata, relative and
 * dirfd-relative paths, hostile file names, and silence outside the watched tree. The
 * changes are made with the exact syscalls those tests name, called directly by the actor.
 *
 *   fim-kernel-test [--loader PATH] [--actor PATH] [--tmp DIR] [CASE...]
 *   fim-actor ACTION ARG...      (the same program under another name: makes one change)
 *   fim-kernel-test --qemu-exit CODE   (ends qemu through its isa-debug-exit port; see init)
 *
 * Exit status: 0 when every case passed, 1 when one failed, 2 when the run could not start.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* user.* xattrs need a file system that takes them, and tmpfs (the guest's only one) takes
 * them only from Linux 6.6 on; trusted.* works on tmpfs everywhere, as root. */
#define XATTR "trusted.fim"

static bool g_timestamp_hooks; /* the loader attached the ctime tracepoints (6.13+) */

/* The fentry backend sees deletes and renames in the kernel's own objects: inode and type
 * known, paths canonical whatever name the caller used (docs/protocol.md, Backends). */
static bool fentry_backend(void)
{
	return !strcmp(g_backend, "fentry");
}

/* The inode a call by name made or changed: known to the fentry backend for the calls it
 * hooks (adds, renames, deletes), null on the tracepoint backend, which has only the string. */
static struct xu64 named_inode(const char *p)
{
	return fentry_backend() ? (struct xu64)U64(ino(p)) : (struct xu64)IS_NULL;
}

/* ---- the actor: one process making the changes a case asks for ----------------------------- */

#define OK(call)                                                                                   \
	do {                                                                                       \
		if ((long)(call) < 0) {                                                            \
			fprintf(stderr, "fim-actor: %s: %s\n", #call, strerror(errno));          \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* The call must fail with errno e: the tests of "a failed call is no event". */
#define FAILS(call, e)                                                                             \
	do {                                                                                       \
		errno = 0;                                                                         \
		if ((long)(call) >= 0 || errno != (e)) {                                           \
			fprintf(stderr, "fim-actor: %s should fail with %s: %s\n", #call, strerror(e), \
				strerror(errno));                                                  \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static void create(const char *p)
{
	int fd;

	OK(fd = open(p, O_CREAT | O_WRONLY, 0644));
	OK(close(fd));
}

static void append(const char *p, const char *s)
{
	int fd;

	OK(fd = open(p, O_WRONLY | O_APPEND));
	OK(write(fd, s, strlen(s)));
	OK(close(fd));
}

/* What setproctitle does: the new title written over the arguments in place, the rest of their
 * area cleared, so that neither the process's memory nor the place of its arguments changes.
 * An append before and one after, not at once: the sensor takes the arguments as unchanged for
 * 0.1 ms after it last looked at them (docs/protocol.md, cmdline). */
static int act_retitle(char **a)
{
	char *area = a[-2], *end = a[0] + strlen(a[0]) + 1, file[PATH_MAX];
	static const char title[] = "fim-actor: retitled";

	snprintf(file, sizeof(file), "%s", a[0]);
	append(file, "before\n");
	if ((size_t)(end - area) < sizeof(title))
		die("the arguments are too short for the title");
	memset(area, 0, (size_t)(end - area));
	memcpy(area, title, sizeof(title));
	nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	append(file, "after\n");
	return 0;
}

static int act_create(char **a) { create(a[0]); return 0; }
static int act_mkdir(char **a) { OK(syscall(SYS_mkdir, a[0], 0755)); return 0; }
static int act_mkfifo(char **a) { OK(mknodat(AT_FDCWD, a[0], S_IFIFO | 0644, 0)); return 0; }
static int act_unlink(char **a) { OK(syscall(SYS_unlink, a[0])); return 0; }
static int act_append(char **a) { append(a[0], "more\n"); return 0; }

static int act_open_creat_rdonly(char **a)
{
	int fd;

	OK(fd = open(a[0], O_CREAT | O_RDONLY, 0644));
	OK(close(fd));
	return 0;
}

static int act_open_wronly(char **a)
{
	int fd;

	OK(fd = open(a[0], O_WRONLY));
	OK(close(fd));
	return 0;
}

/* link, symlink, linkat, symlinkat: target, hard, sym, hard2, sym2 */
static int act_links(char **a)
{
	OK(syscall(SYS_link, a[0], a[1]));
	OK(syscall(SYS_symlink, a[0], a[2]));
	OK(syscall(SYS_linkat, AT_FDCWD, a[0], AT_FDCWD, a[3], 0));
	OK(syscall(SYS_symlinkat, a[0], AT_FDCWD, a[4]));
	return 0;
}

/* An anonymous file named by linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N: dir, name */
static int act_tmpfile(char **a)
{
	char proc[64];
	int fd;

	OK(fd = open(a[0], O_TMPFILE | O_WRONLY, 0600));
	OK(write(fd, "data", 4));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	OK(linkat(AT_FDCWD, proc, AT_FDCWD, a[1], AT_SYMLINK_FOLLOW));
	OK(close(fd));
	return 0;
}

static int act_burst(char **a)
{
	int fd;

	OK(fd = open(a[0], O_WRONLY));
	for (int i = 0; i < 500; i++)
		OK(write(fd, "x", 1));
	OK(close(fd));
	return 0;
}

static int act_truncate(char **a) { OK(syscall(SYS_truncate, a[0], 1)); return 0; }

static int act_ftruncate(char **a)
{
	int fd;

	OK(fd = open(a[0], O_WRONLY));
	OK(ftruncate(fd, 2));
	OK(close(fd));
	return 0;
}

static int act_otrunc(char **a)
{
	int fd;

	OK(fd = open(a[0], O_WRONLY | O_TRUNC));
	OK(close(fd));
	return 0;
}

static int act_fallocate(char **a)
{
	int fd;

	OK(fd = open(a[0], O_WRONLY));
	OK(fallocate(fd, 0, 0, 65536));
	OK(close(fd));
	return 0;
}

static long long realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A line every 20 ms for a[1] ms through one fd; prints when the last write was made. */
static int act_long_writer(char **a)
{
	long long end = realtime_ns() + atoll(a[1]) * 1000000LL, last = 0;
	struct timespec pause = { 0, 20000000 };
	int fd;

	OK(fd = open(a[0], O_WRONLY | O_APPEND));
	while (realtime_ns() < end) {
		last = realtime_ns();
		OK(write(fd, "line\n", 5));
		nanosleep(&pause, NULL);
	}
	printf("%lld\n", last);
	fflush(stdout);
	OK(close(fd));
	return 0;
}

static int act_unlinkat(char **a) { OK(unlinkat(AT_FDCWD, a[0], 0)); return 0; }
static int act_rmdir(char **a) { OK(syscall(SYS_rmdir, a[0])); return 0; }
static int act_rename(char **a) { OK(syscall(SYS_rename, a[0], a[1])); return 0; }

/* What mv does: renameat2(RENAME_NOREPLACE) first, then renameat when the target exists. */
static int act_mv(char **a)
{
	if (syscall(SYS_renameat2, AT_FDCWD, a[0], AT_FDCWD, a[1], RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EEXIST) {
		fprintf(stderr, "fim-actor: renameat2 %s: %s\n", a[0], strerror(errno));
		return 1;
	}
	OK(syscall(SYS_renameat, AT_FDCWD, a[0], AT_FDCWD, a[1]));
	return 0;
}

static int act_exchange(char **a)
{
	OK(syscall(SYS_renameat2, AT_FDCWD, a[0], AT_FDCWD, a[1], RENAME_EXCHANGE));
	return 0;
}

/* What chmod(1) and chown(1) call. */
static int act_chmod_chown(char **a)
{
	OK(syscall(SYS_fchmodat, AT_FDCWD, a[0], 0600));
	OK(syscall(SYS_fchownat, AT_FDCWD, a[0], 1000, 1000, 0));
	return 0;
}

static int act_fchmod_fchown(char **a)
{
	int fd;

	OK(fd = open(a[0], O_RDONLY));
	OK(fchmod(fd, 0640));
	OK(fchown(fd, 0, 0));
	OK(close(fd));
	return 0;
}

static int act_xattr(char **a)
{
	int fd;

	OK(setxattr(a[0], XATTR, "1", 1, 0));
	OK(removexattr(a[0], XATTR));
	OK(fd = open(a[0], O_RDONLY));
	OK(fsetxattr(fd, XATTR, "2", 1, 0));
	OK(fremovexattr(fd, XATTR));
	OK(close(fd));
	return 0;
}

static int act_utimes(char **a)
{
	struct timespec t1[2] = { { 1577836800, 0 }, { 1577836800, 0 } };
	struct timespec t2[2] = { { 1577836801, 0 }, { 1577836801, 0 } };
	char missing[PATH_MAX];
	int fd;

	OK(utimensat(AT_FDCWD, a[0], t1, 0));
	OK(fd = open(a[0], O_RDONLY));
	OK(futimens(fd, t2));
	OK(close(fd));
	snprintf(missing, sizeof(missing), "%s.missing", a[0]);
	FAILS(utimensat(AT_FDCWD, missing, t1, 0), ENOENT);
	return 0;
}

/* What touch -d does: open O_WRONLY|O_CREAT, set the times through the fd, close. */
static int act_touch_d(char **a)
{
	struct timespec t[2] = { { 1577836800, 0 }, { 1577836800, 0 } };
	int fd;

	OK(fd = open(a[0], O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK, 0666));
	OK(futimens(fd, t));
	OK(close(fd));
	return 0;
}

/* existing, missing */
static int act_failing(char **a)
{
	FAILS(syscall(SYS_unlink, a[1]), ENOENT);
	FAILS(syscall(SYS_mkdir, a[0], 0755), EEXIST);
	FAILS(syscall(SYS_rename, a[1], a[0]), ENOENT);
	FAILS(syscall(SYS_fchmodat, AT_FDCWD, a[1], 0600), ENOENT);
	FAILS(open(a[0], O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	return 0;
}

/* cwd is / so a dirfd ignored by the sensor would give wrong paths: d1, d2 */
static int act_dirfd(char **a)
{
	int d1, d2, fd;

	OK(d1 = open(a[0], O_RDONLY | O_DIRECTORY));
	OK(d2 = open(a[1], O_RDONLY | O_DIRECTORY));
	OK(fd = openat(d1, "f", O_CREAT | O_WRONLY, 0644));
	OK(close(fd));
	OK(mkdirat(d1, "sub", 0755));
	OK(renameat(d1, "f", d2, "g"));
	OK(unlinkat(d2, "g", 0));
	OK(unlinkat(d1, "sub", AT_REMOVEDIR));
	return 0;
}

/* .. components: sub, sibling dir, then the relative names to use from each */
static int act_dotdot(char **a)
{
	OK(chdir(a[0]));
	create("../x");
	OK(syscall(SYS_rename, "../x", "../y"));
	OK(chdir(a[1]));
	OK(syscall(SYS_mkdir, a[2], 0755));
	OK(chdir(a[0]));
	OK(syscall(SYS_unlink, a[3]));
	return 0;
}

/* Renames that move the caller's own cwd: from dir/a/b, "../../a" to "../../x/a"; then from
 * inside what moved, its absolute name to a name that goes up: cwd, old, new, abs-old, new2 */
static int act_rename_moving_cwd(char **a)
{
	OK(chdir(a[0]));
	OK(syscall(SYS_renameat2, AT_FDCWD, a[1], AT_FDCWD, a[2], 0));
	OK(syscall(SYS_rename, a[3], a[4]));
	return 0;
}

/* Names that lexically start in the watched tree and land outside it: cwd, then x y z */
static int act_dotdot_leaving(char **a)
{
	OK(chdir(a[0]));
	OK(syscall(SYS_mkdir, a[1], 0755));
	create(a[2]);
	OK(syscall(SYS_rename, a[2], a[3]));
	OK(syscall(SYS_unlink, a[3]));
	OK(syscall(SYS_rmdir, a[1]));
	return 0;
}

/* mkdir, mv, chmod, rm: dir/m, dir/f, dir/g, under a name with a symlink in it */
static int act_named_changes(char **a)
{
	OK(syscall(SYS_mkdir, a[0], 0755));
	OK(syscall(SYS_rename, a[1], a[2]));
	OK(syscall(SYS_fchmodat, AT_FDCWD, a[2], 0600));
	OK(syscall(SYS_unlink, a[2]));
	return 0;
}

/* mkdir x, create y, rename y z, rm z: outside changes, through a symlink or in the sibling */
static int act_outside(char **a)
{
	OK(syscall(SYS_mkdir, a[0], 0755));
	create(a[1]);
	OK(syscall(SYS_rename, a[1], a[2]));
	OK(syscall(SYS_unlink, a[2]));
	return 0;
}

static int act_rename_in(char **a)
{
	OK(chdir(a[0]));
	OK(syscall(SYS_rename, a[1], a[2]));
	return 0;
}

static int act_create_rename_unlink(char **a)
{
	create(a[0]);
	OK(syscall(SYS_rename, a[0], a[1]));
	OK(syscall(SYS_unlink, a[1]));
	return 0;
}

/* What the unwatched-sibling test does with touch, mkdir, mv, chmod, a write and rm -r. */
static int act_sibling_ops(char **a)
{
	char *f = pj(a[0], "a"), *d = pj(a[0], "d"), *b = pj(d, "b");

	create(f);
	OK(syscall(SYS_mkdir, d, 0755));
	OK(syscall(SYS_rename, f, b));
	OK(syscall(SYS_fchmodat, AT_FDCWD, b, 0600));
	append(b, "x");
	OK(syscall(SYS_unlink, b));
	OK(syscall(SYS_rmdir, d));
	return 0;
}

/* setpriv --reuid U --regid G --clear-groups: uid, gid, file */
static int act_as_user(char **a)
{
	uid_t u = (uid_t)atoi(a[0]);
	gid_t g = (gid_t)atoi(a[1]);

	OK(setgroups(0, NULL));
	OK(setresgid(g, g, g));
	OK(setresuid(u, u, u));
	create(a[2]);
	return 0;
}

/* setpriv --ruid U: a real uid apart from the effective root, what a setuid program has */
static int act_as_ruid(char **a)
{
	OK(setresuid((uid_t)atoi(a[0]), (uid_t)-1, (uid_t)-1));
	OK(syscall(SYS_mkdir, a[1], 0755));
	return 0;
}

static void read_proc(const char *p, char *buf, size_t len)
{
	int fd;
	ssize_t n;

	OK(fd = open(p, O_RDONLY));
	OK(n = read(fd, buf, len - 1));
	buf[n] = '\0';
	close(fd);
}

static void write_proc(const char *p, const char *s)
{
	int fd;

	OK(fd = open(p, O_WRONLY));
	OK(write(fd, s, strlen(s)));
	close(fd);
}

/* One io_uring request, submitted and waited for by hand (the guest has no liburing). */
struct uring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static void uring_open(struct uring *r)
{
	struct io_uring_params p = { 0 };
	char *sq, *cq;
	size_t sq_len, cq_len;

	OK(r->fd = syscall(__NR_io_uring_setup, 4, &p));
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if ((p.features & IORING_FEAT_SINGLE_MMAP) && cq_len > sq_len)
		sq_len = cq_len;
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	cq = (p.features & IORING_FEAT_SINGLE_MMAP)
		     ? sq
		     : mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) {
		fprintf(stderr, "fim-actor: io_uring mmap: %s\n", strerror(errno));
		exit(1);
	}
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

/* op on (AT_FDCWD, a) and, for a rename, (AT_FDCWD, b); exits when the request fails */
static void uring_do(struct uring *r, __u8 op, const char *a, const char *b)
{
	unsigned tail = *r->sq_tail, head;
	struct io_uring_sqe *sqe = &r->sqes[tail & *r->sq_mask];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = op;
	sqe->fd = AT_FDCWD;
	sqe->addr = (unsigned long)a;
	if (op == IORING_OP_RENAMEAT) {
		sqe->len = AT_FDCWD;
		sqe->addr2 = (unsigned long)b;
	} else if (op == IORING_OP_MKDIRAT) {
		sqe->len = 0755;
	}
	r->sq_array[tail & *r->sq_mask] = tail & *r->sq_mask;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	OK(syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0));
	head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
		fprintf(stderr, "fim-actor: io_uring: no completion\n");
		exit(1);
	}
	if (r->cqes[head & *r->cq_mask].res < 0) {
		fprintf(stderr, "fim-actor: io_uring op %u on %s: %s\n", op, a, strerror(-r->cqes[head & *r->cq_mask].res));
		exit(1);
	}
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
}

/* io_uring's unlinkat, renameat and mkdirat: gone, from, to, newdir */
static int act_uring(char **a)
{
	struct uring r;

	uring_open(&r);
	uring_do(&r, IORING_OP_UNLINKAT, a[0], NULL);
	uring_do(&r, IORING_OP_RENAMEAT, a[1], a[2]);
	uring_do(&r, IORING_OP_MKDIRAT, a[3], NULL);
	return 0;
}

/* Sets a login uid (a new audit session), prints "loginuid sessionid", creates the file. */
static int act_login(char **a)
{
	char uid[32], ses[32];

	if (strcmp(a[0], "unset")) {
		write_proc("/proc/self/loginuid", a[0]);
	} else {
		read_proc("/proc/self/loginuid", uid, sizeof(uid));
		if (strcmp(uid, "4294967295"))
			write_proc("/proc/self/loginuid", "4294967295");
	}
	read_proc("/proc/self/loginuid", uid, sizeof(uid));
	read_proc("/proc/self/sessionid", ses, sizeof(ses));
	printf("%s %s\n", uid, ses);
	fflush(stdout);
	create(a[1]);
	return 0;
}

static const struct action {
	const char *name;
	int nargs;
	int (*fn)(char **args);
} ACTIONS[] = {
	{ "create", 1, act_create },
	{ "mkdir", 1, act_mkdir },
	{ "mkfifo", 1, act_mkfifo },
	{ "unlink", 1, act_unlink },
	{ "unlinkat", 1, act_unlinkat },
	{ "rmdir", 1, act_rmdir },
	{ "append", 1, act_append },
	{ "open-creat-rdonly", 1, act_open_creat_rdonly },
	{ "open-wronly", 1, act_open_wronly },
	{ "links", 5, act_links },
	{ "tmpfile", 2, act_tmpfile },
	{ "burst", 1, act_burst },
	{ "truncate", 1, act_truncate },
	{ "ftruncate", 1, act_ftruncate },
	{ "otrunc", 1, act_otrunc },
	{ "retitle", 1, act_retitle },
	{ "fallocate", 1, act_fallocate },
	{ "long-writer", 2, act_long_writer },
	{ "rename", 2, act_rename },
	{ "mv", 2, act_mv },
	{ "exchange", 2, act_exchange },
	{ "chmod-chown", 1, act_chmod_chown },
	{ "fchmod-fchown", 1, act_fchmod_fchown },
	{ "xattr", 1, act_xattr },
	{ "utimes", 1, act_utimes },
	{ "touch-d", 1, act_touch_d },
	{ "failing", 2, act_failing },
	{ "dirfd", 2, act_dirfd },
	{ "dotdot", 4, act_dotdot },
	{ "dotdot-leaving", 4, act_dotdot_leaving },
	{ "rename-moving-cwd", 5, act_rename_moving_cwd },
	{ "named-changes", 3, act_named_changes },
	{ "outside", 3, act_outside },
	{ "rename-in", 3, act_rename_in },
	{ "create-rename-unlink", 2, act_create_rename_unlink },
	{ "sibling-ops", 1, act_sibling_ops },
	{ "as-user", 3, act_as_user },
	{ "as-ruid", 2, act_as_ruid },
	{ "login", 2, act_login },
	{ "uring", 4, act_uring },
};

static int actor_main(int argc, char **argv)
{
	for (size_t i = 0; argc >= 2 && i < sizeof(ACTIONS) / sizeof(ACTIONS[0]); i++) {
		if (strcmp(argv[1], ACTIONS[i].name))
			continue;
		if (argc - 2 != ACTIONS[i].nargs) {
			fprintf(stderr, "fim-actor: %s takes %d arguments\n", argv[1], ACTIONS[i].nargs);
			return 2;
		}
		return ACTIONS[i].fn(argv + 2);
	}
	fprintf(stderr, "fim-actor: unknown action %s\n", argc >= 2 ? argv[1] : "(none)");
	return 2;
}

/* ---- the cases -------------------------------------------------------------------------- */

/* Settles what the case's own setup changed, and returns the mark after it. */
static size_t quiet_mark(struct t *t)
{
	const struct rec **evs;

	settle(t, loader_mark(t->l), &evs);
	free(evs);
	return loader_mark(t->l);
}

#define SETTLE(m) const struct rec **evs; size_t n = settle(t, (m), &evs)

static void c_add_create(struct t *t)
{
	char *f = pj(t->dir, "created");
	size_t m = loader_mark(t->l);
	struct who c;

	actor(t, &c, "create", f, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", f, .file_type = STR("file"), .inode = U64(ino(f)), .syscall = "openat", .who = &c });
}

static void c_add_existing(struct t *t)
{
	char *f = pj(t->dir, "exists");
	struct who c;

	write_file(f, "x");
	size_t m = quiet_mark(t);
	actor(t, &c, "open-creat-rdonly", f, NULL);
	SETTLE(m);
	CHECK_NO_EVENTS(t, evs, n);
}

static void c_add_mkdir(struct t *t)
{
	char *d = pj(t->dir, "newdir");
	size_t m = loader_mark(t->l);
	struct who c;

	actor(t, &c, "mkdir", d, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", d, .file_type = STR("dir"), .inode = named_inode(d), .syscall = "mkdir", .who = &c });
}

static void c_add_fifo(struct t *t)
{
	char *p = pj(t->dir, "pipe");
	size_t m = loader_mark(t->l);
	struct who c;

	actor(t, &c, "mkfifo", p, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", p, .file_type = STR("fifo"), .inode = named_inode(p), .syscall = "mknodat", .who = &c });
}

static void c_add_links(struct t *t)
{
	char *f = pj(t->dir, "target"), *hard = pj(t->dir, "hard"), *sym = pj(t->dir, "sym");
	char *hard2 = pj(t->dir, "hard2"), *sym2 = pj(t->dir, "sym2");
	struct who c;

	write_file(f, "x");
	size_t m = quiet_mark(t);
	actor(t, &c, "links", f, hard, sym, hard2, sym2, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "add", hard, .inode = named_inode(hard), .syscall = "link", .who = &c },
		     { "add", sym, .file_type = STR("symlink"), .inode = named_inode(sym), .syscall = "symlink", .who = &c },
		     { "add", hard2, .inode = named_inode(hard2), .syscall = "linkat", .who = &c },
		     { "add", sym2, .file_type = STR("symlink"), .inode = named_inode(sym2), .syscall = "symlinkat", .who = &c });
}

static void c_add_tmpfile(struct t *t)
{
	char *f = pj(t->dir, "from-tmpfile");
	size_t m = loader_mark(t->l);
	struct who c;

	actor(t, &c, "tmpfile", t->dir, f, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", f, .inode = named_inode(f), .syscall = "linkat", .who = &c });
}

static void c_modify_write(struct t *t)
{
	char *f = pj(t->dir, "existing");
	struct who c;

	write_file(f, "before\n");
	size_t m = quiet_mark(t);
	actor(t, &c, "append", f, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "modify", f, .file_type = STR("file"), .inode = U64(ino(f)), .syscall = "close", .who = &c });
}

static void c_modify_burst(struct t *t)
{
	char *f = pj(t->dir, "burst");
	struct who c;

	write_file(f, "");
	size_t m = quiet_mark(t);
	actor(t, &c, "burst", f, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "modify", f, .inode = U64(ino(f)), .syscall = "close", .who = &c });
}

static void c_modify_no_write(struct t *t)
{
	char *f = pj(t->dir, "untouched");
	struct who c;

	write_file(f, "x");
	size_t m = quiet_mark(t);
	actor(t, &c, "open-wronly", f, NULL);
	SETTLE(m);
	CHECK_NO_EVENTS(t, evs, n);
}

static void c_modify_truncate(struct t *t)
{
	char *a = pj(t->dir, "by-name"), *b = pj(t->dir, "by-fd");
	struct who c1, c2;

	write_file(a, "abcdef");
	write_file(b, "abcdef");
	size_t m = quiet_mark(t);
	actor(t, &c1, "truncate", a, NULL);
	actor(t, &c2, "ftruncate", b, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "modify", a, .syscall = "truncate", .who = &c1 },
		     { "modify", b, .inode = U64(ino(b)), .syscall = "ftruncate", .who = &c2 });
}

static void c_modify_otrunc(struct t *t)
{
	char *f = pj(t->dir, "trunc");
	struct who c;

	write_file(f, "old content");
	size_t m = quiet_mark(t);
	actor(t, &c, "otrunc", f, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "modify", f, .file_type = STR("file"), .inode = U64(ino(f)), .syscall = "close", .who = &c });
}

static void c_modify_fallocate(struct t *t)
{
	char *f = pj(t->dir, "alloc");
	struct who c;

	write_file(f, "");
	size_t m = quiet_mark(t);
	actor(t, &c, "fallocate", f, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "modify", f, .inode = U64(ino(f)), .syscall = "fallocate", .who = &c });
}

/* DESIGN §3: a file written for a long time yields at most one modify per coalescing window
 * (1 s, the default) while written, and its last writes are covered: by the close's modify, or
 * by a check that ran between the last write and the close (a slow guest leaves time for one),
 * after which the close has nothing new to report. */
static void c_modify_long_writer(struct t *t)
{
	char *f = pj(t->dir, "app.log"), gaps[512] = "";
	struct who c;

	write_file(f, "");
	size_t m = quiet_mark(t);
	actor(t, &c, "long-writer", f, "3500", NULL);
	long long last_write = atoll(c.out);
	SETTLE(m);

	uint64_t prev = 0, ts = 0;

	if (n < 2)
		fail(t, "seen while written, not only at close (%zu events)", n);
	for (size_t i = 0; i < n; i++) {
		const bool is_last = i + 1 == n;
		const struct member *syscall = rec_get(evs[i], "syscall");
		const bool last_is_check = is_last && syscall && syscall->type == J_STR && !strcmp(syscall->val, "check");
		const struct exp x = { "modify", f, .inode = U64(ino(f)),
				       .syscall = is_last && !last_is_check ? "close" : "check" };
		uint64_t pid = 0, uid = 1, euid = 1;

		/* the whodata the e2e suite asks of these: the writer's pid and ids */
		check_events(t, &evs[i], 1, &x, 1);
		if (!rec_u64(evs[i], "pid", &pid) || pid != (uint64_t)c.pid || !rec_u64(evs[i], "uid", &uid) || uid ||
		    !rec_u64(evs[i], "euid", &euid) || euid)
			fail(t, "not the writer's pid and ids: %s", evs[i]->line);
		rec_u64(evs[i], "timestamp", &ts);
		if (i) {
			long long gap = (long long)(ts - prev) / 1000000;

			snprintf(gaps + strlen(gaps), sizeof(gaps) - strlen(gaps), " %lld", gap);
			if ((!is_last || last_is_check) && gap < 900)
				fail(t, "at most one check modify per 1 s window (gap %lld ms)", gap);
			if (gap > 1300)
				fail(t, "a modify at least every window while written (gap %lld ms)", gap);
		}
		prev = ts;
	}
	diag("%s: modify gaps (ms):%s", t->name, gaps);
	if (n && (long long)ts < last_write - 1000000)
		fail(t, "the last writes (at %lld) are not covered by a modify at or after them (%llu)", last_write,
		     (unsigned long long)ts);
}

static void c_delete(struct t *t)
{
	char *a = pj(t->dir, "a"), *b = pj(t->dir, "b"), *d = pj(t->dir, "d");
	struct who c1, c2, c3;

	write_file(a, "");
	write_file(b, "");
	mkdirs(d, 0755);
	uint64_t ia = ino(a), ib = ino(b), id = ino(d);
	size_t m = quiet_mark(t);
	actor(t, &c1, "unlink", a, NULL);
	actor(t, &c2, "unlinkat", b, NULL);
	actor(t, &c3, "rmdir", d, NULL);
	SETTLE(m);
	if (fentry_backend()) {
		CHECK_EVENTS(t, evs, n,
			     { "delete", a, .file_type = STR("file"), .inode = U64(ia), .syscall = "unlink", .who = &c1 },
			     { "delete", b, .file_type = STR("file"), .inode = U64(ib), .syscall = "unlinkat", .who = &c2 },
			     { "delete", d, .file_type = STR("dir"), .inode = U64(id), .syscall = "rmdir", .who = &c3 });
	} else {
		CHECK_EVENTS(t, evs, n,
			     { "delete", a, NAMED, .syscall = "unlink", .who = &c1 },
			     { "delete", b, NAMED, .syscall = "unlinkat", .who = &c2 },
			     { "delete", d, .file_type = STR("dir"), .inode = IS_NULL, .syscall = "rmdir", .who = &c3 });
	}
}

static void c_rename(struct t *t)
{
	char *a = pj(t->dir, "a"), *b = pj(t->dir, "b"), *c = pj(t->dir, "c"), *d = pj(t->dir, "d");
	struct who c1, c2;

	write_file(a, "");
	write_file(c, "");
	write_file(d, "");
	uint64_t ia = ino(a), ic = ino(c);
	size_t m = quiet_mark(t);
	actor(t, &c1, "rename", a, b, NULL);
	/* renameat2(RENAME_NOREPLACE) fails on the existing d (no event), then renameat replaces
	 * it: one rename, and no delete for the old d */
	actor(t, &c2, "mv", c, d, NULL);
	SETTLE(m);
	if (fentry_backend())
		CHECK_EVENTS(t, evs, n,
			     { "rename", b, a, .file_type = STR("file"), .inode = U64(ia), .syscall = "rename", .who = &c1 },
			     { "rename", d, c, .file_type = STR("file"), .inode = U64(ic), .syscall = "renameat", .who = &c2 });
	else
		CHECK_EVENTS(t, evs, n,
			     { "rename", b, a, NAMED, .syscall = "rename", .who = &c1 },
			     { "rename", d, c, NAMED, .syscall = "renameat", .who = &c2 });
}

static void c_rename_exchange(struct t *t)
{
	char *x = pj(t->dir, "x"), *y = pj(t->dir, "y"), buf[8] = "";
	struct who c;
	int fd;

	write_file(x, "x");
	write_file(y, "y");
	uint64_t ix = ino(x), iy = ino(y);
	size_t m = quiet_mark(t);
	actor(t, &c, "exchange", x, y, NULL);
	fd = open(x, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0 || strcmp(buf, "y"))
		fail(t, "the names were not swapped");
	close(fd);
	SETTLE(m);
	if (fentry_backend()) /* each record names the inode that moved */
		CHECK_EVENTS(t, evs, n,
			     { "rename", y, x, .inode = U64(ix), .syscall = "renameat2", .who = &c },
			     { "rename", x, y, .inode = U64(iy), .syscall = "renameat2", .who = &c });
	else
		CHECK_EVENTS(t, evs, n,
			     { "rename", y, x, .syscall = "renameat2", .who = &c },
			     { "rename", x, y, .syscall = "renameat2", .who = &c });
}

static void c_rename_in_out(struct t *t)
{
	char *inside = pj(t->dir, "leaving"), *outside = pj(t->sib, "left");
	char *comer = pj(t->sib, "coming"), *arrived = pj(t->dir, "arrived");
	struct who c1, c2;

	write_file(inside, "");
	write_file(comer, "");
	size_t m = quiet_mark(t);
	actor(t, &c1, "mv", inside, outside, NULL);
	actor(t, &c2, "mv", comer, arrived, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "rename", outside, inside, .syscall = "renameat2", .who = &c1 },
		     { "rename", arrived, comer, .syscall = "renameat2", .who = &c2 });
}

static void c_attrib_chmod_chown(struct t *t)
{
	char *f = pj(t->dir, "perm");
	struct who c1, c2;
	struct stat st;

	write_file(f, "");
	size_t m = quiet_mark(t);
	actor(t, &c1, "chmod-chown", f, NULL);
	actor(t, &c2, "fchmod-fchown", f, NULL);
	uint64_t i = ino(f);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "attrib", f, NAMED, .syscall = "fchmodat", .who = &c1 },
		     { "attrib", f, NAMED, .syscall = "fchownat", .who = &c1 },
		     { "attrib", f, .file_type = STR("file"), .inode = U64(i), .syscall = "fchmod", .who = &c2 },
		     { "attrib", f, .file_type = STR("file"), .inode = U64(i), .syscall = "fchown", .who = &c2 });
	if (stat(f, &st) || (st.st_mode & 0777) != 0640)
		fail(t, "the mode was not changed");
}

static void c_attrib_xattr(struct t *t)
{
	char *f = pj(t->dir, "xattr");
	struct who c;

	write_file(f, "");
	size_t m = quiet_mark(t);
	actor(t, &c, "xattr", f, NULL);
	uint64_t i = ino(f);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "attrib", f, NAMED, .syscall = "setxattr", .who = &c },
		     { "attrib", f, NAMED, .syscall = "removexattr", .who = &c },
		     { "attrib", f, .inode = U64(i), .syscall = "fsetxattr", .who = &c },
		     { "attrib", f, .inode = U64(i), .syscall = "fremovexattr", .who = &c });
}

static void c_attrib_utimes(struct t *t)
{
	char *f = pj(t->dir, "times");
	struct who c;
	struct stat st;

	write_file(f, "");
	size_t m = quiet_mark(t);
	actor(t, &c, "utimes", f, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "attrib", f, NAMED, .syscall = "utimensat", .who = &c },
		     { "attrib", f, .inode = U64(ino(f)), .syscall = "utimensat", .who = &c });
	if (stat(f, &st) || st.st_mtime != 1577836801)
		fail(t, "the times were not set");
}

/* touch -d sets the times through its fd and writes nothing: the attrib alone, no modify */
static void c_attrib_touch_d(struct t *t)
{
	char *f = pj(t->dir, "touched");
	struct who c;

	write_file(f, "content");
	size_t m = quiet_mark(t);
	actor(t, &c, "touch-d", f, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "attrib", f, .inode = U64(ino(f)), .syscall = "utimensat", .who = &c });
}

static void c_failed_calls(struct t *t)
{
	char *f = pj(t->dir, "exists"), *missing = pj(t->dir, "missing");
	struct who c;

	write_file(f, "");
	size_t m = quiet_mark(t);
	actor(t, &c, "failing", f, missing, NULL);
	SETTLE(m);
	CHECK_NO_EVENTS(t, evs, n);
}

static void c_relative_mv(struct t *t)
{
	char *a = pj(t->dir, "a"), *b = pj(t->dir, "b");
	char *argv[] = { (char *)tool("sh"), "-c", "cd \"$0\" && exec mv a b", t->dir, NULL };
	struct who c;

	write_file(a, "");
	size_t m = quiet_mark(t);
	run_tool(t, &c, tool("mv"), argv);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "rename", b, a, .who = &c });
}

static void c_dirfd(struct t *t)
{
	char *d1 = pj(t->dir, "d1"), *d2 = pj(t->dir, "d2");
	struct who c;

	mkdirs(d1, 0755);
	mkdirs(d2, 0755);
	size_t m = quiet_mark(t);
	actor(t, &c, "dirfd", d1, d2, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "add", pj(d1, "f"), .syscall = "openat", .who = &c },
		     { "add", pj(d1, "sub"), .syscall = "mkdirat", .who = &c },
		     { "rename", pj(d2, "g"), pj(d1, "f"), .syscall = "renameat", .who = &c },
		     { "delete", pj(d2, "g"), .syscall = "unlinkat", .who = &c },
		     { "delete", pj(d1, "sub"), .syscall = "unlinkat", .who = &c });
}

static void c_dotdot(struct t *t)
{
	char *sub = pj(t->dir, "sub"), up_m[PATH_MAX], up_y[PATH_MAX];
	struct who c;

	mkdirs(sub, 0755);
	/* from the unwatched sibling into the watched tree: the lexical path does not start with
	 * it; and from sub out to the base and back in */
	snprintf(up_m, sizeof(up_m), "../../w/%s/m", t->name);
	snprintf(up_y, sizeof(up_y), "../../../w/%s/y", t->name);
	size_t m = quiet_mark(t);
	actor(t, &c, "dotdot", sub, t->sib, up_m, up_y, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "add", pj(t->dir, "x"), .who = &c },
		     { "rename", pj(t->dir, "y"), pj(t->dir, "x"), .who = &c },
		     { "add", pj(t->dir, "m"), .who = &c },
		     { "delete", pj(t->dir, "y"), .who = &c });
}

static void c_dotdot_leaving(struct t *t)
{
	char *sub = pj(t->dir, "sub"), out[PATH_MAX];
	struct who c;

	mkdirs(sub, 0755);
	/* the lexical paths start with the watched prefix, the files land in the unwatched sibling */
	snprintf(out, sizeof(out), "../../../sibling/%s", t->name);
	size_t m = quiet_mark(t);
	actor(t, &c, "dotdot-leaving", sub, pj(out, "x"), pj(out, "y"), pj(out, "z"), NULL);
	SETTLE(m);
	CHECK_NO_EVENTS(t, evs, n);
}

/* The tracepoint backend reads the bases of such renames when the call begins
 * (docs/protocol.md, Paths), the fentry backend sees the directories themselves; the compatible
 * object does not read them (a documented limit): there, two renames with some paths. */
static void c_rename_moving_cwd(struct t *t)
{
	char *b = pj(t->dir, "a/b"), *moved = pj(t->dir, "x/a");
	struct who c;

	mkdirs(b, 0755);
	mkdirs(pj(t->dir, "x"), 0755);
	size_t m = quiet_mark(t);
	/* the second rename runs from x/a/b (the cwd moved with a): x/a goes to dir/z */
	actor(t, &c, "rename-moving-cwd", b, "../../a", "../../x/a", moved, "../../../z", NULL);
	SETTLE(m);
	if (fentry_backend() || rec_array_has(t->l->recs[0], "hooks", "sys_enter_renameat2")) {
		CHECK_EVENTS(t, evs, n,
			     { "rename", moved, pj(t->dir, "a"), .who = &c },
			     { "rename", pj(t->dir, "z"), moved, .who = &c });
		return;
	}
	diag("%s: the compatible object: the documented limit applies", t->name);
	if (n != 2 || !rec_str_is(evs[0], "operation", "rename") || !rec_str_is(evs[1], "operation", "rename"))
		fail(t, "%zu events, not two renames", n);
}

static void c_symlinked_parent_open(struct t *t)
{
	char *link = pj(t->l->base, "link-open"), *f = pj(t->dir, "f");
	struct who c;

	if (symlink(t->dir, link))
		die("symlink: %s", strerror(errno));
	size_t m = quiet_mark(t);
	actor(t, &c, "create", pj(link, "f"), NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", f, .inode = U64(ino(f)), .who = &c });
}

/* docs/protocol.md, Paths: a name reaching the watched tree only through a symlink outside it
 * is seen on kernels with the timestamp tracepoints (6.13+), and not on older ones; an add by
 * name, a rename or a delete is seen on every kernel by the fentry backend (docs/protocol.md,
 * Backends). */
static void c_symlinked_parent_named(struct t *t)
{
	char *link = pj(t->l->base, "link-named");
	struct who c;

	if (symlink(t->dir, link))
		die("symlink: %s", strerror(errno));
	write_file(pj(t->dir, "f"), "");
	size_t m = quiet_mark(t);
	actor(t, &c, "named-changes", pj(link, "m"), pj(link, "f"), pj(link, "g"), NULL);
	SETTLE(m);
	if (g_timestamp_hooks) {
		CHECK_EVENTS(t, evs, n,
			     { "add", pj(t->dir, "m"), .who = &c },
			     { "rename", pj(t->dir, "g"), pj(t->dir, "f"), .who = &c },
			     { "attrib", pj(t->dir, "g"), .who = &c },
			     { "delete", pj(t->dir, "g"), .who = &c });
	} else if (fentry_backend()) {
		diag("%s: no timestamp tracepoints on this kernel: all but the attribute change are seen", t->name);
		CHECK_EVENTS(t, evs, n,
			     { "add", pj(t->dir, "m"), .file_type = STR("dir"), .syscall = "mkdir", .who = &c },
			     { "rename", pj(t->dir, "g"), pj(t->dir, "f"), .file_type = STR("file"), .syscall = "rename", .who = &c },
			     { "delete", pj(t->dir, "g"), .file_type = STR("file"), .who = &c });
	} else {
		diag("%s: no timestamp tracepoints on this kernel: the documented limit applies", t->name);
		CHECK_NO_EVENTS(t, evs, n);
	}
}

/* The watched root mounted again at <sibling>/<name>, outside every watch: returns the mount
 * point in *mnt and this case's directory as seen through it. */
static char *bind_watched_root(struct t *t, const char *name, char **mnt)
{
	*mnt = pj(t->sib, name);
	mkdirs(*mnt, 0755);
	if (mount(t->l->w, *mnt, NULL, MS_BIND, NULL))
		die("bind mount %s on %s: %s", t->l->w, *mnt, strerror(errno));
	return pj(*mnt, t->name);
}

static void unbind(const char *mnt)
{
	if (umount2(mnt, MNT_DETACH))
		die("umount %s: %s", mnt, strerror(errno));
}

/* docs/protocol.md, Backends: a delete or a rename through a bind mount of a watched directory
 * made outside it is matched by inode on the fentry backend (as an open is on both), and missed
 * by name on the tracepoint backend. */
static void c_bind_mount_delete(struct t *t)
{
	char *mnt, *via = pj(bind_watched_root(t, "bind", &mnt), "x"), *f = pj(t->dir, "x");
	struct who c;

	write_file(f, "");
	uint64_t i = ino(f);
	size_t m = quiet_mark(t);
	actor(t, &c, "unlink", via, NULL);
	SETTLE(m);
	unbind(mnt);
	if (fentry_backend())
		CHECK_EVENTS(t, evs, n, { "delete", via, .file_type = STR("file"), .inode = U64(i), .syscall = "unlink", .who = &c });
	else
		CHECK_NO_EVENTS(t, evs, n);
}

static void c_bind_mount_rename(struct t *t)
{
	char *mnt, *via = bind_watched_root(t, "bind-rename", &mnt), *f = pj(t->dir, "r1");
	char *from = pj(via, "r1"), *to = pj(via, "r2");
	struct who c;

	write_file(f, "");
	uint64_t i = ino(f);
	size_t m = quiet_mark(t);
	actor(t, &c, "rename", from, to, NULL);
	SETTLE(m);
	unbind(mnt);
	if (fentry_backend())
		CHECK_EVENTS(t, evs, n, { "rename", to, from, .file_type = STR("file"), .inode = U64(i), .syscall = "rename", .who = &c });
	else
		CHECK_NO_EVENTS(t, evs, n);
}

/*
 * docs/protocol.md, Backends: io_uring's requests by name pass no syscall tracepoint, and the
 * fentry backend sees them in the kernel functions they share with the syscalls. They may run
 * in an io_uring worker thread of the process, so the whodata is checked for the process.
 */
static void c_io_uring(struct t *t)
{
	char *gone = pj(t->dir, "gone"), *from = pj(t->dir, "from"), *to = pj(t->dir, "to"), *d = pj(t->dir, "dir");
	struct who c;

	write_file(gone, "");
	write_file(from, "");
	uint64_t ig = ino(gone);
	size_t m = quiet_mark(t);
	actor(t, &c, "uring", gone, from, to, d, NULL);
	SETTLE(m);
	if (!fentry_backend()) {
		CHECK_NO_EVENTS(t, evs, n);
		return;
	}
	CHECK_EVENTS(t, evs, n,
		     { "delete", gone, .file_type = STR("file"), .inode = U64(ig), .syscall = "unlinkat" },
		     { "rename", to, from, .inode = U64(ino(to)), .syscall = "renameat2" },
		     { "add", d, .file_type = STR("dir"), .inode = U64(ino(d)), .syscall = "mkdirat" });
	for (size_t i = 0; i < n; i++) {
		uint64_t pid = 0;

		if (!rec_u64(evs[i], "pid", &pid) || pid != (uint64_t)c.pid || !rec_str_is(evs[i], "exe", c.exe))
			fail(t, "not the actor's pid and exe: %s", evs[i]->line);
	}
}

/*
 * A directory bind-mounted outside the watched trees, then inside one: a delete through the
 * second mount is seen. The fentry backend's verdict on the first mount, warmed by an unlink,
 * must not serve the second, even where the kernel gives the new mount the old one's memory.
 */
static void c_bind_mount_moved_in(struct t *t)
{
	char *src = pj(t->sib, "bind-src"), *out = pj(t->sib, "bind-out"), *in = pj(t->dir, "bind-in");
	struct who c0, c1;

	mkdirs(src, 0755);
	mkdirs(out, 0755);
	mkdirs(in, 0755);
	write_file(pj(src, "warm"), "");
	write_file(pj(src, "x"), "");
	size_t m = quiet_mark(t);
	if (mount(src, out, NULL, MS_BIND, NULL))
		die("bind mount %s on %s: %s", src, out, strerror(errno));
	actor(t, &c0, "unlink", pj(out, "warm"), NULL);
	unbind(out);
	if (mount(src, in, NULL, MS_BIND, NULL))
		die("bind mount %s on %s: %s", src, in, strerror(errno));
	actor(t, &c1, "unlink", pj(in, "x"), NULL);
	SETTLE(m);
	unbind(in);
	CHECK_EVENTS(t, evs, n, { "delete", pj(in, "x"), .syscall = "unlink", .who = &c1 });
}

/*
 * A directory moved into the watched tree brings its files under watch at once, and one moved
 * out takes them out at once: the fentry backend remembers per directory whether it is
 * watched (the first unlink warms that), and must forget it when a directory moves.
 */
static void c_dir_moved_in_out(struct t *t)
{
	char *out = pj(t->sib, "moving-in"), *in = pj(t->dir, "moved-in"), *back = pj(t->sib, "moved-out");
	struct who c0, c1, c2, c3, c4;

	mkdirs(out, 0755);
	write_file(pj(out, "warm"), "");
	write_file(pj(out, "x"), "");
	write_file(pj(out, "y"), "");
	size_t m = quiet_mark(t);
	actor(t, &c0, "unlink", pj(out, "warm"), NULL);
	actor(t, &c1, "rename", out, in, NULL);
	actor(t, &c2, "unlink", pj(in, "x"), NULL);
	actor(t, &c3, "rename", in, back, NULL);
	actor(t, &c4, "unlink", pj(back, "y"), NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "rename", in, out, .syscall = "rename", .who = &c1 },
		     { "delete", pj(in, "x"), .syscall = "unlink", .who = &c2 },
		     { "rename", back, in, .syscall = "rename", .who = &c3 });
}

static void c_symlink_pointing_out(struct t *t)
{
	char *out = pj(t->dir, "out");
	struct who c;
	struct stat st;

	if (symlink(t->sib, out))
		die("symlink: %s", strerror(errno));
	size_t m = quiet_mark(t);
	actor(t, &c, "outside", pj(out, "x"), pj(out, "y"), pj(out, "z"), NULL);
	SETTLE(m);
	CHECK_NO_EVENTS(t, evs, n);
	if (stat(pj(t->sib, "x"), &st))
		fail(t, "the changes did not happen outside the watched tree");
}

static void c_deep_path(struct t *t)
{
	char deep[PATH_MAX];
	struct who c1, c2, c3;

	snprintf(deep, sizeof(deep), "%s", t->dir);
	for (int i = 1; i <= 40; i++)
		snprintf(deep + strlen(deep), sizeof(deep) - strlen(deep), "/level-%02d-dir", i);
	mkdirs(deep, 0755);
	char *f = pj(deep, "leaf"), *f2 = pj(deep, "leaf2");
	size_t m = quiet_mark(t);
	actor(t, &c1, "create", f, NULL);
	uint64_t i = ino(f);
	actor(t, &c2, "rename-in", deep, "leaf", "leaf2", NULL);
	actor(t, &c3, "unlink", f2, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "add", f, .inode = U64(i), .who = &c1 },
		     { "rename", f2, f, .who = &c2 },
		     { "delete", f2, .who = &c3 });
	for (size_t k = 0; k < n; k++)
		if (rec_get(evs[k], "truncated"))
			fail(t, "a 40-deep path is truncated: %s", evs[k]->line);
}

static const struct { const char *label; const char *name; } HOSTILE[] = {
	{ "newline", "new\nline" },
	{ "quote", "say \"hi\"" },
	{ "backslash", "back\\slash\\" },
	{ "control-bytes", "c\x01\x08\x09\x1b\x1f\x7f" "c" },
	{ "invalid-utf8", "bad\xff\xfe-\xc3(-\xe2\x82" },
	{ "utf8-json", "\xe5\x90\x8d\xe5\x89\x8d \xc3\xa9 \xe2\x9c\x93 {\"type\":\"event\"}" },
};

static void hostile(struct t *t, const char *name)
{
	char *a = pj(t->dir, name), b[PATH_MAX];
	bool valid = utf8_valid((const unsigned char *)name, strlen(name));
	size_t m = loader_mark(t->l);
	struct who c;

	snprintf(b, sizeof(b), "%s.2", a);
	actor(t, &c, "create-rename-unlink", a, b, NULL);
	SETTLE(m);
	CHECK_EVENTS(t, evs, n,
		     { "add", a, .who = &c },
		     { "rename", b, a, .who = &c },
		     { "delete", b, .who = &c });
	for (size_t i = 0; i < n; i++) {
		const struct member *p = rec_get(evs[i], "path");

		/* the string field is always the UTF-8 view; the b64 sibling only when it is lossy */
		if ((rec_get(evs[i], "path_b64") != NULL) == valid)
			fail(t, "path_b64 must be present only for invalid UTF-8: %s", evs[i]->line);
		if (!p || p->type != J_STR)
			continue;
		if (!valid && !strstr(p->val, "\xef\xbf\xbd"))
			fail(t, "the invalid bytes are not shown as U+FFFD: %s", evs[i]->line);
		if (valid && strcmp(p->val, i == 0 ? a : b))
			fail(t, "path is not the name itself: %s", evs[i]->line);
	}
}

#define HOSTILE_CASE(i) static void c_hostile_##i(struct t *t) { hostile(t, HOSTILE[i].name); }
HOSTILE_CASE(0)
HOSTILE_CASE(1)
HOSTILE_CASE(2)
HOSTILE_CASE(3)
HOSTILE_CASE(4)
HOSTILE_CASE(5)

static void c_sibling_silence(struct t *t)
{
	size_t m = loader_mark(t->l);
	struct who c;

	actor(t, &c, "sibling-ops", t->sib, NULL);
	SETTLE(m);
	CHECK_NO_EVENTS(t, evs, n);
}

static void expect_ack(struct t *t, const struct rec *ack, bool ok, const char *error)
{
	if (!ack) {
		fail(t, "no ack");
		return;
	}
	if (!rec_get(ack, "ok") || rec_get(ack, "ok")->type != (ok ? J_TRUE : J_FALSE) ||
	    (error && !rec_str_is(ack, "error", error)))
		fail(t, "unexpected ack: %s", ack->line);
}

static void c_runtime_add_remove(struct t *t)
{
	struct loader *l = t->l;
	char *extra = pj(l->base, "extra");
	char *before = pj(extra, "before-add"), *after = pj(extra, "after-add");
	struct who c, d, w;
	const struct rec *ack;

	mkdirs(extra, 0755);
	write_file(pj(extra, "warm"), "");
	size_t m0 = loader_mark(l);
	actor(t, &c, "create", before, NULL);
	/* an unlink there while it is not watched (the fentry backend remembers the verdict) */
	actor(t, &d, "unlink", pj(extra, "warm"), NULL);
	{
		SETTLE(m0);
		CHECK_NO_EVENTS(t, evs, n);
	}

	expect_ack(t, ack = loader_command(l, "add", extra), true, NULL);
	if (ack && !rec_str_is(ack, "path", extra))
		fail(t, "the add ack does not name the path: %s", ack->line);
	ack = loader_command(l, "list", NULL);
	expect_ack(t, ack, true, NULL);
	if (ack && !rec_array_has(ack, "paths", extra))
		fail(t, "list does not hold the added path: %s", ack->line);
	size_t m1 = loader_mark(l);
	actor(t, &c, "create", after, NULL);
	actor(t, &d, "unlink", before, NULL);
	{
		SETTLE(m1);
		CHECK_EVENTS(t, evs, n, { "add", after, .who = &c }, { "delete", before, .who = &d });
	}

	expect_ack(t, loader_command(l, "remove", extra), true, NULL);
	size_t m2 = loader_mark(l);
	actor(t, &c, "create", pj(extra, "after-remove"), NULL);
	actor(t, &c, "mkdir", pj(extra, "dir-after-remove"), NULL);
	actor(t, &c, "unlink", after, NULL);
	{
		SETTLE(m2);
		CHECK_NO_EVENTS(t, evs, n);
	}
	size_t m3 = loader_mark(l);
	actor(t, &w, "create", pj(t->dir, "still-watched"), NULL);
	{
		SETTLE(m3);
		CHECK_EVENTS(t, evs, n, { "add", pj(t->dir, "still-watched"), .who = &w });
	}
}

/* A watched root deleted and made again, or moved away and replaced by another moved into its
 * place, is watched again from the change that makes it; where it went, and its neighbours in
 * the directory that holds it, are not. */
static void c_root_again(struct t *t)
{
	struct loader *l = t->l;
	char *dir = pj(l->base, "again"), *file = pj(l->base, "again-file");
	char *away = pj(l->base, "moved-away"), *other = pj(l->base, "other");
	struct who a, b, c;

	mkdirs(dir, 0755);
	mkdirs(other, 0755);
	write_file(file, "first\n");
	expect_ack(t, loader_command(l, "add", dir), true, NULL);
	expect_ack(t, loader_command(l, "add", file), true, NULL);
	size_t m0 = loader_mark(l);
	actor(t, &a, "rmdir", dir, NULL);
	actor(t, &b, "unlink", file, NULL);
	{
		SETTLE(m0);
		CHECK_EVENTS(t, evs, n, { "delete", dir, .who = &a }, { "delete", file, .who = &b });
	}
	size_t m1 = loader_mark(l);
	actor(t, &a, "mkdir", dir, NULL);
	actor(t, &b, "create", file, NULL);
	{
		SETTLE(m1);
		CHECK_EVENTS(t, evs, n, { "add", dir, .who = &a }, { "add", file, .who = &b });
	}
	size_t m2 = loader_mark(l);
	actor(t, &a, "create", pj(dir, "inside"), NULL);
	actor(t, &b, "mkdir", pj(l->base, "again2"), NULL);
	actor(t, &c, "create", pj(l->base, "again-file2"), NULL);
	{
		SETTLE(m2);
		CHECK_EVENTS(t, evs, n, { "add", pj(dir, "inside"), .who = &a });
	}
	size_t m3 = loader_mark(l);
	actor(t, &a, "rename", dir, away, NULL);
	{
		SETTLE(m3);
		CHECK_EVENTS(t, evs, n, { "rename", away, dir, .who = &a });
	}
	size_t m4 = loader_mark(l);
	actor(t, &b, "create", pj(away, "x"), NULL);
	actor(t, &b, "unlink", pj(away, "inside"), NULL);
	actor(t, &c, "rename", other, dir, NULL);
	actor(t, &a, "create", pj(dir, "z"), NULL);
	{
		SETTLE(m4);
		CHECK_EVENTS(t, evs, n, { "rename", dir, other, .who = &c }, { "add", pj(dir, "z"), .who = &a });
	}
}

/* A directory above a watched path moved aside and a new tree put in its place (a deploy): the
 * new one is watched instead of the old one. The kernel sees the watched path made again where
 * calls by name are matched by their strings (no ctime tracepoints before 6.13), else the
 * loader's look at its watched paths finds it and says so in a watch record. */
static void c_parent_moved(struct t *t)
{
	struct loader *l = t->l;
	char *app = pj(l->base, "app"), *config = pj(app, "config"), *old = pj(l->base, "app.old");
	struct who a, b;
	bool followed = false;

	mkdirs(config, 0755);
	expect_ack(t, loader_command(l, "add", config), true, NULL);
	size_t m0 = loader_mark(l);
	actor(t, &a, "rename", app, old, NULL);
	mkdirs(config, 0755);
	for (int waited = 0; !followed && waited < 5000; waited += 100) {
		loader_read(l, 100);
		for (size_t i = m0; i < l->n && !followed; i++)
			followed = rec_str_is(l->recs[i], "path", config) &&
				   ((rec_str_is(l->recs[i], "type", "watch") && rec_str_is(l->recs[i], "state", "found")) ||
				    (rec_str_is(l->recs[i], "type", "event") && rec_str_is(l->recs[i], "operation", "add")));
	}
	if (!followed)
		fail(t, "%s made again: neither its add nor a watch record within 5 s", config);
	size_t m1 = loader_mark(l);
	actor(t, &a, "create", pj(config, "new"), NULL);
	actor(t, &b, "create", pj(pj(old, "config"), "left-behind"), NULL);
	{
		SETTLE(m1);
		CHECK_EVENTS(t, evs, n, { "add", pj(config, "new"), .who = &a });
	}
}

/* What is made in a watched directory made again before the loader has read its add (the
 * loader stopped meanwhile) is reported too, with its whodata. */
static void c_root_again_early(struct t *t)
{
	struct loader *l = t->l;
	char *dir = pj(l->base, "early"), *file = pj(dir, "file"), *sub = pj(dir, "sub");
	struct who a, b, c, d;

	mkdirs(dir, 0755);
	expect_ack(t, loader_command(l, "add", dir), true, NULL);
	size_t m = loader_mark(l);
	kill(l->pid, SIGSTOP);
	actor(t, &a, "rmdir", dir, NULL);
	actor(t, &b, "mkdir", dir, NULL);
	actor(t, &c, "create", file, NULL);
	actor(t, &d, "mkdir", sub, NULL);
	kill(l->pid, SIGCONT);
	{
		SETTLE(m);
		CHECK_EVENTS(t, evs, n, { "delete", dir, .who = &a }, { "add", dir, .who = &b }, { "add", file, .who = &c },
			     { "add", sub, .who = &d });
	}
}

static void c_bad_commands(struct t *t)
{
	expect_ack(t, loader_command(t->l, "add", pj(t->l->base, "nope")), false, "ENOENT");
	expect_ack(t, loader_command(t->l, "frobnicate", NULL), false, "EINVAL");
}

static void c_other_user(struct t *t)
{
	char *f = pj(t->dir, "by-1000");
	struct who c;
	struct stat st;

	chmod(t->dir, 01777);
	size_t m = quiet_mark(t);
	actor(t, &c, "as-user", "1000", "1000", f, NULL);
	if (stat(f, &st) || st.st_uid != 1000)
		fail(t, "the actor did not really switch user");
	c.uid = c.euid = c.gid = c.egid = 1000;
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", f, .inode = U64(ino(f)), .who = &c });
}

static void c_real_effective(struct t *t)
{
	char *d = pj(t->dir, "mixed");
	size_t m = loader_mark(t->l);
	struct who c;

	actor(t, &c, "as-ruid", "1000", d, NULL);
	c.uid = 1000;
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", d, .who = &c });
}

static void c_login_uid(struct t *t)
{
	char *f = pj(t->dir, "by-login");
	size_t m = loader_mark(t->l);
	unsigned long long uid = 0, ses = 0;
	struct who c;

	actor(t, &c, "login", "1000", f, NULL);
	if (sscanf(c.out, "%llu %llu", &uid, &ses) != 2 || uid != 1000 || ses == 4294967295ULL)
		fail(t, "no login uid and session were set: %s", c.out);
	c.auid_kind = AUID_VALUE;
	c.auid = 1000;
	c.session_id = ses;
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", f, .who = &c });
}

static void c_no_login_uid(struct t *t)
{
	char *f = pj(t->dir, "no-login");
	size_t m = loader_mark(t->l);
	unsigned long long uid = 0, ses = 0;
	struct who c;

	/* if the driver itself has a login uid, the actor clears its own first */
	actor(t, &c, "login", "unset", f, NULL);
	if (sscanf(c.out, "%llu %llu", &uid, &ses) != 2 || uid != 4294967295ULL || ses != 4294967295ULL)
		fail(t, "the actor still has a login uid or session: %s", c.out);
	c.auid_kind = AUID_NULL;
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "add", f, .who = &c });
}

/* A process that retitles itself (sshd, postgres, nginx) is named by its new title from then
 * on: the kernel sent its command line once, and sends it again when it was rewritten. */
static void c_retitled(struct t *t)
{
	char *f = pj(t->dir, "retitled"), as_run[sizeof(((struct who *)0)->cmdline)];
	struct who c;

	write_file(f, "");
	size_t m = quiet_mark(t);
	actor(t, &c, "retitle", f, NULL);
	snprintf(as_run, sizeof(as_run), "%s", c.cmdline);
	c.cmdline[0] = 0; /* not the same for both: checked below */
	SETTLE(m);
	CHECK_EVENTS(t, evs, n, { "modify", f, .syscall = "close", .who = &c }, { "modify", f, .syscall = "close", .who = &c });
	for (size_t i = 0; i < n && i < 2; i++) {
		const char *want = i ? "fim-actor: retitled" : as_run;
		char *got = rec_path(evs[i], "cmdline");

		if (!got || strcmp(got, want))
			fail(t, "modify %zu: cmdline %s, not %s", i + 1, got ? got : "(none)", want);
		free(got);
	}
}

/* qemu's isa-debug-exit device (-device isa-debug-exit,iobase=0xf4) ends qemu with status
 * (code << 1) | 1. Written from here rather than through /dev/port, which some kernels (Debian's
 * cloud flavour) do not build. */
#define QEMU_EXIT_PORT 0xf4

static int qemu_exit(int code)
{
	if (ioperm(QEMU_EXIT_PORT, 1, 1)) {
		fprintf(stderr, "fim-kernel-test: ioperm: %s\n", strerror(errno));
		return 1;
	}
	outb((unsigned char)code, QEMU_EXIT_PORT);
	fprintf(stderr, "fim-kernel-test: qemu did not exit: no isa-debug-exit device?\n");
	return 1;
}

static const struct kcase {
	const char *name;
	void (*fn)(struct t *t);
} CASES[] = {
	{ "add-create", c_add_create },
	{ "add-existing-o-creat", c_add_existing },
	{ "add-mkdir", c_add_mkdir },
	{ "add-fifo", c_add_fifo },
	{ "add-links", c_add_links },
	{ "add-tmpfile-linkat", c_add_tmpfile },
	{ "modify-write", c_modify_write },
	{ "modify-burst", c_modify_burst },
	{ "modify-open-no-write", c_modify_no_write },
	{ "modify-truncate-ftruncate", c_modify_truncate },
	{ "modify-o-trunc", c_modify_otrunc },
	{ "modify-fallocate", c_modify_fallocate },
	{ "modify-long-writer", c_modify_long_writer },
	{ "delete", c_delete },
	{ "rename", c_rename },
	{ "rename-exchange", c_rename_exchange },
	{ "rename-in-out", c_rename_in_out },
	{ "attrib-chmod-chown", c_attrib_chmod_chown },
	{ "attrib-xattr", c_attrib_xattr },
	{ "attrib-utimes", c_attrib_utimes },
	{ "attrib-touch-d", c_attrib_touch_d },
	{ "failed-calls", c_failed_calls },
	{ "relative-mv", c_relative_mv },
	{ "dirfd-relative", c_dirfd },
	{ "dotdot", c_dotdot },
	{ "dotdot-leaving", c_dotdot_leaving },
	{ "rename-moving-cwd", c_rename_moving_cwd },
	{ "symlinked-parent-open", c_symlinked_parent_open },
	{ "symlinked-parent-named", c_symlinked_parent_named },
	{ "symlink-pointing-out", c_symlink_pointing_out },
	{ "bind-mount-delete", c_bind_mount_delete },
	{ "bind-mount-rename", c_bind_mount_rename },
	{ "bind-mount-moved-in", c_bind_mount_moved_in },
	{ "io-uring", c_io_uring },
	{ "dir-moved-in-out", c_dir_moved_in_out },
	{ "deep-path", c_deep_path },
	{ "hostile-newline", c_hostile_0 },
	{ "hostile-quote", c_hostile_1 },
	{ "hostile-backslash", c_hostile_2 },
	{ "hostile-control-bytes", c_hostile_3 },
	{ "hostile-invalid-utf8", c_hostile_4 },
	{ "hostile-utf8-json", c_hostile_5 },
	{ "unwatched-sibling", c_sibling_silence },
	{ "runtime-add-remove", c_runtime_add_remove },
	{ "watched-root-again", c_root_again },
	{ "watched-root-again-early", c_root_again_early },
	{ "watched-path-parent-moved", c_parent_moved },
	{ "bad-commands", c_bad_commands },
	{ "whodata-other-user", c_other_user },
	{ "whodata-real-effective", c_real_effective },
	{ "whodata-login-uid", c_login_uid },
	{ "whodata-no-login-uid", c_no_login_uid },
	{ "whodata-retitled", c_retitled },
};
#define N_CASES (sizeof(CASES) / sizeof(CASES[0]))

static bool selected(const char *name, int argc, char **argv, int first)
{
	/* a name that matches no case is a mistake, not an empty run */
	for (int i = first; i < argc; i++) {
		size_t k = 0;

		while (k < N_CASES && strcmp(CASES[k].name, argv[i]))
			k++;
		if (k == N_CASES)
			die("no case is named %s", argv[i]);
	}
	if (first >= argc)
		return true;
	for (int i = first; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

static void check_hello(struct t *t, const struct rec *h)
{
	uint64_t proto = 0;
	const struct member *paths = rec_get(h, "paths"), *hooks = rec_get(h, "hooks");
	char want[2 * PATH_MAX + 8];

	snprintf(want, sizeof(want), "[\"%s\",\"%s\"]", t->l->w, t->l->fence);
	if (!rec_u64(h, "protocol", &proto) || proto != 1)
		fail(t, "hello does not say protocol 1: %s", h->line);
	if (!paths || paths->type != J_ARR || strcmp(paths->val, want))
		fail(t, "hello does not name the canonical watched paths %s: %s", want, h->line);
	if (!hooks || hooks->type != J_ARR || !strcmp(hooks->val, "[]"))
		fail(t, "hello names no hooks: %s", h->line);
	if (!rec_str_is(h, "backend", g_backend))
		fail(t, "hello does not say backend %s: %s", g_backend, h->line);
}

/* ---- FIM_KT_BENCH=N: what each backend costs the tasks making changes ---------------------- */

/*
 * The same workloads with no loader, then under each backend, timed inside the task that makes
 * the changes (the cost of the hooks lands there). Emulated CPUs are slow and noisy: only the
 * ratios to the run without a loader mean something, and each figure is the best of 3 rounds.
 */
enum { W_CHANGE, W_UNWATCHED, W_READ, W_LINK_UNLINK, W_RENAMES, W_MKDIR_RMDIR, W_WRITE_STORM, W_N };
static const char *const WORKLOAD[W_N] = {
	"create+write+close+unlink, watched",
	"create+write+close+unlink, unwatched",
	"open+read+close, watched",
	/* the name-based calls alone, where the backends differ, outside the watched trees */
	"link+unlink, unwatched",
	"rename there and back, unwatched",
	"mkdir+rmdir, unwatched",
	/* what every process on the machine pays: issue 2's write storm, no file system involved */
	"100 1-byte write(2)s to /dev/null",
};

static bool unwatched_workload(int kind)
{
	return kind == W_UNWATCHED || kind == W_LINK_UNLINK || kind == W_RENAMES || kind == W_MKDIR_RMDIR ||
	       kind == W_WRITE_STORM;
}

static void workload(int kind, const char *dir, int n)
{
	char *f = pj(dir, "bench"), *g = pj(dir, "bench2"), buf[128] = { 0 };

	if (kind == W_WRITE_STORM) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd < 0)
			die("bench open /dev/null: %s", strerror(errno));
		for (int i = 0; i < n * 100; i++)
			if (write(fd, buf, 1) != 1)
				die("bench write /dev/null: %s", strerror(errno));
		close(fd);
		return;
	}
	if (kind == W_READ || kind == W_LINK_UNLINK || kind == W_RENAMES)
		write_file(f, "0123456789");
	if (kind == W_MKDIR_RMDIR) {
		for (int i = 0; i < n; i++)
			if (mkdir(g, 0755) || rmdir(g))
				die("bench %s: %s", WORKLOAD[kind], strerror(errno));
		return;
	}
	if (kind == W_LINK_UNLINK || kind == W_RENAMES) {
		for (int i = 0; i < n; i++)
			if (kind == W_LINK_UNLINK ? link(f, g) || unlink(g) : rename(f, g) || rename(g, f))
				die("bench %s: %s", WORKLOAD[kind], strerror(errno));
		unlink(f);
		return;
	}
	for (int i = 0; i < n; i++) {
		int fd = open(f, kind == W_READ ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0)
			die("bench open %s: %s", f, strerror(errno));
		if (kind == W_READ ? read(fd, buf, sizeof(buf)) < 0 : write(fd, buf, sizeof(buf)) < 0)
			die("bench i/o: %s", strerror(errno));
		close(fd);
		if (kind != W_READ && unlink(f))
			die("bench unlink: %s", strerror(errno));
	}
	if (kind == W_READ)
		unlink(f);
}

/* ns per iteration of the workload run by a child, while this process reads the loader (if any) */
static double timed(struct loader *l, int kind, const char *dir, int n)
{
	double best = 0;

	for (int round = 0; round < 3; round++) {
		int p[2];
		struct timespec a, b;
		double ns = 0;
		pid_t pid;

		if (pipe(p))
			die("pipe: %s", strerror(errno));
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			clock_gettime(CLOCK_MONOTONIC, &a);
			workload(kind, dir, n);
			clock_gettime(CLOCK_MONOTONIC, &b);
			ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
			if (write(p[1], &ns, sizeof(ns)) != sizeof(ns))
				_exit(1);
			_exit(0);
		}
		close(p[1]);
		while (waitpid(pid, NULL, WNOHANG) == 0)
			if (l)
				loader_read(l, 5);
			else
				usleep(5000);
		if (read(p[0], &ns, sizeof(ns)) != sizeof(ns))
			die("bench child failed");
		close(p[0]);
		if (round == 0 || ns < best)
			best = ns;
	}
	return best;
}

static void bench(const char *loader_path, const char *tmp, int n, char *backends)
{
	double base[W_N], cost[4][W_N];
	const char *names[4];
	int nb = 0;
	char *dir = pj(tmp, "fim-bench-none");

	mkdirs(dir, 0755);
	for (int k = 0; k < W_N; k++)
		base[k] = timed(NULL, k, dir, n);
	for (char *save = NULL, *b = strtok_r(backends, ",", &save); b && nb < 4; b = strtok_r(NULL, ",", &save)) {
		char *args[] = { "--backend", b, NULL };
		struct loader l;
		struct t st = { "bench", 0, &l, "", "" };

		g_backend = b;
		if (loader_start(&l, loader_path, tmp, args))
			die("fim-loader --backend %s did not start", b);
		mkdirs(pj(l.w, "bench"), 0755);
		mkdirs(pj(l.sibling, "bench"), 0755);
		for (int k = 0; k < W_N; k++)
			cost[nb][k] = timed(&l, k, pj(unwatched_workload(k) ? l.sibling : l.w, "bench"), n);
		loader_stop(&l, &st); /* checks that nothing was lost */
		if (st.fails)
			die("the loader did not keep up with the bench on backend %s", b);
		names[nb++] = b;
	}
	for (int k = 0; k < W_N; k++) {
		char line[512];
		int o = snprintf(line, sizeof(line), "bench %s: no loader %.0f ns", WORKLOAD[k], base[k]);

		for (int i = 0; i < nb; i++)
			o += snprintf(line + o, sizeof(line) - o, ", %s x%.2f", names[i], cost[i][k] / base[k]);
		diag("%s (%d iterations, best of 3)", line, n);
	}
}

/* The whole run on one backend: its loader's hello, every selected case, a clean exit. */
static void run_backend(const char *loader_path, const char *tmp, int argc, char **argv, int first,
			int *num_, int *passed_, int *failed_)
{
	char *backend_args[] = { "--backend", (char *)g_backend, NULL };
	struct loader l;
	int num = *num_, passed = *passed_, failed = *failed_;

	if (loader_start(&l, loader_path, tmp, backend_args))
		die("fim-loader --backend %s did not start", g_backend);

	const struct rec *hello = l.recs[0];
	const struct member *reads = rec_get(hello, "kernel_reads"), *hooks = rec_get(hello, "hooks");

	g_timestamp_hooks = rec_array_has(hello, "hooks", "inode_set_ctime_to_ts");
	diag("kernel_reads %s, hooks %s", reads && reads->type == J_STR ? reads->val : "?", hooks ? hooks->val : "?");

	struct t ht = { "hello", 0, &l, "", "" };

	check_hello(&ht, hello);
	printf("%s %d - %s/hello\n", ht.fails ? "not ok" : "ok", ++num, g_backend);
	ht.fails ? failed++ : passed++;

	for (size_t i = 0; i < N_CASES; i++) {
		struct t t = { CASES[i].name, 0, &l, "", "" };

		if (!selected(t.name, argc, argv, first))
			continue;
		snprintf(t.dir, sizeof(t.dir), "%s/%s", l.w, t.name);
		snprintf(t.sib, sizeof(t.sib), "%s/%s", l.sibling, t.name);
		/* the case starts with its directories in place and their add events read */
		mkdirs(t.dir, 0755);
		mkdirs(t.sib, 0755);
		quiet_mark(&t);
		CASES[i].fn(&t);
		printf("%s %d - %s/%s\n", t.fails ? "not ok" : "ok", ++num, g_backend, t.name);
		t.fails ? failed++ : passed++;
	}

	struct t st = { "loader-exit", 0, &l, "", "" };

	loader_stop(&l, &st);
	printf("%s %d - %s/loader exits cleanly\n", st.fails ? "not ok" : "ok", ++num, g_backend);
	st.fails ? failed++ : passed++;
	*num_ = num;
	*passed_ = passed;
	*failed_ = failed;
}

int main(int argc, char **argv)
{
	const char *loader_path = "/sbin/fim-loader", *tmp = "/tmp";
	struct utsname u;
	int first = 1, passed = 0, failed = 0, num = 0;

	if (!strcmp(argv[0], "fim-actor"))
		return actor_main(argc, argv);
	if (argc == 3 && !strcmp(argv[1], "--qemu-exit"))
		return qemu_exit(atoi(argv[2]));
	g_actor_path = "/usr/bin/fim-actor";
	for (; first + 1 < argc && !strncmp(argv[first], "--", 2); first += 2) {
		if (!strcmp(argv[first], "--loader"))
			loader_path = argv[first + 1];
		else if (!strcmp(argv[first], "--actor"))
			g_actor_path = argv[first + 1];
		else if (!strcmp(argv[first], "--tmp"))
			tmp = argv[first + 1];
		else
			die("unknown option %s", argv[first]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	uname(&u);
	diag("kernel %s %s", u.release, u.version);

	/* every backend the run asks for, each with its own loader and tree */
	char *list = strdup(getenv("FIM_KT_BACKENDS") && *getenv("FIM_KT_BACKENDS") ? getenv("FIM_KT_BACKENDS") : "tracepoint,fentry");

	if (getenv("FIM_KT_BENCH") && atoi(getenv("FIM_KT_BENCH")) > 0) {
		bench(loader_path, tmp, atoi(getenv("FIM_KT_BENCH")), list);
		printf("1..0\n# kernel-test: 0 passed, 0 failed\n");
		return 0;
	}

	for (char *save = NULL, *b = strtok_r(list, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
		int bpassed = passed, bfailed = failed;

		g_backend = b;
		diag("backend %s", b);
		run_backend(loader_path, tmp, argc, argv, first, &num, &passed, &failed);
		printf("# kernel-test: backend %s: %d passed, %d failed\n", b, passed - bpassed, failed - bfailed);
	}
	printf("1..%d\n# kernel-test: %d passed, %d failed\n", num, passed, failed);
	return failed ? 1 : 0;
}
