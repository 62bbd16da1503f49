// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fim-whodata kernel sensor, fentry backend: the programs that replace the syscall
 * tracepoints' name-based view of deletes and renames with the kernel's own objects.
 *
 * The loader loads this object next to the tracepoint sensor (bpf/fim.bpf.c), gives it that
 * sensor's maps (one ring buffer, one watch list) and leaves out the sensor's programs for the
 * same calls (unlink*, rmdir, rename*, mkdir*, mknod*, symlink*, link*). Everything else (opens,
 * modify tracking, attributes) stays with the tracepoints, which see real struct files for most
 * of those.
 *
 * What a delete, a rename or an add by name gains here, where a tracepoint only has the
 * caller's strings:
 *  - the real parents (struct path) the kernel resolved, so a name that reaches a watched
 *    directory through a symlink outside it, or through a bind mount, is matched and reported
 *    under its canonical path on every kernel (the tracepoint sensor needs 6.13+ for that);
 *  - the inode, its device and its type (for a delete, read before it goes away).
 *
 * Two steps, because neither hook alone knows everything: security_path_* (fentry) has the
 * parents' mounts, which the paths need, and the names as they were, but runs before the kernel
 * tries; vfs_unlink/vfs_rmdir/vfs_rename (fexit) know whether the change happened. The first
 * notes what it was asked about, per thread; the second reports it if it is what it changed.
 *
 * Both hooks run on every such call of the machine, so the first one must be cheap
 * when nothing is watched: the verdict of the parent directory's walk up to the root is kept
 * (dir_watched() in fim-common.h), and an unwatched call costs a lookup or two.
 */
#include "fim-common.h"

/* An entry of dir: a watched file itself, or anything under a watched directory. */
static __always_inline bool entry_watched(const struct path *dir, struct dentry *entry)
{
	__u64 ino = (__u64)KREAD(struct dentry, entry, d_inode);

	if (ino && bpf_map_lookup_elem(&watch_inodes, &ino))
		return true;
	return dir_watched(KREAD(struct path, dir, dentry), KREAD(struct path, dir, mnt));
}

/*
 * The flags of an entry made in dir (an add, or the new name of a rename) that may be a
 * watched root made again, or made in one (DIR_HOLDS_ROOT, DIR_AT_ROOT_NAME: the loader keeps
 * it if its path is under a watched one), -1 when it is none of those (DIR_UNWATCHED).
 */
static __always_inline int made_entry_flags(const struct path *dir)
{
	switch (dir_verdict(KREAD(struct path, dir, dentry), KREAD(struct path, dir, mnt))) {
	case DIR_WATCHED:
		return 0;
	case DIR_HOLDS_ROOT:
	case DIR_AT_ROOT_NAME:
		return FIM_F_ROOT_CANDIDATE;
	default:
		return -1;
	}
}

/* x86_64 numbers; io_uring's IORING_OP_UNLINKAT, RENAMEAT, MKDIRAT, SYMLINKAT and LINKAT have no
 * syscall of their own: they are reported as unlinkat, renameat2, mkdirat, symlinkat and linkat,
 * whose arguments they take (the fallback). */
static __always_inline __u16 current_syscall(__u16 fallback)
{
	struct pt_regs *regs = task_regs(bpf_get_current_task_btf());

	switch (regs->orig_ax) {
	case 82:
		return FIM_SC_RENAME;
	case 83:
		return FIM_SC_MKDIR;
	case 84:
		return FIM_SC_RMDIR;
	case 86:
		return FIM_SC_LINK;
	case 87:
		return FIM_SC_UNLINK;
	case 88:
		return FIM_SC_SYMLINK;
	case 264:
		return FIM_SC_RENAMEAT;
	default:
		return fallback;
	}
}

/* The notes are per thread: drop one left by a call that never reached its vfs function. */
static __always_inline void forget(void *pending, __u32 *tid)
{
	/* a lookup is lockless, a delete is not: most calls have nothing to forget */
	if (bpf_map_lookup_elem(pending, tid))
		bpf_map_delete_elem(pending, tid);
}

/* ---- delete ----------------------------------------------------------------------------- */

struct pending_delete {
	__u64 dentry;
	__u64 mnt; /* of the parent the caller's name resolved to */
	struct inode_ids ids;
};

/* LRU: a note whose vfs call never came (the security hook said no) is pushed out, not leaked */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct pending_delete);
} pending_deletes SEC(".maps");

static __always_inline int note_delete(const struct path *dir, struct dentry *dentry)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_delete p = { .dentry = (__u64)dentry, .mnt = (__u64)KREAD(struct path, dir, mnt) };
	struct inode *ino = KREAD(struct dentry, dentry, d_inode);

	if (!ino || !entry_watched(dir, dentry)) {
		forget(&pending_deletes, &tid);
		return 0;
	}
	read_inode_ids(ino, &p.ids);
	bpf_map_update_elem(&pending_deletes, &tid, &p, BPF_ANY);
	return 0;
}

