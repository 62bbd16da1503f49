// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fim-whodata kernel sensor, syscall-tracepoint backend.
 *
 * Every program here runs in the context of the task making the change, at sys_exit (so only
 * successful calls are reported and the syscall's own arguments are read back from pt_regs),
 * except close, which must look at the fd before it goes away.
 *
 * Two in-kernel filters, because the tracepoints see two kinds of syscall:
 *  - fd-based (open*, close, fchmod, ftruncate, ...): the file's dentry chain is walked up to the
 *    namespace root and each ancestor's inode address is looked up in watch_inodes. The loader
 *    pins every watched directory with an O_PATH fd, so those addresses stay valid, and the
 *    match is immune to "..", symlinked parents, dirfd-relative names and bind-mount aliases.
 *  - name-based (unlink, rename, mkdir, chmod, ...): there is no dentry for the name at a
 *    tracepoint, so the path is "<canonical base dir>/<string the caller passed>" and is matched
 *    against watch_prefixes (LPM). A string with ".." that misses is sent anyway, and so is
 *    one whose syscall changed the ctime of an inode under a watched directory (timestamp
 *    tracepoints, 6.13+: a symlink in the string); user space, which makes the path
 *    canonical, decides.
 *
 * Hot path: write(2) and friends are not hooked at all. A file opened for write under a watched
 * path is remembered in wfiles; the end of that open file (close of its last reference, dup2
 * over it, its writer's exit) or the loader's periodic check (iter/bpf_map_elem over wfiles)
 * compares size, mtime and the write-only offset with the snapshot taken at open and reports
 * one `modify`. Read-only opens return after reading the open flags; close() of a process that
 * never opened a watched file for write is a load after bpf_get_current_pid_tgid()
 * (writer_slots), and a single load while no process holds one.
 */
#include "fim-common.h"
#include "fim-hooks.h"

/*
 * Inodes whose ctime a name-based syscall changed (its parent directories, the entries
 * themselves), noted by the timestamp tracepoints (6.13+) and taken by the syscall's exit.
 * They are what the kernel really changed, whatever the caller's strings went through: a
 * symlink into a watched tree, which the prefix filter cannot see, and, when the notes are
 * complete, proof that a call changed nothing under a watched path (notes_verdict()).
 */
#define TOUCHED_MAX 4
struct touched {
	__u64 inode[TOUCHED_MAX];
	__u32 n;
	__u32 full;     /* an inode did not fit */
	__u32 complete; /* taken: every inode the call changed is in the list */
	__u32 _pad;
};

/*
 * Per thread: no note is lost when a thread migrates or another runs on its CPU mid-call.
 * Created by the thread's first note (rm, mv and chmod make one call in all).
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct touched);
} touched_notes SEC(".maps");

/*
 * Whether the notes may decide (notes_verdict()): only when every
 * name-based call the timestamp hooks note has its exit hooked here, which takes the notes.
 * The fentry backend leaves out the unlink, rename, mkdir... exits, so its notes pile up.
 */
const volatile bool targ_notes_decide = false;

/*
 * The timestamp hooks are attached too (6.13+), so a call whose notes are complete and empty
 * changed no inode's ctime, on a filesystem that sets its ctimes while the call runs (every
 * local one).
 */
const volatile bool targ_notes_all = false;

/*
 * A note that found no storage and could not create it (out of memory, or the kernel's
 * storage lock busy on this CPU) marks its thread here, so that its exit knows the notes are
 * incomplete. Indexed by tid modulo NOTES_LOST_SLOTS and holding the tid: another thread's mark
 * in the same slot can only replace this one if two such failures meet in one call.
 */
#define NOTES_LOST_SLOTS 1024
__u32 notes_lost[NOTES_LOST_SLOTS];

/*
 * Whether an inode's dentry is under a watched directory, remembered until the watch list
 * changes or a directory moves (tree_generation): a busy unwatched directory is walked once.
 */
struct ancestry {
	__u32 generation;
	__u32 watched;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct inode * */
	__type(value, struct ancestry);
} ancestry_cache SEC(".maps");

/* Processes holding a tracked writable file, so process exit can stay a single lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} writer_tgids SEC(".maps");

/*
 * The same set as counts, for close(), which every process of the machine calls: how many
 * writer processes there are, and per slot (tgid modulo WRITER_SLOTS) how many of them fall in
 * it. A zero answers "not a writer" with a load or two instead of a hash lookup (two helper
 * calls, ~40 ns here); a slot in use may be another process's, and writer_tgids decides. A
 * count can only be too high (a writer_tgids entry the LRU pushed out is never subtracted),
 * which costs that lookup, never an event.
 */
#define WRITER_SLOTS 8192
__u32 writer_procs;
__u32 writer_slots[WRITER_SLOTS];

/*
 * How many times a writer was removed: a CPU's memory of the last writer it found in
 * writer_tgids (struct scratch, writer_known) holds while this does not move, so that a pid
 * used again by a process that is no writer is never taken for one.
 */
__u32 writers_removed;

/*
 * A writer's closes come one after the other on a CPU: the one found last in writer_tgids is
 * known without the hash lookup (~45 ns). Knowledge can only be too wide (a writer_tgids entry
 * the LRU pushed out stays known), which costs the wfiles lookup after it, never an event.
 */
static __always_inline bool is_writer(__u32 tgid)
{
	struct scratch *s;
	__u32 gen;

	if (!writer_slots[tgid & (WRITER_SLOTS - 1)])
		return false;
	s = get_scratch();
	if (!s)
		return bpf_map_lookup_elem(&writer_tgids, &tgid);
	/* read before the lookup: a removal after it retires what we note below (+1: the
	 * zeroed scratch knows no writer) */
	gen = READ_ONCE(writers_removed) + 1;
	if (s->writer_known == tgid && s->writer_known_gen == gen)
		return true;
	if (!bpf_map_lookup_elem(&writer_tgids, &tgid))
		return false;
	s->writer_known = tgid;
	s->writer_known_gen = gen;
	return true;
}

static __always_inline void add_writer(__u32 tgid)
{
	__u8 one = 1;

	/* a writer mostly opens more than one file: known already (is_writer()), or a lookup,
	 * which is cheaper than an update. A writer the LRU pushed out of writer_tgids (16384
	 * writer processes at once) is put back by an open on a CPU that does not know it; until
	 * then its closes elsewhere are left to the periodic check, as an inherited fd's are. */
	if (is_writer(tgid))
		return;
	if (bpf_map_update_elem(&writer_tgids, &tgid, &one, BPF_NOEXIST))
		return;
	__sync_fetch_and_add(&writer_slots[tgid & (WRITER_SLOTS - 1)], 1);
	__sync_fetch_and_add(&writer_procs, 1);
}

static __always_inline void remove_writer(__u32 tgid)
{
	__sync_fetch_and_add(&writers_removed, 1);
	if (bpf_map_delete_elem(&writer_tgids, &tgid))
		return;
	__sync_fetch_and_add(&writer_slots[tgid & (WRITER_SLOTS - 1)], -1);
	__sync_fetch_and_add(&writer_procs, -1);
}

/* Is any process a writer? One load: on a machine where none is, close() costs nothing more. */
static __always_inline bool any_writer(void)
{
	return *(volatile __u32 *)&writer_procs != 0;
}

/*
 * A global (not inlined) function: the verifier checks it once per program instead of once per
 * call site, which keeps the ~30 name-based programs quick to load.
 */
__noinline int inode_walk_watched(__u64 inode)
{
	struct ancestry fresh = { .generation = tree_gen() };
	struct hlist_node *first;
	struct walk w = {};

	first = KREAD(struct inode, inode, i_dentry.first);
	if (first) {
		/* no mount to cross from an inode alone: the walk stays in its filesystem */
		w.p.d = (struct dentry *)((void *)first - bpf_core_field_offset(struct dentry, d_u.d_alias));
		w.look = 1;
		bpf_loop(FIM_MAX_PATH_COMPONENTS, walk_step, &w, 0);
	}
	fresh.watched = w.hit != 0;
	bpf_map_update_elem(&ancestry_cache, &inode, &fresh, BPF_ANY);
	return fresh.watched;
}

/* the remembered answer when there is one: a call to the global function costs ~15 ns more */
static __always_inline bool inode_watched(__u64 inode)
{
	struct ancestry *a = bpf_map_lookup_elem(&ancestry_cache, &inode);

	if (a && a->generation == tree_gen())
		return a->watched;
	return inode_walk_watched(inode);
}

/*
 * The directories a syscall changed are the parents of what it named: those decide. Only a
 * call that changed no directory (chmod, chown, xattr, utimes by name) is judged by the
 * inode it changed; walking the moved or deleted file as well would cost a walk per file.
 */
static __always_inline bool touched_watched(const struct touched *tc)
{
	bool any_dir = false;

	for (int i = 0; i < TOUCHED_MAX; i++) {
		if (i >= tc->n)
			break;
		if ((KREAD(struct inode, tc->inode[i], i_mode) & S_IFMT) != S_IFDIR)
			continue;
		any_dir = true;
		if (inode_watched(tc->inode[i]))
			return true;
	}
	if (any_dir)
		return false;
	for (int i = 0; i < TOUCHED_MAX; i++) {
		if (i >= tc->n)
			break;
		if (inode_watched(tc->inode[i]))
			return true;
	}
	return false;
}

/* touched_watched(tc), asked at most once per syscall (a rename has two names): *memo is -1
 * until then */
static __always_inline bool touched_watched_once(const struct touched *tc, int *memo)
{
	if (*memo < 0)
		*memo = touched_watched(tc);
	return *memo;
}

/* What complete notes say of a call (notes_verdict()). */
enum { NOTES_UNSURE = -1, NOTES_UNWATCHED = 0, NOTES_WATCHED = 1 };

/*
 * The remembered verdict (dir_watched()) on a directory inode, asked of its dentry and of the
 * one mount of its filesystem: a filesystem mounted more than once (bind mounts) could be
 * reached through another, and is NOTES_UNSURE. The mounts of a filesystem are read as kernels
 * since 6.15 list them (sb->s_mounts, then mnt_next_for_sb); older kernels are always unsure.
 */
static __always_inline int dir_inode_verdict(__u64 inode)
{
	struct hlist_node *first = KREAD(struct inode, inode, i_dentry.first);
	struct super_block *sb;
	struct mount *m;

	if (!bpf_core_field_exists(struct mount, mnt_next_for_sb) || !first)
		return NOTES_UNSURE;
	sb = KREAD(struct inode, inode, i_sb);
	m = KREAD(struct super_block, sb, s_mounts);
	if (!m || KREAD(struct mount, m, mnt_next_for_sb))
		return NOTES_UNSURE;
	switch (dir_verdict((struct dentry *)((void *)first - bpf_core_field_offset(struct dentry, d_u.d_alias)),
			    (struct vfsmount *)((void *)m + bpf_core_field_offset(struct mount, mnt)))) {
	case DIR_WATCHED:
		return NOTES_WATCHED;
	case DIR_UNWATCHED:
		return NOTES_UNWATCHED;
	default: /* the new name may be a watched root's: only the strings tell */
		return NOTES_UNSURE;
	}
}

/*
 * Can the call be judged from what the kernel changed? Unwatched, without the caller's strings
 * (a read, a prefix lookup and a ".." scan, ~300 ns a name), when the notes are complete, the
 * call changed at least one directory, every directory it changed (the real parents of what
 * it named, wherever ".." or symlinks in the strings led) has the verdict "unwatched", and no
 * other inode it changed is watched itself: the strings could only add events whose canonical
 * path is outside every watch, which the loader drops (a string through a symlink that leaves
 * the tree). Watched when it changed a watched directory or file: the strings are still read,
 * for the paths, but not matched.
 */
static __always_inline int notes_verdict(const struct touched *tc)
{
	bool any_dir = false, unsure = false;
	__u32 files = 0; /* bit i: tc->inode[i] is not a directory */

	if (!targ_notes_decide)
		return NOTES_UNSURE;
	/* Directories first: in a watched tree the parent's remembered verdict answers, and the
	 * file's own watch_inodes lookup (a hash lookup, ~40 ns) is left out. The kernel notes
	 * the file before its directory for unlink and rename. */
	for (int i = 0; i < TOUCHED_MAX; i++) {
		int v;

		if (i >= tc->n)
			break;
		if ((KREAD(struct inode, tc->inode[i], i_mode) & S_IFMT) != S_IFDIR) {
			files |= 1u << i;
			continue;
		}
		any_dir = true;
		v = dir_inode_verdict(tc->inode[i]);
		if (v == NOTES_WATCHED)
			return NOTES_WATCHED;
		if (v == NOTES_UNSURE)
			unsure = true;
	}
	for (int i = 0; i < TOUCHED_MAX; i++) {
		__u64 ino = tc->inode[i];

		if (!(files & (1u << i)))
			continue;
		if (bpf_map_lookup_elem(&watch_inodes, &ino))
			return NOTES_WATCHED;
	}
	return any_dir && !unsure && tc->complete ? NOTES_UNWATCHED : NOTES_UNSURE;
}

/* At every hooked name-based exit, success or not: the notes are this syscall's only. */
static __always_inline void take_touched(struct touched *tc, struct task_struct *t)
{
	struct touched *v = bpf_task_storage_get(&touched_notes, t, 0, 0);
	__u32 tid = KREAD(struct task_struct, t, pid);
	__u32 *lost = &notes_lost[tid & (NOTES_LOST_SLOTS - 1)];

	tc->n = 0;
	tc->complete = 0;
	if (*lost == tid) {
		*lost = 0;
		if (v) {
			v->n = 0;
			v->full = 0;
		}
		return;
	}
	if (!v) { /* the thread never noted a change: none for this call either */
		tc->complete = 1;
		return;
	}
	__builtin_memcpy(tc, v, sizeof(*tc));
	tc->complete = !v->full;
	v->n = 0;
	v->full = 0;
}

/* the name-based syscalls hooked below (x86_64 numbers) */
#define NAME_BASED_CASE(name, nr, ...) case nr:
static __always_inline bool name_based_syscall(long nr)
{
	switch (nr) {
	FIM_BY_NAME_HOOKS(NAME_BASED_CASE)
	FIM_RENAME_HOOKS(NAME_BASED_CASE)
	case 280: /* utimensat */
		return true;
	default:
		return false;
	}
}

static __always_inline void note_ctime(struct inode *inode)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct touched *v;

	if (!name_based_syscall(task_regs(t)->orig_ax))
		return;
	v = bpf_task_storage_get(&touched_notes, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!v) {
		__u32 tid = KREAD(struct task_struct, t, pid);

		notes_lost[tid & (NOTES_LOST_SLOTS - 1)] = tid;
		return;
	}
	for (int i = 0; i < TOUCHED_MAX; i++) {
		if (i >= v->n)
			break;
		if (v->inode[i] == (__u64)inode)
			return; /* the same inode again (its mtime after its ctime): one walk is enough */
	}
	if (v->n < TOUCHED_MAX) {
		v->inode[v->n & (TOUCHED_MAX - 1)] = (__u64)inode;
		v->n++;
	} else {
		v->full = 1;
	}
}

SEC("tp_btf/inode_set_ctime_to_ts")
int BPF_PROG(ctime_set, struct inode *inode, struct timespec64 *ts)
{
	note_ctime(inode);
	return 0;
}

SEC("tp_btf/ctime_xchg_skip")
int BPF_PROG(ctime_skip, struct inode *inode, struct timespec64 *ts)
{
	note_ctime(inode);
	return 0;
}

SEC("tp_btf/ctime_ns_xchg")
int BPF_PROG(ctime_xchg, struct inode *inode, __u32 old, __u32 new, __u32 cur)
{
	note_ctime(inode);
	return 0;
}

/*
 * Is the path of (d, vm) "", known without a walk? It is for the root of the mount namespace,
 * and for the root of a mount stacked on it: on most machines the root filesystem is mounted
 * over the initial rootfs, the namespace's root, and every process's root is that mount's
 * root. What the walk would find, in a few loads: each step is the root of its mount, mounted
 * on the root of the mount below, up to the namespace's (a few mounts deep at most).
 */
#define STACKED_ROOTS_MAX 4
static __always_inline bool empty_path(struct dentry *d, struct vfsmount *vm)
{
	struct mount *m = real_mount(vm);

	for (int i = 0; i < STACKED_ROOTS_MAX; i++) {
		struct mount *parent;

		if (d != KREAD(struct mount, m, mnt.mnt_root))
			return false;
		parent = KREAD(struct mount, m, mnt_parent);
		if (parent == m)
			return true;
		d = KREAD(struct mount, m, mnt_mountpoint);
		m = parent;
	}
	return false;
}

/* The directory a relative name starts from: the cwd (AT_FDCWD) or the dirfd's. */
static __always_inline bool base_dir(struct task_struct *t, long dirfd, struct dentry **d, struct vfsmount **vm)
{
	if ((int)dirfd == AT_FDCWD) {
		struct fs_struct *fs = KREAD(struct task_struct, t, fs);

		*d = KREAD(struct fs_struct, fs, pwd.dentry);
		*vm = KREAD(struct fs_struct, fs, pwd.mnt);
	} else {
		struct file *f = fd_to_file(t, (int)dirfd);

		if (!f)
			return false;
		*d = KREAD(struct file, f, f_path.dentry);
		*vm = KREAD(struct file, f, f_path.mnt);
	}
	return true;
}

/*
 * "<base>/<name>" where base is the caller's root (absolute name), cwd (AT_FDCWD) or dirfd
 * (or, given, the base as it was when the call began);
 * an empty name (AT_EMPTY_PATH) is the dirfd itself. Returns the length, 0 on failure, and in
 * *name_at where the caller's string starts in it.
 *
 * The string is read first, straight to `off`: an absolute name from a process whose root's
 * path is "" (empty_path(): most absolute names) is then the whole path, and costs one read.
 * Any other is read again behind its base.
 */
static __always_inline __u32 put_name_path(struct scratch *s, __u32 off, struct task_struct *t,
					   long dirfd, const char *uname, const char *base, __u32 base_len,
					   __u32 *name_at, bool *trunc)
{
	struct fs_struct *fs = KREAD(struct task_struct, t, fs);
	struct dentry *d;
	struct vfsmount *vm;
	char c0;
	__u32 len, used, avail;
	long n;

	if (!uname)
		return 0;
	n = bpf_probe_read_user_str(DATA(s) + (off & DATA_MASK), PATH_MASK, uname);
	if (n <= 0)
		return 0;
	c0 = DATA(s)[off & DATA_MASK];
	if (c0 == '/') {
		d = KREAD(struct fs_struct, fs, root.dentry);
		vm = KREAD(struct fs_struct, fs, root.mnt);
		if (empty_path(d, vm)) {
			*name_at = 0;
			if ((__u32)n >= PATH_MASK)
				*trunc = true;
			return ((__u32)n - 1) & PATH_MASK;
		}
	} else if (base) {
		/* the base as it was when the call began (enter_rename()): the call may have moved it */
		__u32 n = base_len;

		/* the verifier needs the bound on the read itself: keep the compiler from moving it */
		asm volatile("%0 &= %1" : "+r"(n) : "i"(PATH_MASK));
		if (!n)
			return 0;
		bpf_probe_read_kernel(DATA(s) + (off & DATA_MASK), n, base);
		base_len = n;
		d = NULL;
		vm = NULL;
	} else if (!base_dir(t, dirfd, &d, &vm)) {
		return 0;
	}
	len = d ? put_path(s, off, d, vm, trunc) : base_len & PATH_MASK;
	*name_at = len;
	if (c0 == 0)
		return len;
	used = len;
	if (c0 != '/') {
		DATA(s)[(off + used) & DATA_MASK] = '/';
		used++;
	}
	*name_at = used;
	avail = FIM_PATH_MAX - used;
	if (avail > PATH_MASK)
		avail = PATH_MASK;
	if (avail < 2) {
		*trunc = true;
		return used;
	}
	n = bpf_probe_read_user_str(DATA(s) + ((off + used) & DATA_MASK), avail & PATH_MASK, uname);
	if (n <= 0)
		return 0;
	if ((__u32)n >= avail)
		*trunc = true;
	return (used + (__u32)n - 1) & PATH_MASK;
}

static __always_inline bool prefix_watched(struct scratch *s, __u32 off, __u32 len)
{
	struct fim_prefix_key *k = &s->key;
	__u32 n = len;

	if (n > FIM_WATCH_KEY_LEN)
		n = FIM_WATCH_KEY_LEN;
	bpf_probe_read_kernel(k->data, n, DATA(s) + (off & DATA_MASK));
	if (len < FIM_WATCH_KEY_LEN) {
		/* "/a/b" must match the watch "/a/b/" (itself) but "/a/bc" must not */
		k->data[len & (FIM_WATCH_KEY_LEN - 1)] = '/';
		k->prefixlen = (len + 1) * 8;
	} else {
		k->prefixlen = FIM_WATCH_KEY_LEN * 8;
	}
	return bpf_map_lookup_elem(&watch_prefixes, k) != NULL;
}

struct dotdot_scan {
	struct scratch *s;
	__u32 start, end;
	__u32 found;
	__u32 at;     /* the quick pass's position */
	__u64 carry;  /* the quick pass: the last byte of the word before was a '.' */
};

static __always_inline bool dotdot_at(struct dotdot_scan *c, __u32 at)
{
	char *p = DATA(c->s);

	return at + 1 < c->end && p[at & DATA_MASK] == '.' && p[(at + 1) & DATA_MASK] == '.' &&
	       (at == c->start || p[(at - 1) & DATA_MASK] == '/') &&
	       (at + 2 == c->end || p[(at + 2) & DATA_MASK] == '/');
}

/* The exact scan, eight bytes a step; words without a '.' are skipped whole. */
static long dotdot_step(__u32 i, void *ctx)
{
	struct dotdot_scan *c = ctx;
	__u32 at = c->start + i * 8;
	__u64 w, v;

	if (at >= c->end)
		return 1;
	w = *(__u64 *)(DATA(c->s) + (at & DATA_MASK));
	v = w ^ 0x2e2e2e2e2e2e2e2eull;
	if (!((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull))
		return 0;
	for (int k = 0; k < 8; k++) {
		if (dotdot_at(c, at + k)) {
			c->found = 1;
			return 1;
		}
	}
	return 0;
}

/* 0x80 in each byte of w that is a '.', 0 elsewhere (no borrow from byte to byte) */
static __always_inline __u64 dot_bytes(__u64 w)
{
	__u64 v = w ^ 0x2e2e2e2e2e2e2e2eull;

	return ~(((v & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | v | 0x7f7f7f7f7f7f7f7full);
}

/*
 * The quick pass: 64 bytes a step (each bpf_loop step is a call, ~15 ns here), looking only for
 * two '.' in a row. Nearly every name has none, and is done in a step or two; one that has
 * them ("..", "a..b") gets the exact scan.
 */
static long two_dots_step(__u32 i, void *ctx)
{
	struct dotdot_scan *c = ctx;

#pragma unroll
	for (int k = 0; k < 8; k++) {
		__u32 at = c->at;
		__u64 m;

		if (at >= c->end)
			return 1;
		m = dot_bytes(*(__u64 *)(DATA(c->s) + (at & DATA_MASK)));
		if (c->end - at < 8) /* the bytes after the end are an older record's */
			m &= (1ull << ((c->end - at) * 8)) - 1;
		if ((m & (m >> 8)) || (c->carry & m)) {
			c->found = 1;
			return 1;
		}
		c->carry = (m >> 56) & 0x80;
		c->at = at + 8;
	}
	return 0;
}

/*
 * A lexical path that missed the prefix filter may still lead into a watched tree via "..".
 * Only the caller's string can hold one: a base directory's path is made of real names.
 * Global, like inode_walk_watched(): verified once per program.
 */
__noinline int has_dotdot(__u32 off, __u32 len)
{
	struct scratch *s = get_scratch();
	struct dotdot_scan c = { .s = s, .start = off, .end = off + len, .at = off };

	if (!s)
		return 0;
	bpf_loop(FIM_PATH_MAX / 64, two_dots_step, &c, 0);
	if (!c.found)
		return 0;
	c.found = 0;
	bpf_loop(FIM_PATH_MAX / 8, dotdot_step, &c, 0);
	return c.found;
}

/* ---- modify tracking ------------------------------------------------------------------- */

/* f: the open file whose offset to record, or NULL (not write-only, or maybe closed). */
static __always_inline void read_snap(struct inode_snap *sn, struct inode *ino, struct file *f)
{
	sn->size = KREAD(struct inode, ino, i_size);
	if (bpf_core_field_exists(ino->i_mtime_sec)) {
		sn->mtime_sec = KREAD(struct inode, ino, i_mtime_sec);
		sn->mtime_nsec = KREAD(struct inode, ino, i_mtime_nsec);
	}
	sn->pos = f ? KREAD(struct file, f, f_pos) : -1;
}

static __always_inline bool snap_changed(const struct inode_snap *a, const struct inode_snap *b)
{
	return a->size != b->size || a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec ||
	       (a->pos >= 0 && b->pos >= 0 && a->pos != b->pos);
}

/* dirty: already changed at open (O_TRUNC), so its close reports a modify in any case */
static __always_inline void track_writable(const struct who *who, struct file *f, bool dirty)
{
	struct inode *ino = KREAD(struct file, f, f_inode);
	__u64 key = (__u64)f;
	struct wfile v = {};
	struct super_block *sb;

	if (!ino)
		return;
	v.inode = (__u64)ino;
	v.dentry = (__u64)KREAD(struct file, f, f_path.dentry);
	v.mnt = (__u64)KREAD(struct file, f, f_path.mnt);
	v.ino = KREAD(struct inode, ino, i_ino);
	sb = KREAD(struct inode, ino, i_sb);
	v.dev = KREAD(struct super_block, sb, s_dev);
	v.mode = KREAD(struct inode, ino, i_mode);
	v.pos_tracked = !(KREAD(struct file, f, f_mode) & FMODE_READ);
	read_snap(&v.snap, ino, v.pos_tracked ? f : NULL);
	if (dirty)
		v.snap.size = -1;
	v.who = *who;
	bpf_map_update_elem(&wfiles, &key, &v, BPF_ANY);
	add_writer(v.who.pid);
	stat_inc(FIM_STAT_TRACKED);
}

/*
 * Content changed since the snapshot? Takes a new snapshot when it did, so each change is
 * reported once. f is the open file (its offset is compared) or NULL when it may be closed.
 *
 * Coalescing needs no clock: the open file is reported once at its end (close, dup2 over it,
 * its writer's exit) and by the periodic check, which runs once per window, while it stays
 * open. So a log written all day is one modify per window, and the last writes before close
 * are never folded away.
 */
static __always_inline bool changed_since_snapshot(struct wfile *v, struct inode *ino, struct file *f)
{
	struct inode_snap cur = {};

	read_snap(&cur, ino, v->pos_tracked ? f : NULL);
	if (!snap_changed(&cur, &v->snap))
		return false;
	v->snap = cur;
	return true;
}

/* ---- watch registration (the loader's own O_PATH opens) ------------------------------ */

static __always_inline void register_watch(struct task_struct *t, long fd)
{
	__u32 z = 0;
	struct fim_watch_reg *r = bpf_map_lookup_elem(&watch_reg, &z);
	struct file *f;
	struct inode *ino;
	__u64 key;
	__u32 id;

	if (!r || !r->armed)
		return;
	loader_task = (__u64)t;
	f = fd_to_file(t, fd);
	if (!f)
		return;
	ino = BPF_CORE_READ(f, f_path.dentry, d_inode);
	if (!ino)
		return;
	key = (__u64)ino;
	id = r->watch_id;
	if (r->parent) {
		bpf_map_update_elem(&root_parents, &key, &id, BPF_ANY);
	} else {
		struct dentry *d = BPF_CORE_READ(f, f_path.dentry);

		bpf_map_update_elem(&watch_inodes, &key, &id, BPF_ANY);
		r->name.parent_inode = (__u64)BPF_CORE_READ(d, d_parent, d_inode);
		r->name.hash_len = BPF_CORE_READ(d, d_name.hash_len);
		bpf_map_update_elem(&root_names, &r->name, &id, BPF_ANY);
	}
	r->inode_key = key;
	r->ino = BPF_CORE_READ(ino, i_ino);
	r->dev = BPF_CORE_READ(ino, i_sb, s_dev);
	r->armed = 0;
}

/* ---- open / creat ---------------------------------------------------------------------- */

static __always_inline int on_open_exit(long ret, __u16 sc)
{
	struct scratch *s;
	struct walk w;
	struct who who;
	struct task_struct *t;
	struct pt_regs *regs;
	struct file *f;
	__u64 flags = 0;
	__u32 fmode;
	bool created, emits;
	int dir_v = DIR_UNWATCHED;

	if (ret < 0)
		return 0;
	t = bpf_get_current_task_btf();
	/* Direct loads from the trusted pt_regs pointer, not probe-read helper calls: this runs
	 * for every open on the machine. */
	regs = task_regs(t);
	switch (sc) {
	case FIM_SC_OPEN:
		flags = regs->si;
		break;
	case FIM_SC_OPENAT:
		flags = regs->dx;
		break;
	case FIM_SC_OPENAT2: {
		struct open_how *how = (struct open_how *)regs->dx;

		bpf_probe_read_user(&flags, sizeof(flags), &how->flags);
		break;
	}
	default:
		flags = O_CREAT | O_WRONLY | O_TRUNC;
	}
	/* the read-only fast path: most opens on a machine end here */
	if ((flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC | O_PATH)))
		return 0;
	if ((flags & O_PATH) && (bpf_get_current_pid_tgid() >> 32) == targ_loader_tgid) {
		register_watch(t, ret);
		return 0;
	}
	if (flags & O_PATH)
		return 0;
	/* an O_TMPFILE has no name yet; linkat() giving it one is the `add` */
	if (flags & __O_TMPFILE)
		return 0;
	f = fd_to_file(t, ret);
	if (!f)
		return 0;
	fmode = KREAD(struct file, f, f_mode);
	created = fmode & FMODE_CREATED;
	if (!created && !(fmode & FMODE_WRITE) && !(flags & O_TRUNC))
		return 0;
	/* an open for write of an existing file says nothing yet: no name needed */
	emits = created || !(fmode & FMODE_WRITE);
	s = get_scratch();
	if (!s)
		return 0;
	if (!file_walk_watched(s, f, &w, emits, &dir_v)) {
		if (created && (dir_v == DIR_HOLDS_ROOT || dir_v == DIR_AT_ROOT_NAME)) {
			/* maybe a watched root made again, or an entry in it: its path tells, which
			 * the loader reads */
			fill_who(&who, t);
			name_file(s, f, &w);
			emit_walked(s, t, f, &w, 0, &who, FIM_OP_ADD, sc, FIM_F_ROOT_CANDIDATE);
		}
		return 0;
	}
	fill_who(&who, t);
	if (created)
		emit_walked(s, t, f, &w, 0, &who, FIM_OP_ADD, sc, 0);
	else if (!(fmode & FMODE_WRITE)) /* O_RDONLY|O_TRUNC still truncates */
		emit_walked(s, t, f, &w, 0, &who, FIM_OP_MODIFY, sc, 0);
	/* the truncation and what is written after it are one modify, at close */
	if (fmode & FMODE_WRITE)
		track_writable(&who, f, !created && (flags & O_TRUNC));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct trace_event_raw_sys_exit *ctx) { return on_open_exit(ctx->ret, FIM_SC_OPEN); }
SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx) { return on_open_exit(ctx->ret, FIM_SC_OPENAT); }
SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct trace_event_raw_sys_exit *ctx) { return on_open_exit(ctx->ret, FIM_SC_OPENAT2); }
SEC("tracepoint/syscalls/sys_exit_creat")
int exit_creat(struct trace_event_raw_sys_exit *ctx) { return on_open_exit(ctx->ret, FIM_SC_CREAT); }

/* ---- close: the end of a tracked open file ---------------------------------------------- */

static __always_inline bool last_reference(struct file *f)
{
	if (bpf_core_field_exists(f->f_ref)) /* 6.13+: file_ref_t counts references - 1 */
		return KREAD(struct file, f, f_ref.refcnt.counter) == 0;
	return true; /* older kernels: treat every close as the last; the check repeats at worst */
}

/* fd is about to stop referring to its file: close(), or dup2()/dup3() over it. */
static __always_inline int on_fd_closing(long fd)
{
	struct task_struct *t;
	struct file *f;
	struct inode *ino;
	struct wfile *v;
	__u64 key;

	/* Every close on the machine passes here: a load or two for processes that never opened
	 * a watched file for write. One that only inherited such an fd is left to the periodic
	 * check, which reports the change within a window. */
	if (!any_writer() || !is_writer(bpf_get_current_pid_tgid() >> 32))
		return 0;
	t = bpf_get_current_task_btf();
	f = fd_to_file(t, fd);
	key = (__u64)f;
	if (!f)
		return 0;
	v = bpf_map_lookup_elem(&wfiles, &key);
	if (!v)
		return 0;
	if (!last_reference(f))
		return 0;
	ino = KREAD(struct file, f, f_inode);
	if ((__u64)ino == v->inode && !v->dead && changed_since_snapshot(v, ino, f))
		emit_file(t, f, FIM_OP_MODIFY, FIM_SC_CLOSE);
	bpf_map_delete_elem(&wfiles, &key);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx) { return on_fd_closing((long)ctx->args[0]); }

/* a shell's "cmd >> file" restores its stdout with dup2(), closing the file without close() */
SEC("tracepoint/syscalls/sys_enter_dup2")
int enter_dup2(struct trace_event_raw_sys_enter *ctx) { return on_fd_closing((long)ctx->args[1]); }
SEC("tracepoint/syscalls/sys_enter_dup3")
int enter_dup3(struct trace_event_raw_sys_enter *ctx) { return on_fd_closing((long)ctx->args[1]); }

/* ---- fd-based changes -------------------------------------------------------------------- */

static __always_inline int on_fd_change(long ret, long fd, __u16 op, __u16 sc)
{
	struct scratch *s;
	struct walk w;
	struct who who;
	struct task_struct *t;
	struct file *f;

	if (ret < 0)
		return 0;
	t = bpf_get_current_task_btf();
	f = fd_to_file(t, fd);
	s = get_scratch();
	if (!s || !file_walk_watched(s, f, &w, true, NULL))
		return 0;
	fill_who(&who, t);
	emit_walked(s, t, f, &w, 0, &who, op, sc, 0);
	if (op == FIM_OP_MODIFY) { /* said now: the open file's close need not say it again */
		__u64 key = (__u64)f;
		struct wfile *v = bpf_map_lookup_elem(&wfiles, &key);

		if (v)
			changed_since_snapshot(v, BPF_CORE_READ(f, f_inode), f);
	}
	return 0;
}

static __always_inline long arg0(void)
{
	return (task_regs(bpf_get_current_task_btf()))->di;
}

/*
 * What a syscalls/sys_exit_<name> tracepoint hands its program (the event's format file): the
 * syscall's number is an int here, where raw_syscalls' sys_exit (trace_event_raw_sys_exit) has
 * a long, and the bytes after it are not cleared.
 */
struct sys_exit_args {
	__u64 common;
	int nr;
	long ret;
};

/* one program for the fd-based changes (fim-hooks.h): the loader attaches it to each */
#define BY_FD_CASE(name, nr, SC, OP)                                                             \
	case nr:                                                                                 \
		op = OP;                                                                         \
		sc = SC;                                                                         \
		break;
SEC("tracepoint/syscalls/sys_exit_fchmod")
int exit_by_fd(struct sys_exit_args *ctx)
{
	__u16 op, sc;

	switch (ctx->nr) {
	FIM_BY_FD_HOOKS(BY_FD_CASE)
	default:
		return 0;
	}
	return on_fd_change(ctx->ret, arg0(), op, sc);
}

/* ---- name-based changes -------------------------------------------------------------------- */

struct sysargs {
	long a[6];
};

static __always_inline void read_args(struct task_struct *t, struct sysargs *a)
{
	struct pt_regs *regs = task_regs(t);

	a->a[0] = regs->di;
	a->a[1] = regs->si;
	a->a[2] = regs->dx;
	a->a[3] = regs->r10;
	a->a[4] = regs->r8;
	a->a[5] = regs->r9;
}

/*
 * Builds the name's path at `off` and says in *watched whether it may be under a watched path;
 * adds the record flags it calls for to *flags. Returns its length, 0 when it could not be built.
 */
static __always_inline __u32 name_path(struct scratch *s, __u32 off, struct task_struct *t,
				       long dirfd, const char *uname, const char *base, __u32 base_len,
				       __u32 trunc_flag, __u32 lex_flag, const struct touched *tc,
				       int *touched_memo, __u32 *flags, int verdict, bool *watched)
{
	bool trunc = false;
	__u32 name_at = 0;
	__u32 len = put_name_path(s, off, t, dirfd, uname, base, base_len, &name_at, &trunc);

	*watched = false;
	if (!len)
		return 0;
	if (trunc)
		*flags |= trunc_flag;
	*flags |= lex_flag;
	if (verdict == NOTES_WATCHED || prefix_watched(s, off, len)) {
		*watched = true;
	} else if ((name_at < len && has_dotdot(off + name_at, len - name_at)) ||
		   touched_watched_once(tc, touched_memo)) {
		/* ".." or a symlink may lead into the tree: the loader, which makes the path
		 * canonical, decides */
		*watched = true;
	}
	return len;
}

/* The record is begun only once the call is known to be watched: most are not. */
static __always_inline int on_name_change(struct task_struct *t, long ret, long dirfd,
					  const char *uname, __u16 op, __u16 sc, __u16 mode_hint,
					  const struct touched *tc)
{
	struct scratch *s;
	struct fim_event *e;
	struct who w;
	int touched_memo = -1, verdict;
	__u32 len, flags = 0;
	bool watched;

	if (ret < 0)
		return 0;
	verdict = notes_verdict(tc);
	if (verdict == NOTES_UNWATCHED)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	len = name_path(s, 0, t, dirfd, uname, NULL, 0, FIM_F_PATH_TRUNC, FIM_F_LEXICAL, tc, &touched_memo,
			&flags, verdict, &watched);
	if (!watched)
		return 0;
	e = begin_event(s, op, sc);
	e->flags = flags;
	e->path_len = len;
	e->mode = mode_hint;
	fill_who(&w, t);
	who_to_event(e, &w);
	put_process(s, t);
	submit(s);
	return 0;
}

/*
 * The base directories of a rename's relative names (old, new) as they were when the call
 * began. The path of a base is read at the exit otherwise, and a rename may move the caller's
 * own cwd or dirfd (`cd /w/a/b && mv ../../a /w/x/a`): read after the move, the base would be
 * where it went. Per thread, only for renames with a name that goes up (enter_rename()).
 */
struct rename_bases {
	__u32 len[2]; /* 0: not captured (an absolute name) */
	char path[2][FIM_PATH_MAX];
};

/*
 * Set by the loader for the object with direct reads only: with the compatible one, 6.1's
 * verifier found exit_rename too large with the captured bases in it.
 */
const volatile bool targ_rename_bases = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024); /* threads in a rename with a name that goes up at once */
	__type(key, __u32);        /* tid */
	__type(value, struct rename_bases);
} rename_bases SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rename_bases);
} rename_bases_staging SEC(".maps");

