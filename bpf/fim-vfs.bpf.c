// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fim-whodata kernel sensor, fentry backend: the programs that replace the syscall
 * tracepoints' name-based view of a delete with the kernel's own objects.
 *
 * The loader loads this object next to the tracepoint sensor (bpf/fim.bpf.c), gives it that
 * sensor's maps (one ring buffer, one watch list) and leaves out the sensor's unlink, unlinkat
 * and rmdir programs. Everything else (opens, modify tracking, renames, attributes) stays with
 * the tracepoints, which already see real struct files for those or resolve names well enough.
 *
 * What a delete gains here, where a tracepoint only has the caller's string:
 *  - the real parent (struct path) the kernel resolved, so a name that reaches a watched
 *    directory through a symlink outside it, or through a bind mount, is matched and reported
 *    under its canonical path on every kernel (the tracepoint sensor needs 6.13+ for that);
 *  - the inode, its device and its type, read before it goes away.
 *
 * Two steps, because neither hook alone knows everything: security_path_unlink/rmdir (fentry)
 * has the parent's mount, which the path needs, but runs before the kernel tries; vfs_unlink/
 * vfs_rmdir (fexit) knows whether the entry went away. The first notes the dentry it was asked
 * about, per thread; the second reports that dentry if it is the one it removed.
 */
#include "fim-common.h"

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
	struct vfsmount *mnt = KREAD(struct path, dir, mnt);
	struct pending_delete p = { .dentry = (__u64)dentry, .mnt = (__u64)mnt };
	struct inode *ino = KREAD(struct dentry, dentry, d_inode);

	if (!ino || !dentry_watched(dentry, mnt)) {
		bpf_map_delete_elem(&pending_deletes, &tid);
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

/* x86_64 numbers; io_uring's IORING_OP_UNLINKAT (no syscall of its own) is unlinkat */
static __always_inline __u16 delete_syscall(struct task_struct *t)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);

	switch (regs->orig_ax) {
	case 84:
		return FIM_SC_RMDIR;
	case 87:
		return FIM_SC_UNLINK;
	default:
		return FIM_SC_UNLINKAT;
	}
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
	struct task_struct *t;
	struct scratch *s;
	struct fim_event *e;
	struct who w;
	__u64 dentry = 0, ret = 0;
	bool trunc = false;

	if (!pp)
		return 0;
	bpf_get_func_arg(ctx, 2, &dentry);
	/* another file removed inside the noted call (overlayfs removes the upper one): not ours */
	if (pp->dentry != dentry)
		return 0;
	p = *pp;
	bpf_map_delete_elem(&pending_deletes, &tid);
	bpf_get_func_ret(ctx, &ret);
	if ((int)ret != 0)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	t = bpf_get_current_task_btf();
	e = begin_event(s, FIM_OP_DELETE, delete_syscall(t));
	fill_who(&w, t);
	who_to_event(e, &w);
	put_inode_ids(e, &p.ids);
	/* the removed dentry keeps its name and parent while the caller holds it */
	e->path_len = put_path(s, 0, (struct dentry *)p.dentry, (struct vfsmount *)p.mnt, &trunc);
	if (trunc)
		e->flags |= FIM_F_PATH_TRUNC;
	put_exe(s, t);
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