SEC("fentry/security_path_unlink")
int BPF_PROG(note_unlink, const struct path *dir, struct dentry *dentry)
{
	return note_delete(dir, dentry);
}

SEC("fentry/security_path_rmdir")
int BPF_PROG(note_rmdir, const struct path *dir, struct dentry *dentry)
{
	return note_delete(dir, dentry);
}

/* Starts a record of the current task's change in the per-CPU scratch. */
static __always_inline struct scratch *begin_change(__u16 op, __u16 sc)
{
	struct scratch *s = get_scratch();
	struct who w;

	if (!s)
		return NULL;
	fill_who(&w, bpf_get_current_task_btf());
	who_to_event(begin_event(s, op, sc), &w);
	return s;
}

/* an int return: 0 or -errno (the upper half of the register is not defined) */
static __always_inline bool returned_zero(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return (int)ret == 0;
}

/*
 * vfs_unlink() and vfs_rmdir() take the dentry third; their argument lists differ between
 * kernels after it, so the return value is read with bpf_get_func_ret, not by position.
 */
static __always_inline int on_deleted(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_delete *pp = bpf_map_lookup_elem(&pending_deletes, &tid);
	struct pending_delete p;
	struct scratch *s;
	struct fim_event *e;
	__u64 dentry = 0;
	bool trunc = false;

	if (!pp)
		return 0;
	bpf_get_func_arg(ctx, 2, &dentry);
	/* another file removed inside the noted call (overlayfs removes the upper one): not ours */
	if (pp->dentry != dentry)
		return 0;
	p = *pp;
	bpf_map_delete_elem(&pending_deletes, &tid);
	if (!returned_zero(ctx))
		return 0;
	s = begin_change(FIM_OP_DELETE, current_syscall(FIM_SC_UNLINKAT));
	if (!s)
		return 0;
	e = EV(s);
	put_inode_ids(e, &p.ids);
	/* the removed dentry keeps its name and parent while the caller holds it */
	e->path_len = put_path(s, 0, (struct dentry *)p.dentry, (struct vfsmount *)p.mnt, &trunc);
	if (trunc)
		e->flags |= FIM_F_PATH_TRUNC;
	put_process(s, bpf_get_current_task_btf());
	submit(s);
	return 0;
}

SEC("fexit/vfs_unlink")
int unlinked(unsigned long long *ctx)
{
	return on_deleted(ctx);
}

SEC("fexit/vfs_rmdir")
int rmdired(unsigned long long *ctx)
{
	return on_deleted(ctx);
}

/* ---- rename ----------------------------------------------------------------------------- */

#define NAME_MAX 255

/*
 * A rename moves the dentry (d_move): afterwards old_dentry has the new name and parent, so
 * the old name is kept here from before. The old parent stays where it was.
 */
struct pending_rename {
	__u64 old_dentry, new_dentry;
	__u64 old_dir, old_mnt, new_mnt;
	__u32 flags;
	__u32 event_flags; /* FIM_F_ROOT_CANDIDATE: only the new name's directory holds a root */
	__u32 name_len;
	char name[NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* tid */
	__type(value, struct pending_rename);
} pending_renames SEC(".maps");

/* too big for the BPF stack: staged per CPU, copied into the map before anything can sleep */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending_rename);
} rename_stage SEC(".maps");

/* one event when either end is watched: a move into or out of the tree has both paths */
SEC("fentry/security_path_rename")
int BPF_PROG(note_rename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry, unsigned int flags)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), z = 0;
	struct pending_rename *p;
	int made = 0;
	long n;

	if (!entry_watched(new_dir, new_dentry) && !entry_watched(old_dir, old_dentry)) {
		made = made_entry_flags(new_dir);
		if (made < 0) {
			forget(&pending_renames, &tid);
			return 0;
		}
	}
	p = bpf_map_lookup_elem(&rename_stage, &z);
	if (!p)
		return 0;
	p->event_flags = made;
	p->old_dentry = (__u64)old_dentry;
	p->new_dentry = (__u64)new_dentry;
	p->old_dir = (__u64)KREAD(struct path, old_dir, dentry);
	p->old_mnt = (__u64)KREAD(struct path, old_dir, mnt);
	p->new_mnt = (__u64)KREAD(struct path, new_dir, mnt);
	p->flags = flags;
	n = bpf_probe_read_kernel_str(p->name, sizeof(p->name), KREAD(struct dentry, old_dentry, d_name.name));
	p->name_len = n > 0 ? n - 1 : 0;
	bpf_map_update_elem(&pending_renames, &tid, p, BPF_ANY);
	return 0;
}