static __always_inline int on_rename(struct task_struct *t, long ret, long olddir,
				     const char *oldname, long newdir, const char *newname, long rflags,
				     __u16 sc, const struct touched *tc, const struct rename_bases *bases)
{
	/* rename(2) returns 0 and changes nothing when both names are links of one file: the
	 * notes say so where the ctimes change in the call. Elsewhere (a network filesystem that
	 * only invalidates its cached ctimes) a real rename has no notes either, so the flag asks
	 * the loader to look at the names rather than drop the event here. */
	__u32 unchanged = targ_notes_all && tc->complete && tc->n == 0 ? FIM_F_UNCHANGED : 0;
	struct scratch *s;
	struct fim_event *e;
	struct who w;
	int touched_memo = -1, verdict;
	__u32 nlen, olen, flags = 0;
	bool new_watched, old_watched;

	if (ret < 0)
		return 0;
	verdict = notes_verdict(tc);
	if (verdict == NOTES_UNWATCHED)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	/* one event when either end is watched: a move into or out of the tree has both paths */
	nlen = name_path(s, 0, t, newdir, newname, bases ? bases->path[1] : NULL, bases ? bases->len[1] : 0,
			 FIM_F_PATH_TRUNC, FIM_F_LEXICAL, tc, &touched_memo,
			 &flags, verdict, &new_watched);
	if (!nlen)
		return 0;
	olen = name_path(s, nlen & PATH_MASK, t, olddir, oldname, bases ? bases->path[0] : NULL,
			 bases ? bases->len[0] : 0, FIM_F_OLD_PATH_TRUNC,
			 FIM_F_OLD_LEXICAL, tc, &touched_memo, &flags, verdict, &old_watched);
	if (!olen || (!new_watched && !old_watched))
		return 0;
	e = begin_event(s, FIM_OP_RENAME, sc);
	e->flags = flags | unchanged;
	e->path_len = nlen & PATH_MASK;
	e->old_path_len = olen & PATH_MASK;
	if (rflags & RENAME_EXCHANGE)
		e->flags |= FIM_F_EXCHANGE;
	fill_who(&w, t);
	who_to_event(e, &w);
	put_process(s, t);
	submit(s);
	return 0;
}

/*
 * One program for the name-based changes (fim-hooks.h): the loader attaches it to each. The
 * switch only picks the arguments, so that on_name_change() is inlined (and verified) once.
 */
#define BY_NAME_CASE(name, nr, SC, OP, DIRFD, NAMEARG, MODE, CONDITION)                          \
	case nr:                                                                                 \
		if (!(CONDITION))                                                                \
			return 0;                                                                \
		dirfd = DIRFD;                                                                   \
		uname = (const char *)a.a[NAMEARG];                                              \
		op = OP;                                                                         \
		sc = SC;                                                                         \
		mode = MODE;                                                                     \
		break;
SEC("tracepoint/syscalls/sys_exit_unlink")
int exit_by_name(struct sys_exit_args *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct sysargs a;
	struct touched tc = {};
	const char *uname;
	__u16 op, sc, mode;
	long dirfd;

	take_touched(&tc, t);
	if (ctx->ret < 0)
		return 0;
	read_args(t, &a);
	switch (ctx->nr) {
	FIM_BY_NAME_HOOKS(BY_NAME_CASE)
	default:
		return 0;
	}
	return on_name_change(t, ctx->ret, dirfd, uname, op, sc, mode, &tc);
}

/* utimes family: only explicit times are an attribute change; "now" is what every write does */
static __always_inline bool timespec_explicit(const void *utimes)
{
	struct { long sec, nsec; } ts[2] = {};

	if (!utimes)
		return false;
	if (bpf_probe_read_user(ts, sizeof(ts), utimes))
		return true;
	return !(ts[0].nsec == UTIME_NOW && ts[1].nsec == UTIME_NOW);
}