/* "<path of dir>/<name>" at DATA(s)[off]; returns its length */
static __always_inline __u32 put_dir_and_name(struct scratch *s, __u32 off, struct dentry *dir,
					      struct vfsmount *mnt, const struct pending_rename *p, bool *trunc)
{
	__u32 len = put_path(s, off, dir, mnt, trunc), nlen = p->name_len;

	if (nlen > NAME_MAX)
		nlen = NAME_MAX;
	if (len + 1 + nlen > FIM_PATH_MAX - 1) {
		*trunc = true;
		return len;
	}
	DATA(s)[(off + len) & DATA_MASK] = '/';
	bpf_probe_read_kernel(DATA(s) + ((off + len + 1) & DATA_MASK), nlen & NAME_MAX, p->name);
	return (len + 1 + nlen) & PATH_MASK;
}

/*
 * One record: path is where `moved` is now, old_path where it was; the inode is moved's. For a
 * RENAME_EXCHANGE both dentries are in place under the other's name, and each gets a record.
 */
static __always_inline void emit_rename(const struct pending_rename *p, struct dentry *moved,
					struct vfsmount *now_mnt, struct dentry *other, struct vfsmount *was_mnt,
					__u16 sc)
{
	struct scratch *s = begin_change(FIM_OP_RENAME, sc);
	struct fim_event *e;
	bool trunc = false, otrunc = false;
	__u32 len;

	if (!s)
		return;
	e = EV(s);
	set_inode(e, KREAD(struct dentry, moved, d_inode));
	len = put_path(s, 0, moved, now_mnt, &trunc);
	e->path_len = len & PATH_MASK;
	if (other) /* exchanged: the other one is where this one was */
		e->old_path_len = put_path(s, len & PATH_MASK, other, was_mnt, &otrunc);
	else
		e->old_path_len = put_dir_and_name(s, len & PATH_MASK, (struct dentry *)p->old_dir, was_mnt, p, &otrunc);
	if (trunc)
		e->flags |= FIM_F_PATH_TRUNC;
	if (otrunc)
		e->flags |= FIM_F_OLD_PATH_TRUNC;
	e->flags |= p->event_flags;
	put_process(s, bpf_get_current_task_btf());
	submit(s);
}

static __always_inline bool is_dir(struct dentry *d)
{
	struct inode *ino = KREAD(struct dentry, d, d_inode);

	return ino && (KREAD(struct inode, ino, i_mode) & S_IFMT) == S_IFDIR;
}

SEC("fexit/vfs_rename")
int BPF_PROG(renamed, struct renamedata *rd, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dentry *old_dentry = KREAD(struct renamedata, rd, old_dentry);
	struct dentry *new_dentry = KREAD(struct renamedata, rd, new_dentry);
	bool exchange = KREAD(struct renamedata, rd, flags) & RENAME_EXCHANGE;
	struct pending_rename *p;
	__u16 sc;

	/* a directory that moved takes its subtree along: every verdict below it may be wrong
	 * (old_dentry is the moved one; in an exchange new_dentry moved too) */
	if (ret == 0 && (is_dir(old_dentry) || (exchange && is_dir(new_dentry))))
		tree_changed();
	p = bpf_map_lookup_elem(&pending_renames, &tid);
	/* another rename inside the noted one (overlayfs renames the upper dentries): not ours */
	if (!p || p->old_dentry != (__u64)old_dentry)
		return 0;
	if (ret == 0) {
		sc = current_syscall(FIM_SC_RENAMEAT2);
		if (exchange) {
			emit_rename(p, old_dentry, (struct vfsmount *)p->new_mnt, new_dentry,
				    (struct vfsmount *)p->old_mnt, sc);
			emit_rename(p, new_dentry, (struct vfsmount *)p->old_mnt, old_dentry,
				    (struct vfsmount *)p->new_mnt, sc);
		} else {
			emit_rename(p, old_dentry, (struct vfsmount *)p->new_mnt, NULL,
				    (struct vfsmount *)p->old_mnt, sc);
		}
	}
	bpf_map_delete_elem(&pending_renames, &tid);
	return 0;
}

/* ---- add by name ------------------------------------------------------------------------ */

/*
 * mkdir, mknod, symlink and link: security_path_* (fentry) gets the parent the caller's name
 * resolved to and the new, still negative, dentry; the call that fills it (fexit) says whether
 * it worked, and the dentry then has its inode. open(O_CREAT) stays with the open tracepoints,
 * which see the created struct file.
 */
struct pending_add {
	__u64 dentry;
	__u64 mnt;
	__u32 event_flags; /* made_entry_flags() */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct pending_add);
} pending_adds SEC(".maps");