/*
 * futimens() on a file open for write sets the very mtime the modify check compares: report
 * what was written before it (enter), then take a new snapshot (exit), so that `touch` is not
 * a `modify` and a write hidden behind `touch -d` still is.
 */
static __always_inline struct wfile *tracked_fd(long fd, struct file **fp)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 key;

	if (!any_writer() || !is_writer(tgid))
		return NULL;
	*fp = fd_to_file(bpf_get_current_task_btf(), fd);
	key = (__u64)*fp;
	return *fp ? bpf_map_lookup_elem(&wfiles, &key) : NULL;
}

SEC("tracepoint/syscalls/sys_enter_utimensat")
int enter_utimensat(struct trace_event_raw_sys_enter *ctx)
{
	struct file *f = NULL;
	struct wfile *v;
	struct inode *ino;

	if (ctx->args[1]) /* by name */
		return 0;
	v = tracked_fd((long)ctx->args[0], &f);
	if (!v || v->dead)
		return 0;
	ino = BPF_CORE_READ(f, f_inode);
	if ((__u64)ino == v->inode && changed_since_snapshot(v, ino, f))
		emit_file(bpf_get_current_task_btf(), f, FIM_OP_MODIFY, FIM_SC_CHECK);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_utimensat")
int exit_utimensat(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct sysargs a;
	struct touched tc = {};

	take_touched(&tc, t);
	if (ctx->ret < 0)
		return 0;
	read_args(t, &a);
	if (!a.a[1]) {
		struct file *f = NULL;
		struct wfile *v = tracked_fd(a.a[0], &f);

		if (v && (__u64)BPF_CORE_READ(f, f_inode) == v->inode)
			read_snap(&v->snap, (struct inode *)v->inode, v->pos_tracked ? f : NULL);
	}
	if (!timespec_explicit((const void *)a.a[2]))
		return 0;
	if (!a.a[1]) /* futimens(fd, times) */
		return on_fd_change(ctx->ret, a.a[0], FIM_OP_ATTRIB, FIM_SC_UTIMENSAT);
	return on_name_change(t, ctx->ret, a.a[0], (const char *)a.a[1], FIM_OP_ATTRIB, FIM_SC_UTIMENSAT, 0, &tc);
}

/*
 * After a successful rename: may a directory have moved? Every remembered verdict below it
 * would be wrong (tree_changed() retires them all). The timestamp notes tell the common case
 * apart, a file renamed inside one directory (that directory and one or two files changed
 * their times); anything else counts as a directory move, and so does every rename when there
 * are no notes (kernels before 6.13, notes lost to a migration).
 */
static __always_inline bool dir_may_have_moved(const struct touched *tc)
{
	__u32 dirs = 0, others = 0;

	for (int i = 0; i < TOUCHED_MAX; i++) {
		if (i >= tc->n)
			break;
		if ((KREAD(struct inode, tc->inode[i], i_mode) & S_IFMT) == S_IFDIR)
			dirs++;
		else
			others++;
	}
	return dirs != 1 || !others;
}

/* One program for the renames (fim-hooks.h): the loader attaches it to each. */
#define RENAME_CASE(name, nr, SC, OLDDIR, OLDNAME, NEWDIR, NEWNAME, FLAGS)                       \
	case nr:                                                                                 \
		olddir = OLDDIR;                                                                 \
		oldname = (const char *)a.a[OLDNAME];                                            \
		newdir = NEWDIR;                                                                 \
		newname = (const char *)a.a[NEWNAME];                                            \
		rflags = FLAGS;                                                                  \
		sc = SC;                                                                         \
		break;
SEC("tracepoint/syscalls/sys_exit_rename")
int exit_rename(struct sys_exit_args *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct sysargs a;
	struct touched tc = {};
	const char *oldname, *newname;
	long olddir, newdir, rflags;
	__u32 tid = KREAD(struct task_struct, t, pid);
	struct rename_bases *bases = targ_rename_bases ? bpf_map_lookup_elem(&rename_bases, &tid) : NULL;
	__u16 sc;

	take_touched(&tc, t);
	if (ctx->ret < 0)
		goto out;
	if (dir_may_have_moved(&tc))
		tree_changed();
	read_args(t, &a);
	switch (ctx->nr) {
	FIM_RENAME_HOOKS(RENAME_CASE)
	default:
		goto out;
	}
	/* Two inlined copies: in the compatible object the verifier drops the first (no bases),
	 * and 6.1's found the one copy with the choice inside it over its limit. */
	if (targ_rename_bases && bases)
		on_rename(t, ctx->ret, olddir, oldname, newdir, newname, rflags, sc, &tc, bases);
	else
		on_rename(t, ctx->ret, olddir, oldname, newdir, newname, rflags, sc, &tc, NULL);
out:
	if (bases)
		bpf_map_delete_elem(&rename_bases, &tid);
	return 0;
}

/*
 * The first two bytes of a name of the call being entered ("" when unreadable). Whether the
 * rename can move one of its own bases is told from them alone (enter_rename()).
 */
static __always_inline void name_start(const char *uname, char c[2])
{
	if (!uname || bpf_probe_read_user(c, 2, uname))
		c[0] = c[1] = 0;
}

static __always_inline bool goes_up(const char c[2])
{
	return c[0] == '.' && c[1] == '.';
}

static __always_inline bool relative(const char c[2])
{
	return c[0] && c[0] != '/';
}

static __always_inline __u32 capture_base(struct scratch *s, struct task_struct *t, long dirfd,
					  char *into)
{
	struct dentry *d;
	struct vfsmount *vm;
	bool trunc = false;
	__u32 len;

	if (!base_dir(t, dirfd, &d, &vm))
		return 0;
	len = put_path(s, 0, d, vm, &trunc) & PATH_MASK;
	if (len)
		bpf_probe_read_kernel(into, len, DATA(s));
	return len;
}

/*
 * The renames' entries (fim-hooks.h): see struct rename_bases. A rename moves what its old name
 * names; a base (cwd or dirfd) moves with it only when it lies at or below that. Not the old
 * name's own base unless the old name goes up: "a" is below its base. Not the new name's base
 * unless the new name goes up: were that base at or below what moves, the new name "b" would
 * be below it too, and moving a directory into itself fails (EINVAL). So the bases are read
 * here only when a name starts with "..", and a rename of absolute names, or of names below
 * their bases, costs two 2-byte reads. Not looked for (reading and scanning every name would
 * cost every rename of the machine): a ".." further in ("a/../../x"), or a symlink on the way
 * that goes up (docs/protocol.md).
 */
SEC("tracepoint/syscalls/sys_enter_rename")
int enter_rename(void *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct rename_bases *b;
	struct scratch *s;
	struct sysargs a;
	const char *oldname, *newname;
	long olddir, newdir, rflags;
	char old_start[2], new_start[2];
	__u32 tid, zero = 0;
	__u16 sc;

	/* from the registers: a program that reads past the record of sys_enter_rename (two
	 * arguments) cannot be attached there */
	read_args(t, &a);
	switch (task_regs(t)->orig_ax) {
	FIM_RENAME_HOOKS(RENAME_CASE)
	default:
		return 0;
	}
	(void)rflags;
	(void)sc;
	name_start(oldname, old_start);
	name_start(newname, new_start);
	if (!goes_up(old_start) && !goes_up(new_start))
		return 0;
	b = bpf_map_lookup_elem(&rename_bases_staging, &zero);
	s = get_scratch();
	if (!b || !s)
		return 0;
	b->len[0] = relative(old_start) ? capture_base(s, t, olddir, b->path[0]) : 0;
	b->len[1] = relative(new_start) ? capture_base(s, t, newdir, b->path[1]) : 0;
	tid = KREAD(struct task_struct, t, pid);
	bpf_map_update_elem(&rename_bases, &tid, b, BPF_ANY);
	return 0;
}

/* ---- periodic check of files held open for write ----------------------------------------- */

static __always_inline bool still_open(__u64 file, __u64 inode)
{
	struct file *f = (struct file *)file;

	if ((__u64)BPF_CORE_READ(f, f_inode) != inode)
		return false;
	if (bpf_core_field_exists(f->f_ref))
		return BPF_CORE_READ(f, f_ref.refcnt.counter) >= 0;
	return true;
}

SEC("iter/bpf_map_elem")
int check_open_writers(struct bpf_iter__bpf_map_elem *ctx)
{
	__u64 *key = ctx->key;
	struct wfile *v = ctx->value;
	struct inode *ino;
	struct scratch *s;
	struct fim_event *e;
	struct dentry *d;
	struct vfsmount *vm;
	bool trunc = false, open;

	if (!key || !v || v->dead)
		return 0;
	ino = (struct inode *)v->inode;
	d = (struct dentry *)v->dentry;
	vm = (struct vfsmount *)v->mnt;
	/* Closed where no hook saw it (exec's close-on-exec, close_range, an fd shared by fork):
	 * the struct file may be freed, so trust only the dentry, and only while it still names
	 * the inode we snapshotted. */
	open = still_open(*key, v->inode);
	if (!open)
		v->dead = 1;
	if ((__u64)BPF_CORE_READ(d, d_inode) != v->inode || BPF_CORE_READ(ino, i_ino) != v->ino) {
		v->dead = 1;
		return 0;
	}
	if (!changed_since_snapshot(v, ino, open ? (struct file *)*key : NULL))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	e = begin_event(s, FIM_OP_MODIFY, open ? FIM_SC_CHECK : FIM_SC_CLOSE);
	who_to_event(e, &v->who);
	set_inode(e, ino);
	e->path_len = put_path(s, 0, d, vm, &trunc);
	if (trunc)
		e->flags |= FIM_F_PATH_TRUNC;
	if (bpf_task_from_pid) { /* the writer's exe, if it is still the same process */
		struct task_struct *w = bpf_task_from_pid(v->who.pid); /* pid is a tgid: the leader */

		if (w) {
			if (BPF_CORE_READ(w, start_boottime) == v->who.process_start_ns)
				put_exe(s, w);
			bpf_task_release(w);
		}
	}
	submit(s);
	return 0;
}

/* ---- a writer that exits without close(): its files close inside the kernel ------------- */

struct exit_scan {
	struct task_struct *t;
	struct file **fds;
	__u32 max_fds;
};

static long exit_scan_step(__u32 i, void *ctx)
{
	struct exit_scan *c = ctx;
	struct file *f = NULL;
	struct wfile *v;
	struct inode *ino;
	__u64 key;

	if (i >= c->max_fds)
		return 1;
	bpf_probe_read_kernel(&f, sizeof(f), &c->fds[i]);
	if (!f)
		return 0;
	key = (__u64)f;
	v = bpf_map_lookup_elem(&wfiles, &key);
	if (!v || v->dead)
		return 0;
	ino = BPF_CORE_READ(f, f_inode);
	if ((__u64)ino == v->inode && changed_since_snapshot(v, ino, f))
		emit_file(c->t, f, FIM_OP_MODIFY, FIM_SC_EXIT);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_process_exit(void *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct exit_scan c = { .t = t };
	struct fdtable *fdt;

	/* only the last thread, and only a process that opened a watched file for write; its
	 * files are still open here (exit_files() comes after this tracepoint) */
	if (!any_writer() || !is_writer(tgid))
		return 0;
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	remove_writer(tgid);
	fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt)
		return 0;
	c.fds = BPF_CORE_READ(fdt, fd);
	c.max_fds = BPF_CORE_READ(fdt, max_fds);
	bpf_loop(65536, exit_scan_step, &c, 0);
	return 0;
}

/* ---- files already open for write when a path starts being watched ---------------------- */

SEC("iter/task_file")
int seed_open_writers(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *f = ctx->file;
	__u64 key = (__u64)f;
	struct who who;
	__u32 fmode;

	if (!task || !f)
		return 0;
	fmode = BPF_CORE_READ(f, f_mode);
	if (!(fmode & FMODE_WRITE))
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFREG)
		return 0;
	if (bpf_map_lookup_elem(&wfiles, &key) || !file_watched(f))
		return 0;
	fill_who(&who, task);
	track_writable(&who, f, false);
	return 0;
}