/* Linux 6.15+: vfs_mkdir() returns the dentry it made (an ERR_PTR on failure), not an int */
const volatile bool targ_mkdir_returns_dentry = false;

static __always_inline int note_add(const struct path *dir, struct dentry *dentry)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_add p = { .dentry = (__u64)dentry, .mnt = (__u64)KREAD(struct path, dir, mnt) };
	/* the new name has no inode yet: only its directory can be watched */
	int flags = made_entry_flags(dir);

	if (flags < 0) {
		forget(&pending_adds, &tid);
		return 0;
	}
	p.event_flags = flags;
	bpf_map_update_elem(&pending_adds, &tid, &p, BPF_ANY);
	return 0;
}

SEC("fentry/security_path_mkdir")
int BPF_PROG(note_mkdir, const struct path *dir, struct dentry *dentry)
{
	return note_add(dir, dentry);
}

SEC("fentry/security_path_symlink")
int BPF_PROG(note_symlink, const struct path *dir, struct dentry *dentry)
{
	return note_add(dir, dentry);
}

SEC("fentry/security_path_link")
int BPF_PROG(note_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry)
{
	return note_add(new_dir, new_dentry);
}

/*
 * open(O_CREAT) calls security_path_mknod too, then vfs_create, as mknod(S_IFREG) does: only the
 * mknod syscalls (which io_uring does not offer) are noted, and their exit says how they went.
 */
SEC("fentry/security_path_mknod")
int BPF_PROG(note_mknod, const struct path *dir, struct dentry *dentry)
{
	struct pt_regs *regs = task_regs(bpf_get_current_task_btf());

	if (regs->orig_ax != 133 && regs->orig_ax != 259)
		return 0;
	return note_add(dir, dentry);
}

/*
 * Reports the noted add if the call was about `dentry` (0: whichever was noted) and worked;
 * `made` names the new entry when the call handed back another dentry for it (0: the noted one).
 */
static __always_inline void on_added(__u64 dentry, __u64 made, bool ok, __u16 fallback)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_add *pp = bpf_map_lookup_elem(&pending_adds, &tid);
	struct pending_add p;
	struct scratch *s;
	struct fim_event *e;
	bool trunc = false;

	/* another entry made inside the noted call (overlayfs makes the upper one): not ours */
	if (!pp || (dentry && pp->dentry != dentry))
		return;
	p = *pp;
	bpf_map_delete_elem(&pending_adds, &tid);
	if (!ok)
		return;
	s = begin_change(FIM_OP_ADD, current_syscall(fallback));
	if (!s)
		return;
	e = EV(s);
	if (made)
		p.dentry = made;
	set_inode(e, KREAD(struct dentry, (struct dentry *)p.dentry, d_inode));
	e->path_len = put_path(s, 0, (struct dentry *)p.dentry, (struct vfsmount *)p.mnt, &trunc);
	if (trunc)
		e->flags |= FIM_F_PATH_TRUNC;
	e->flags |= p.event_flags;
	put_process(s, bpf_get_current_task_btf());
	submit(s);
}

SEC("fexit/vfs_mkdir")
int mkdired(unsigned long long *ctx)
{
	__u64 dentry = 0, ret = 0;

	bpf_get_func_arg(ctx, 2, &dentry);
	if (!targ_mkdir_returns_dentry) {
		on_added(dentry, 0, returned_zero(ctx), FIM_SC_MKDIRAT);
		return 0;
	}
	/* the dentry made, maybe another one for the same name, or an ERR_PTR */
	bpf_get_func_ret(ctx, &ret);
	on_added(dentry, ret, ret && ret < (__u64)-4095, FIM_SC_MKDIRAT);
	return 0;
}

SEC("fexit/vfs_symlink")
int symlinked(unsigned long long *ctx)
{
	__u64 dentry = 0;

	bpf_get_func_arg(ctx, 2, &dentry);
	on_added(dentry, 0, returned_zero(ctx), FIM_SC_SYMLINKAT);
	return 0;
}

SEC("fexit/vfs_link")
int linked(unsigned long long *ctx)
{
	__u64 dentry = 0;

	bpf_get_func_arg(ctx, 3, &dentry);
	on_added(dentry, 0, returned_zero(ctx), FIM_SC_LINKAT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mknod")
int mknod_exit(struct trace_event_raw_sys_exit *ctx)
{
	on_added(0, 0, ctx->ret == 0, FIM_SC_MKNOD);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mknodat")
int mknodat_exit(struct trace_event_raw_sys_exit *ctx)
{
	on_added(0, 0, ctx->ret == 0, FIM_SC_MKNODAT);
	return 0;
}
