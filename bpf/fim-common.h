/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every backend's BPF object shares: the maps the loader drives (ring buffer, watch
 * tables, statistics, the writer tracking of the tracepoint sensor), the per-CPU scratch, and
 * the code that decides whether a dentry is watched, names it, and fills and sends a record
 * with the acting task's whodata. bpf/fim.bpf.c (syscall tracepoints) and bpf/fim-vfs.bpf.c
 * (fentry/fexit on VFS and security functions) each include it once; the loader gives the
 * second object the first one's maps, so both feed one ring buffer from one watch list.
 */
#ifndef FIM_COMMON_H
#define FIM_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "fim.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200
#define O_ACCMODE 00000003
#define O_RDONLY 00000000
#define O_WRONLY 00000001
#define O_CREAT 00000100
#define O_TRUNC 00001000
#define __O_TMPFILE 020000000
#define O_PATH 010000000
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000
#define S_IFMT 00170000
#define S_IFDIR 0040000
#define S_IFREG 0100000
#define S_IFLNK 0120000
#define RENAME_EXCHANGE 2
#define UTIME_NOW ((1l << 30) - 1l)

#define PATH_MASK (FIM_PATH_MAX - 1)
/* The data area is larger than the 3 x 4095 + 1023 bytes a record can carry so that every
 * masked write (offset & DATA_MASK, length & PATH_MASK) stays inside it. */
#define DATA_MASK 16383
#define DATA_AREA (DATA_MASK + 1 + FIM_PATH_MAX)
#define REC_MAX (sizeof(struct fim_event) + 3 * (FIM_PATH_MAX - 1) + FIM_CMDLINE_MAX - 1)

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

/*
 * KREAD(type, p, field): one field of a kernel object, on the paths every event takes.
 * Where the kernel has bpf_rdonly_cast (6.2+) it turns the address into a read-only typed
 * pointer (the verifier inlines the call) and the read is a plain load with fault handling:
 * about 35-40% less time per event than a bpf_probe_read_kernel call per field. The loader
 * picks the object built with FIM_COMPAT on older kernels.
 */
#ifdef FIM_COMPAT
#define KREAD(type, p, field) ({ type *__kp = (type *)(p); BPF_CORE_READ(__kp, field); })
#else
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define KREAD(type, p, field) \
	(((type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))->field)
#endif

#ifndef READ_ONCE
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#endif

const volatile __u32 targ_loader_tgid = 0;
const volatile __u64 targ_wakeup_bytes = 2 << 20;

/* Shared by all CPUs, racy on purpose: it only paces wake-ups. When the loader last read the
 * ring, or 0 while it sleeps until a record wakes it (see submit()). */
__u64 last_wake_ns;
/* How late a busy stream's read may be before a record wakes the loader (see submit()): set by
 * the loader, which reads such a stream at intervals that grow under a heavy one. */
__u64 wakeup_gap_ns;
/* the most bytes seen waiting in the ring buffer (this record included) since the loader last
 * took the figure for its stats record; racy like last_wake_ns, it is a gauge */
__u64 ringbuf_used_max;
/* The loader's task (it has one thread), noted when it registers a watch: whether it is on a
 * CPU, or waiting for one, when a busy stream's read is late (see submit()). 0 until then, and
 * in the fentry object, whose records then wake it as before. */
__u64 loader_task;

/*
 * Per-CPU scratch: the record being built, and the dentry chain of the last walk up the tree:
 * each component's name pointer and length, leaf first. The names are read only once the walk
 * has decided the file is watched, straight into their place in the record.
 *
 *   rec:   [ fim_event | path ... | old_path ... | exe ... |  slack for masked writes ]
 *   links: [ app.log | log | var ]   ->   "/var/log/app.log", written from its end leftwards
 */
/* Executable path of a process, for put_exe(); paths of 256 bytes or more are not cached. */
struct exe_cached {
	__u64 exe_file;
	__u32 len;
	__u32 tgid;
	char path[256];
};

struct verdict_key {
	__u64 dentry;
	__u64 mnt;
};

struct verdict {
	__u64 inode;
	__u64 parent;
	__u64 mountpoint;
	__u64 parent_mount;
	__u32 generation;
	__u32 watched; /* enum dir_verdict */
};

/*
 * What a directory's walk found. Two kinds of unwatched directory are told apart, for a watched
 * root deleted (or moved away) and made again, which the kernel watches only once the loader
 * has read the change that made it and registered the new inode:
 *  - DIR_HOLDS_ROOT: the directory that holds a watched root (/etc for a watch on /etc/passwd).
 *    A new entry there may be that root made again, which only its name tells;
 *  - DIR_AT_ROOT_NAME: a directory with a watched root's name in that directory, not (yet) the
 *    watched inode: the root made again, most likely, and what is made in it meanwhile is sent.
 * The loader keeps what either sends only if its path is under a watched one
 * (FIM_F_ROOT_CANDIDATE); everything else in those directories stays unwatched.
 */
enum dir_verdict { DIR_UNWATCHED = 0, DIR_WATCHED = 1, DIR_HOLDS_ROOT = 2, DIR_AT_ROOT_NAME = 3 };

/* What a file's path depends on, read before it is walked. */
struct path_id {
	__u64 dentry, mnt;
	__u64 parent, name, hash_len; /* a rename changes one of these */
	__u32 generation;             /* a directory above moved */
	__u32 _pad;
};

/*
 * The last file path this CPU put in a record, for the next record about the same file: an
 * open's `add` is followed by its close's `modify`, and every close of a tracked file names it
 * again. Paths of 256 bytes or more are not kept.
 */
struct path_cached {
	struct path_id id;
	__u32 len;
	__u32 _pad;
	char path[256];
};

struct chain_link {
	const unsigned char *name;
	__u32 len; /* at most 255 */
	__u32 _pad;
};

/* How much of a process's arguments put_cmdline() compares to see them rewritten, and how
 * long after it last did it takes them as unchanged. */
#define CMDLINE_HEAD_WORDS 4
#define CMDLINE_RECHECK_NS 100000ULL

struct scratch {
	struct exe_cached exe; /* this CPU's last executable named, and staging for exe_cache */
	__u8 rec[sizeof(struct fim_event) + DATA_AREA];
	struct chain_link links[FIM_MAX_PATH_COMPONENTS];
	/* the last walk's counts (see struct walk), in map memory so that the verifier treats
	 * them as bounded unknowns instead of following every value through the loop */
	__u32 n, fit, bytes, trunc;
	__u32 end; /* copy_step's position */
	__u32 _pad;
	struct fim_prefix_key key;
	struct verdict_key verdict_key; /* dir_walk_verdict()'s argument */
	struct verdict verdict;         /* and the verdict it stores */
	__u64 regs_probe;               /* task_regs()' first call */
	struct path_id walked;          /* the file the last walk_file() named */
	struct path_cached last_path;
	/* the directory of the last file named by a walk: its next file in the same directory
	 * (a create after a create) is named without walking the directory up again */
	struct path_cached last_dir;
	/* the verdict dir_watched() took from the map last (not in the compatible object) */
	struct verdict_key last_verdict_key;
	struct verdict last_verdict;
	/* the last process is_writer() found in writer_tgids, while writers_removed + 1 was
	 * writer_known_gen (tracepoint object only) */
	__u32 writer_known, writer_known_gen;
	/* the process whose command line this CPU's last delivered record carried (put_cmdline()):
	 * its pid, its memory, where its arguments lie there, how they began and when they were
	 * last found so; pid 0 is none */
	__u32 cmdline_pid, cmdline_trunc;
	__u64 cmdline_mm, cmdline_start, cmdline_end;
	__u64 cmdline_head[CMDLINE_HEAD_WORDS];
	__u64 cmdline_checked_ns;
	__u64 cmdline_head_now[CMDLINE_HEAD_WORDS]; /* cmdline_rewritten()'s read of them */
};

#define EV(s) ((struct fim_event *)(s)->rec)
#define DATA(s) ((char *)(s)->rec + sizeof(struct fim_event))

/* Identity of a writer, kept with each tracked file for the periodic check. */
struct who {
	__u64 cgroup_id;
	/*
	 * When the process started (its thread-group leader's start_boottime; a thread that execs
	 * inherits it as the new leader): with pid, it names one process, the writer rather than a
	 * later process that got its pid, and the record carries it so that the reader can tell
	 * the same without asking /proc. The process's, not the acting thread's, since pid is too.
	 */
	__u64 process_start_ns;
	__u32 pid, tid, ppid, uid, gid, euid, egid, auid, ses;
	__u32 _pad;
	char comm[FIM_COMM_LEN];
};

/*
 * What "the content changed" is judged by. Not ctime: chmod, chown and xattrs move it too and
 * are `attrib`, not `modify`. The file offset catches a same-size overwrite within one
 * timestamp tick for files opened write-only (a read would move it too otherwise).
 */
struct inode_snap {
	__s64 size;
	__s64 mtime_sec;
	__u32 mtime_nsec;
	__u32 _pad;
	__s64 pos; /* -1: not compared */
};

struct wfile {
	__u64 inode; /* address, checked against the file on every use */
	__u64 dentry, mnt; /* to name the file after it was closed behind our back */
	__u64 ino;
	__u32 dev;
	__u16 mode;
	__u8 dead;
	__u8 pos_tracked; /* opened write-only: the offset says whether it was written */
	struct inode_snap snap;
	struct who who;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by the loader */
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fim_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);   /* struct inode * of a watched directory or file */
	__type(value, __u32); /* watch id */
} watch_inodes SEC(".maps");

/* The parent directories of the watched roots (pinned by the loader's fd as those are): see
 * DIR_HOLDS_ROOT */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);   /* struct inode * */
	__type(value, __u32); /* unused */
} root_parents SEC(".maps");

/*
 * The watched roots' names in those directories, as the dentry cache hashes them (the hash is
 * salted with the parent dentry, which the loader pins): see DIR_AT_ROOT_NAME.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fim_root_name);
	__type(value, __u32); /* watch id */
} root_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fim_prefix_key);
	__type(value, __u32);
} watch_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fim_watch_reg);
} watch_reg SEC(".maps");

/*
 * The generation of what a remembered verdict (is this directory under a watched path?)
 * depends on: the loader adds one when the watch list changes, the rename hooks when a
 * directory may have moved (its subtree moves with it). One counter in a map both objects
 * share, so that a rename seen by the fentry programs also retires the verdicts the tracepoint
 * programs use; the loader maps it and adds atomically.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
} tree_generation SEC(".maps");

static __always_inline __u32 tree_gen(void)
{
	__u32 z = 0;
	__u32 *g = bpf_map_lookup_elem(&tree_generation, &z);

	return g ? *(volatile __u32 *)g : 0;
}

static __always_inline void tree_changed(void)
{
	__u32 z = 0;
	__u32 *g = bpf_map_lookup_elem(&tree_generation, &z);

	if (g)
		__sync_fetch_and_add(g, 1);
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct file * */
	__type(value, struct wfile);
} wfiles SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tgid */
	__type(value, struct exe_cached);
} exe_cache SEC(".maps");

static __always_inline void stat_inc(int i)
{
	__u32 z = 0;
	struct fim_stats *st = bpf_map_lookup_elem(&stats, &z);

	if (st && i >= 0 && i < FIM_STAT_MAX)
		st->n[i]++;
}

/*
 * copy_cached(dst, src, len): a cached path of len (< 256) bytes from one place in map memory
 * to another (the scratch record, last_path, the exe caches), 8 bytes a step: a few loads and
 * stores instead of a bpf_probe_read_kernel call (~30 ns with the helper's own checks), on
 * every record that names an executable or a file again. dst and src must each have 256 bytes
 * from there: up to 7 bytes past dst + len are overwritten. The compatible object (kernels
 * before 6.2) keeps the helper call.
 */
#ifdef FIM_COMPAT
#define copy_cached(dst, src, len) bpf_probe_read_kernel((dst), (len) & 255, (src))
#else
#define copy_cached(dst, src, len)                                                          \
	do {                                                                                \
		__u32 __len = (len) & 255;                                                  \
		char *__dst = (char *)(dst);                                                \
		const char *__src = (const char *)(src);                                    \
		for (__u32 __i = 0; __i < 256 / 8; __i++) {                                 \
			if (__i * 8 >= __len)                                               \
				break;                                                      \
			*(volatile __u64 *)(__dst + __i * 8) = *(const __u64 *)(__src + __i * 8); \
		}                                                                           \
	} while (0)
#endif

static __always_inline struct scratch *get_scratch(void)
{
	__u32 z = 0;

	return bpf_map_lookup_elem(&scratch_map, &z);
}

/*
 * task_regs(t): the user registers task t saved at syscall entry, where the syscall's arguments
 * are read back. On x86_64 they sit at a fixed offset from the task's stack page, which depends
 * on the kernel's build (THREAD_SIZE, FRED's padding): it is learnt from bpf_task_pt_regs() on
 * the first call and reused, so the registers cost a load instead of a helper call. A call
 * costs ~15 ns on a CPU whose kernel sends every return through the SRSO return thunk, and the
 * open and timestamp hooks run for every open and every ctime update of the machine.
 */
#ifdef FIM_COMPAT
#define task_regs(t) ((struct pt_regs *)bpf_task_pt_regs(t))
#else
__u64 task_regs_offset;

static __always_inline struct pt_regs *task_regs(struct task_struct *t)
{
	__u64 stack = (__u64)KREAD(struct task_struct, t, stack);
	__u64 off = task_regs_offset;
	struct scratch *s;

	if (!off) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);

		/* a pointer stored and read back is a number the verifier lets us subtract */
		s = get_scratch();
		if (!s)
			return regs;
		*(volatile __u64 *)&s->regs_probe = (__u64)regs;
		off = *(volatile __u64 *)&s->regs_probe - stack;
		if (off == 0 || off >= 65536) /* not a stack offset: learn it another time */
			return regs;
		task_regs_offset = off;
	}
	return bpf_rdonly_cast((void *)(stack + off), bpf_core_type_id_kernel(struct pt_regs));
}
#endif

static __always_inline struct mount *real_mount(struct vfsmount *vm)
{
	return (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
}

static __always_inline struct file *fd_to_file(struct task_struct *t, long fd)
{
	struct files_struct *files = t->files;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;

	if (fd < 0 || !files)
		return NULL;
	fdt = files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
#ifdef FIM_COMPAT
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
#else
	/* The slot holds one pointer: read as the one pointer field of a struct llist_node, it
	 * is a load rather than a helper call, on every close of a writer and open for write. */
	f = (struct file *)KREAD(struct llist_node, (__u64)fds + (__u64)fd * sizeof(*fds), next);
#endif
	return f;
}

/* ---- walking a dentry up to the root: is it watched, and what is its name ---------------- */

/*
 * Where a walk up the dentry tree stands. m is NULL for a walk that knows no mount (it stops
 * at the root of the dentry's filesystem).
 */
struct walk_pos {
	struct dentry *d;
	struct mount *m;
	struct dentry *mroot;
};

/*
 * The step up from the root of a mount (d is its root, or its own parent) to the mountpoint
 * in the parent mount. Returns false at the top: the namespace root, or the filesystem root
 * of a walk without a mount.
 */
static __always_inline bool cross_mount(struct walk_pos *p, struct dentry *parent)
{
	struct mount *mp;

	if (!p->m)
		return p->d != parent;
	mp = KREAD(struct mount, p->m, mnt_parent);
	if (mp == p->m)
		return false;
	p->d = KREAD(struct mount, p->m, mnt_mountpoint);
	p->m = mp;
	p->mroot = KREAD(struct mount, mp, mnt.mnt_root);
	return true;
}

static __always_inline bool at_mount_root(const struct walk_pos *p, struct dentry *parent)
{
	return p->d == parent || (p->m && p->d == p->mroot);
}

/*
 * One walk serves both questions an fd event asks: each ancestor's inode is looked up in
 * watch_inodes until one matches (only while `look` is set: a walk that only names skips it),
 * and each component's name is noted in s->links (unless s is NULL: a walk that only looks
 * stops at the match). The bytes a path slot can hold are counted on the way: s->fit links
 * from the leaf make s->bytes bytes, a '/' each included; s->n links were noted in all.
 */
struct walk {
	struct walk_pos p;
	struct scratch *s;
	__u32 look; /* still looking for a watched ancestor */
	__u32 hit;  /* the watch id found, 0 when none */
	__u32 done; /* reached the top */
	__u32 recalled; /* not walked: the path, of this length, was put in place from last_dir */
};

static long walk_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	struct scratch *s = w->s;
	struct dentry *parent;
	struct chain_link *l;
	__u32 n, len;

	if (w->look) {
		__u64 key = (__u64)KREAD(struct dentry, w->p.d, d_inode);
		__u32 *id = bpf_map_lookup_elem(&watch_inodes, &key);

		if (id) {
			w->hit = *id;
			w->look = 0;
			if (!s)
				return 1;
		}
	}
	parent = KREAD(struct dentry, w->p.d, d_parent);
	if (at_mount_root(&w->p, parent)) {
		if (cross_mount(&w->p, parent))
			return 0;
		w->done = 1;
		return 1;
	}
	if (!s) {
		w->p.d = parent;
		return 0;
	}
	n = s->n;
	if (n >= FIM_MAX_PATH_COMPONENTS)
		return 1;
	len = KREAD(struct dentry, w->p.d, d_name.len);
	if (len > 255)
		len = 255;
	/* a path is at most FIM_PATH_MAX - 1 bytes; only the leaf side of a longer one is kept */
	if (!s->trunc && s->bytes + len + 1 <= FIM_PATH_MAX - 1) {
		s->bytes += len + 1;
		s->fit = n + 1;
	} else {
		s->trunc = 1;
		if (!w->look)
			return 1; /* nothing more to learn: the name is cut here */
	}
	l = &s->links[n];
	l->name = KREAD(struct dentry, w->p.d, d_name.name);
	l->len = len;
	s->n = n + 1;
	w->p.d = parent;
	return 0;
}

/* Walks (d, vm) up to the root; returns the watch id of its nearest watched ancestor (look). */
static __always_inline __u32 walk_up(struct walk *w, struct scratch *s, struct dentry *d,
				     struct vfsmount *vm, bool look)
{
	__builtin_memset(w, 0, sizeof(*w));
	if (s) {
		s->n = 0;
		s->fit = 0;
		s->bytes = 0;
		s->trunc = 0;
	}
	if (!d || !vm)
		return 0;
	w->p.d = d;
	w->p.m = real_mount(vm);
	w->p.mroot = KREAD(struct vfsmount, vm, mnt_root);
	w->s = s;
	w->look = look;
	bpf_loop(FIM_MAX_PATH_COMPONENTS, walk_step, w, 0);
	return w->hit;
}

static __always_inline bool dentry_watched(struct dentry *d, struct vfsmount *vm)
{
	struct walk w;

	return walk_up(&w, NULL, d, vm, true) != 0;
}

/*
 * The verdict of a directory's walk, per (dentry, mount): the same dentry seen through another
 * mount (a bind mount) walks up another way. It is stale when the watch list changes or a
 * directory moves (both bump tree_generation), or when the dentry or the mount was freed and
 * its memory reused for another (what the walk started from is kept to tell: the dentry's inode
 * and parent, where the mount is mounted). Not noticed: a mount above that one moved elsewhere
 * (mount --move), until the watch list changes or the verdict is pushed out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct verdict_key);
	__type(value, struct verdict);
} verdicts SEC(".maps");

/* What the verdict on (dir, mnt) is checked against, read before any walk: a change of the
 * watch list during it makes the verdict stale. */
static __always_inline void verdict_basis(struct verdict *v, struct dentry *dir, struct vfsmount *mnt)
{
	struct mount *m = real_mount(mnt);

	v->generation = tree_gen();
	v->inode = (__u64)KREAD(struct dentry, dir, d_inode);
	v->parent = (__u64)KREAD(struct dentry, dir, d_parent);
	v->mountpoint = (__u64)KREAD(struct mount, m, mnt_mountpoint);
	v->parent_mount = (__u64)KREAD(struct mount, m, mnt_parent);
	v->watched = 0;
}

/*
 * The walk and the new verdict, in a global function: the verifier checks it once per program,
 * not once per call site (the open and fd hooks have several), which keeps loading quick. Its
 * arguments come through the scratch: a global function takes no kernel pointers.
 */
__noinline int dir_walk_verdict(void)
{
	struct scratch *s = get_scratch();
	struct dentry *dir;
	struct vfsmount *mnt;

	if (!s)
		return DIR_WATCHED; /* cannot happen; "watched" makes the caller walk */
	dir = (struct dentry *)s->verdict_key.dentry;
	mnt = (struct vfsmount *)s->verdict_key.mnt;
	verdict_basis(&s->verdict, dir, mnt);
	s->verdict.watched = dentry_watched(dir, mnt) ? DIR_WATCHED : DIR_UNWATCHED;
	if (!s->verdict.watched) {
		struct dentry *parent = (struct dentry *)s->verdict.parent;
		struct fim_root_name name = {
			.parent_inode = (__u64)KREAD(struct dentry, parent, d_inode),
			.hash_len = KREAD(struct dentry, dir, d_name.hash_len),
		};

		if (bpf_map_lookup_elem(&root_parents, &s->verdict.inode))
			s->verdict.watched = DIR_HOLDS_ROOT;
		else if (parent != dir && bpf_map_lookup_elem(&root_names, &name))
			s->verdict.watched = DIR_AT_ROOT_NAME;
	}
	bpf_map_update_elem(&verdicts, &s->verdict_key, &s->verdict, BPF_ANY);
	return s->verdict.watched;
}

static __always_inline bool verdict_holds(const struct verdict *v, const struct verdict *now)
{
	return v->generation == now->generation && v->inode == now->inode && v->parent == now->parent &&
	       v->mountpoint == now->mountpoint && v->parent_mount == now->parent_mount;
}

/*
 * What is dir (seen through mnt): under a watched path, holding a watched root, or neither
 * (enum dir_verdict)? The verdict this CPU used last, then the remembered one, then a walk. Most changes come in a row in one directory (a create, its
 * close, a rename, a delete): the CPU's own copy answers them without the hash lookup (~40 ns).
 */
static __always_inline int dir_verdict(struct dentry *dir, struct vfsmount *mnt)
{
	struct verdict_key k = { .dentry = (__u64)dir, .mnt = (__u64)mnt };
	struct scratch *s = get_scratch();
	struct verdict *v;
	struct verdict now;

	verdict_basis(&now, dir, mnt);
#ifndef FIM_COMPAT
	if (s && s->last_verdict_key.dentry == k.dentry && s->last_verdict_key.mnt == k.mnt &&
	    verdict_holds(&s->last_verdict, &now))
		return s->last_verdict.watched;
#endif
	v = bpf_map_lookup_elem(&verdicts, &k);
	if (v && verdict_holds(v, &now)) {
#ifndef FIM_COMPAT
		if (s) {
			s->last_verdict_key = k;
			s->last_verdict = *v;
		}
#endif
		return v->watched;
	}
	if (!s)
		return DIR_WATCHED;
	s->verdict_key = k;
	return dir_walk_verdict();
}

/* Is dir (seen through mnt) under a watched path? */
static __always_inline bool dir_watched(struct dentry *dir, struct vfsmount *mnt)
{
	return dir_verdict(dir, mnt) == DIR_WATCHED;
}

struct name_copy {
	struct scratch *s;
	__u32 off; /* where the path starts in DATA(s) */
};

/* Component i, leaf first, ends at s->end (relative to off); the '/' before it is written too. */
static long copy_step(__u32 i, void *ctx)
{
	struct name_copy *c = ctx;
	struct scratch *s = c->s;
	struct chain_link *l;
	__u32 len, end = s->end;

	if (i >= FIM_MAX_PATH_COMPONENTS)
		return 1;
	l = &s->links[i];
	len = l->len & 255;
	if (end < len + 1 || end > FIM_PATH_MAX)
		return 1;
	end -= len;
	bpf_probe_read_kernel(DATA(s) + ((c->off + end) & DATA_MASK), len, l->name);
	end--;
	DATA(s)[(c->off + end) & DATA_MASK] = '/';
	s->end = end;
	return 0;
}

/*
 * Writes the path the last walk_up() with s found at DATA(s)[off] and returns its length; the
 * root directory itself yields length 0 (callers print it as "/"). Sets *trunc when cut.
 */
static __always_inline __u32 put_walked_path(struct scratch *s, __u32 off, const struct walk *w,
					     bool *trunc)
{
	struct name_copy c = { .s = s, .off = off };
	__u32 fit = s->fit;

	if (s->trunc || (!w->done && s->n))
		*trunc = true;
	s->end = s->bytes;
	if (fit > FIM_MAX_PATH_COMPONENTS)
		fit = FIM_MAX_PATH_COMPONENTS;
	bpf_loop(fit, copy_step, &c, 0);
	return s->bytes & PATH_MASK;
}

static __always_inline __u32 put_path(struct scratch *s, __u32 off, struct dentry *d,
				      struct vfsmount *vm, bool *trunc)
{
	struct walk w;

	walk_up(&w, s, d, vm, false);
	return put_walked_path(s, off, &w, trunc);
}

/* ---- record assembly ------------------------------------------------------------------ */

/* Identity of task t: the caller, or another task when seeding from the task_file iterator. */
static __always_inline void fill_who(struct who *w, struct task_struct *t)
{
	const struct cred *cred = KREAD(struct task_struct, t, cred);
	struct task_struct *parent = KREAD(struct task_struct, t, real_parent);
	struct task_struct *leader = KREAD(struct task_struct, t, group_leader);
	struct css_set *cgroups = KREAD(struct task_struct, t, cgroups);
	struct cgroup *cg = KREAD(struct css_set, cgroups, dfl_cgrp);
	struct kernfs_node *kn = KREAD(struct cgroup, cg, kn);

	w->pid = KREAD(struct task_struct, t, tgid);
	w->tid = KREAD(struct task_struct, t, pid);
	w->ppid = KREAD(struct task_struct, parent, tgid);
	w->uid = KREAD(struct cred, cred, uid.val);
	w->gid = KREAD(struct cred, cred, gid.val);
	w->euid = KREAD(struct cred, cred, euid.val);
	w->egid = KREAD(struct cred, cred, egid.val);
	w->auid = FIM_UNSET_ID;
	w->ses = FIM_UNSET_ID;
	if (bpf_core_field_exists(t->loginuid)) {
		w->auid = KREAD(struct task_struct, t, loginuid.val);
		w->ses = KREAD(struct task_struct, t, sessionid);
	}
	w->cgroup_id = KREAD(struct kernfs_node, kn, id);
	/* start_boottime came with Linux 5.5, before the ring buffer (5.8) this sensor needs */
	w->process_start_ns = KREAD(struct task_struct, leader, start_boottime);
#ifdef FIM_COMPAT
	bpf_probe_read_kernel_str(w->comm, sizeof(w->comm), &t->comm);
#else
	/* two loads rather than a helper call; the kernel keeps comm NUL-terminated */
	__builtin_memcpy(w->comm, KREAD(struct task_struct, t, comm), sizeof(w->comm));
#endif
}

static __always_inline void who_to_event(struct fim_event *e, const struct who *w)
{
	e->pid = w->pid;
	e->tid = w->tid;
	e->ppid = w->ppid;
	e->uid = w->uid;
	e->gid = w->gid;
	e->euid = w->euid;
	e->egid = w->egid;
	e->auid = w->auid;
	e->ses = w->ses;
	e->cgroup_id = w->cgroup_id;
	e->process_start_ns = w->process_start_ns;
	__builtin_memcpy(e->comm, w->comm, sizeof(e->comm));
}

static __always_inline struct fim_event *begin_event(struct scratch *s, __u16 op, __u16 sc)
{
	struct fim_event *e = EV(s);

	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	e->op = op;
	e->syscall = sc;
	e->flags = 0;
	e->ino = 0;
	e->dev = 0;
	e->mode = 0;
	e->path_len = 0;
	e->old_path_len = 0;
	e->exe_len = 0;
	e->cmdline_len = 0;
	return e;
}

/* What a record says about an inode, read while the inode is certain to exist. */
struct inode_ids {
	__u64 ino;
	__u32 dev;
	__u16 mode;
	__u16 _pad;
};

static __always_inline void read_inode_ids(struct inode *ino, struct inode_ids *id)
{
	struct super_block *sb = KREAD(struct inode, ino, i_sb);

	id->ino = KREAD(struct inode, ino, i_ino);
	id->dev = KREAD(struct super_block, sb, s_dev);
	id->mode = KREAD(struct inode, ino, i_mode);
}

static __always_inline void put_inode_ids(struct fim_event *e, const struct inode_ids *id)
{
	e->ino = id->ino;
	e->dev = id->dev;
	e->mode = id->mode;
	e->flags |= FIM_F_INODE;
}

static __always_inline void set_inode(struct fim_event *e, struct inode *ino)
{
	struct inode_ids id;

	if (!ino)
		return;
	read_inode_ids(ino, &id);
	put_inode_ids(e, &id);
}

static __always_inline void put_exe(struct scratch *s, struct task_struct *t)
{
	struct fim_event *e = EV(s);
	struct mm_struct *mm = KREAD(struct task_struct, t, mm);
	struct file *exe;
	bool trunc = false;
	__u32 off = e->path_len + e->old_path_len;
	__u32 tgid;
	struct exe_cached *c, *x;

	if (!mm)
		return; /* kernel thread */
	exe = KREAD(struct mm_struct, mm, exe_file);
	if (!exe)
		return;
	e->flags |= FIM_F_EXE;
	/* A process makes its changes in bursts: name its executable once per exec. The
	 * struct file of the exe is new at every exec, so it tells a stale entry. */
	tgid = KREAD(struct task_struct, t, tgid);
	x = &s->exe; /* most events on a CPU come from the process of the one before */
	if (x->tgid == tgid && x->exe_file == (__u64)exe && x->len < sizeof(x->path)) {
		copy_cached(DATA(s) + (off & DATA_MASK), x->path, x->len);
		e->exe_len = x->len;
		return;
	}
	c = bpf_map_lookup_elem(&exe_cache, &tgid);
	if (c && c->exe_file == (__u64)exe && c->len < sizeof(c->path)) {
		copy_cached(DATA(s) + (off & DATA_MASK), c->path, c->len);
		e->exe_len = c->len;
		__builtin_memcpy(x, c, sizeof(*x));
		x->tgid = tgid;
		return;
	}
	e->exe_len = put_path(s, off, KREAD(struct file, exe, f_path.dentry),
			      KREAD(struct file, exe, f_path.mnt), &trunc);
	if (trunc) {
		e->flags |= FIM_F_EXE_TRUNC;
		return;
	}
	if (e->exe_len < sizeof(c->path)) {
		x->tgid = tgid;
		x->exe_file = (__u64)exe;
		x->len = e->exe_len;
		copy_cached(x->path, DATA(s) + (off & DATA_MASK), e->exe_len);
		bpf_map_update_elem(&exe_cache, &tgid, x, BPF_ANY);
	}
}

/*
 * Has the process rewritten the arguments the record would be named by? A daemon that retitles
 * itself (setproctitle: sshd, postgres, nginx) writes its new title over them in place, where
 * neither its memory nor their place changes, and the title begins differently. Looked at
 * again only CMDLINE_RECHECK_NS after the last look on this CPU: a reading of user memory costs
 * 40-110 ns here, which a burst of records then pays once, and an isolated record every time.
 */
static __always_inline bool cmdline_rewritten(struct scratch *s, const struct fim_event *e, __u64 start,
					      __u64 head)
{
	__u64 diff = 0;

	if (e->ts_boot_ns - s->cmdline_checked_ns < CMDLINE_RECHECK_NS)
		return false;
	for (int i = 0; i < CMDLINE_HEAD_WORDS; i++)
		s->cmdline_head_now[i] = 0;
	if (bpf_probe_read_user(s->cmdline_head_now, head, (const void *)start))
		return false; /* paged out: nothing says they changed */
	for (int i = 0; i < CMDLINE_HEAD_WORDS; i++)
		diff |= s->cmdline_head[i] ^ s->cmdline_head_now[i];
	if (!diff)
		s->cmdline_checked_ns = e->ts_boot_ns;
	return diff != 0;
}

/*
 * The command line, read from the acting process's memory during the call: a process gone
 * before anyone could read /proc/PID/cmdline (a shell one-liner appending to
 * authorized_keys, `sed -i`, a script's `cp`) is still named by how it was run. Only the
 * current process's memory can be read here, so a record about another process (the writer
 * of a file found by the periodic check) carries none; neither does a process whose
 * arguments are paged out, since a tracepoint cannot fault them in. Records about watched
 * files only: nothing on the unwatched path.
 * Global (not inlined), for the stack: the open programs' is at the limit (6.12's verifier
 * refused them with these locals inlined), and this keeps them in a frame of its own. It finds
 * the record in this CPU's scratch and asks whose it is there, so that the callers keep nothing
 * alive across the call.
 */
__noinline int put_cmdline(void)
{
	struct scratch *s = get_scratch();
	struct task_struct *t = bpf_get_current_task_btf();
	struct mm_struct *mm = KREAD(struct task_struct, t, mm);
	struct fim_event *e;
	__u64 start, end, len, head;
	__u32 off;

	if (!s || !mm)
		return 0;
	e = EV(s);
	if (e->pid != bpf_get_current_pid_tgid() >> 32)
		return 0;
	start = KREAD(struct mm_struct, mm, arg_start);
	end = KREAD(struct mm_struct, mm, arg_end);
	len = end - start;
	if (!start || !len || len > (1u << 20)) /* not set up yet, or torn by a concurrent prctl */
		return 0;
	head = len < sizeof(s->cmdline_head) ? len : sizeof(s->cmdline_head);
	/* A process makes its changes in bursts: after the first record, the loader fills in what
	 * it already has, and the record stays as small as before (the ring holds as many). Its
	 * memory and the place of its arguments tell an exec, their beginning a new title. */
	if (s->cmdline_pid == e->pid && s->cmdline_mm == (__u64)mm && s->cmdline_start == start &&
	    s->cmdline_end == end && !cmdline_rewritten(s, e, start, head)) {
		e->flags |= FIM_F_CMDLINE_SAME | (s->cmdline_trunc ? FIM_F_CMDLINE_TRUNC : 0);
		return 0;
	}
	s->cmdline_pid = 0;
	if (len >= FIM_CMDLINE_MAX) {
		len = FIM_CMDLINE_MAX - 1;
		e->flags |= FIM_F_CMDLINE_TRUNC;
	}
	off = e->path_len + e->old_path_len + e->exe_len;
	if (bpf_probe_read_user(DATA(s) + (off & DATA_MASK), len & (FIM_CMDLINE_MAX - 1), (const void *)start)) {
		e->flags &= ~FIM_F_CMDLINE_TRUNC;
		return 0;
	}
	e->cmdline_len = len;
	e->flags |= FIM_F_CMDLINE;
	/* taken back by submit() if the record is not delivered */
	s->cmdline_pid = e->pid;
	s->cmdline_mm = (__u64)mm;
	s->cmdline_start = start;
	s->cmdline_end = end;
	s->cmdline_trunc = !!(e->flags & FIM_F_CMDLINE_TRUNC);
	/* how the bytes sent begin, for cmdline_rewritten() */
	s->cmdline_checked_ns = e->ts_boot_ns;
	for (int i = 0; i < CMDLINE_HEAD_WORDS; i++)
		s->cmdline_head[i] = 0;
	bpf_probe_read_kernel(s->cmdline_head, head, DATA(s) + (off & DATA_MASK));
	return 0;
}

/* Who the acting process is, beyond its ids: its executable and its command line. */
static __always_inline void put_process(struct scratch *s, struct task_struct *t)
{
	put_exe(s, t);
	put_cmdline();
}

/*
 * The bytes waiting in the ring buffer, what bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA)
 * answers: the producer position minus the consumer position, read in the helper's order
 * (consumer first, so that the difference cannot be negative) by loads instead of a helper
 * call, on every record. The compatible object keeps the helper.
 */
#ifdef FIM_COMPAT
#define ringbuf_pending() bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA)
#else
static __always_inline __u64 ringbuf_pending(void)
{
	struct bpf_ringbuf *r = KREAD(struct bpf_ringbuf_map, &rb, rb);
	__u64 cons = KREAD(struct bpf_ringbuf, r, consumer_pos);
	__u64 prod;

	asm volatile("" ::: "memory");
	prod = KREAD(struct bpf_ringbuf, r, producer_pos);
	return prod > cons ? prod - cons : 0;
}
#endif

/*
 * A busy stream's read is late (see submit()): is it coming without a wake-up? It is when the
 * loader is on a CPU or waits for one (TASK_RUNNING): still at its last batch, or its timer
 * expired while the tasks making the changes hold the CPUs. A wake-up would not bring that read
 * sooner, and costs the task making the change ~20 us of interrupt and scheduling here; the
 * loader's timer reads one read interval after it sleeps. Then the next look is paced as after a
 * wake-up, unless the loader said meanwhile that it sleeps for good (0), which the look after
 * the commit answers. A loader that sleeps for good is always woken. Global (not inlined): the
 * open programs' stack is at the 512-byte limit, and this runs only for a late read.
 */
__noinline int late_read_coming(__u64 now)
{
	struct task_struct *t = (struct task_struct *)READ_ONCE(loader_task);
	__u64 last = READ_ONCE(last_wake_ns);

	if (!t || !last || !bpf_core_field_exists(t->__state) || KREAD(struct task_struct, t, __state) != 0)
		return false;
	__sync_val_compare_and_swap(&last_wake_ns, last, now);
	return true;
}

static __always_inline void submit(struct scratch *s)
{
	struct fim_event *e = EV(s);
	/* asked before the rest is live, so that the call takes no stack of its own: the open
	 * programs' stack is at the limit */
	bool late = e->ts_boot_ns - READ_ONCE(last_wake_ns) >= READ_ONCE(wakeup_gap_ns) &&
		    !late_read_coming(e->ts_boot_ns);
	__u64 wake = BPF_RB_NO_WAKEUP;
	__u64 pending, size;

	/* A wake-up costs ~10 us of irq_work in this guest, in the context of the task making the
	 * change, and ~20 us of scheduling in the loader. So wake at most once per wakeup_gap_ns,
	 * 1.5 times the loader's read interval (or as the ring fills up): a quiet stream is woken
	 * record by record, a busy one in batches, and the loader, which reads again one interval
	 * after every batch by its own timer, picks up records that did not wake it; we wake it
	 * only when that read is late. */
	pending = ringbuf_pending();
	/* after the look at the ring, whose calls would otherwise keep the four lengths on the
	 * stack, which the open programs have no room for */
	size = sizeof(*e) + (__u64)e->path_len + e->old_path_len + e->exe_len + e->cmdline_len;

	/* the fill threshold wakes once, on the record that crosses it: a stalled consumer must
	 * not make every later change pay for a wake-up it cannot answer */
	if (late || (pending < targ_wakeup_bytes && pending + size >= targ_wakeup_bytes)) {
		wake = BPF_RB_FORCE_WAKEUP;
		last_wake_ns = e->ts_boot_ns;
	}

	if (pending + size > ringbuf_used_max)
		ringbuf_used_max = pending + size;
	if (e->flags & (FIM_F_PATH_TRUNC | FIM_F_OLD_PATH_TRUNC | FIM_F_EXE_TRUNC))
		stat_inc(FIM_STAT_TRUNCATED);
	if (size > REC_MAX)
		size = REC_MAX;
	if (bpf_ringbuf_output(&rb, e, size, wake)) {
		stat_inc(FIM_STAT_LOST);
		/* the loader never saw this command line: the next record must carry it */
		if (e->flags & FIM_F_CMDLINE)
			s->cmdline_pid = 0;
		return;
	}
	stat_inc(FIM_STAT_EVENTS);
	/* A loader that found a quiet stream does not come back to read again: it sets
	 * last_wake_ns to 0, reads the ring once more and sleeps. If it did so between our look
	 * at last_wake_ns and our commit, that last read missed this record and nobody wakes it;
	 * looking again after the commit (whose xchg orders the two) sees the 0, and an empty
	 * record wakes the loader. */
	if (wake == BPF_RB_NO_WAKEUP && READ_ONCE(last_wake_ns) == 0) {
		last_wake_ns = e->ts_boot_ns;
		bpf_ringbuf_output(&rb, e, 0, BPF_RB_FORCE_WAKEUP);
	}
}

static __always_inline void read_path_id(struct path_id *id, struct file *f)
{
	struct dentry *d = KREAD(struct file, f, f_path.dentry);

	id->dentry = (__u64)d;
	id->mnt = (__u64)KREAD(struct file, f, f_path.mnt);
	id->parent = (__u64)KREAD(struct dentry, d, d_parent);
	id->name = (__u64)KREAD(struct dentry, d, d_name.name);
	id->hash_len = KREAD(struct dentry, d, d_name.hash_len);
	id->generation = tree_gen();
}

/* Walks f up for its name, which emit_walked() writes (look: also ask the watch list). */
static __always_inline __u32 walk_file(struct scratch *s, struct file *f, struct walk *w, bool look)
{
	read_path_id(&s->walked, f);
	return walk_up(w, s, (struct dentry *)s->walked.dentry, (struct vfsmount *)s->walked.mnt, look);
}

/* Puts f's path at DATA(s) when it is the one last_path holds; returns its length, 0 if not. */
static __always_inline __u32 recall_path(struct scratch *s, struct file *f)
{
	struct path_cached *c = &s->last_path;

	read_path_id(&s->walked, f);
	if (!c->len || c->id.dentry != s->walked.dentry || c->id.mnt != s->walked.mnt ||
	    c->id.parent != s->walked.parent || c->id.name != s->walked.name ||
	    c->id.hash_len != s->walked.hash_len || c->id.generation != s->walked.generation)
		return 0;
	copy_cached(DATA(s), c->path, c->len);
	return c->len;
}

#ifndef FIM_COMPAT
/*
 * Puts f's path at DATA(s) when its directory is the one last_dir holds: the directory's path,
 * '/', f's name. Returns the length, 0 when it is not (or f has no directory of its own in its
 * mount: a mount root is walked). Not in the compatible object, like last_path.
 */
static __always_inline __u32 recall_dir_path(struct scratch *s, struct file *f)
{
	struct path_cached *c = &s->last_dir;
	struct dentry *d = KREAD(struct file, f, f_path.dentry);
	struct vfsmount *vm = KREAD(struct file, f, f_path.mnt);
	struct dentry *dir = KREAD(struct dentry, d, d_parent);
	__u32 len = c->len, nlen;

	if (!len || c->id.dentry != (__u64)dir || c->id.mnt != (__u64)vm || dir == d ||
	    d == KREAD(struct vfsmount, vm, mnt_root) ||
	    c->id.parent != (__u64)KREAD(struct dentry, dir, d_parent) ||
	    c->id.name != (__u64)KREAD(struct dentry, dir, d_name.name) ||
	    c->id.hash_len != KREAD(struct dentry, dir, d_name.hash_len) || c->id.generation != tree_gen())
		return 0;
	nlen = KREAD(struct dentry, d, d_name.len);
	if (len + 1 + nlen > FIM_PATH_MAX - 1)
		return 0;
	copy_cached(DATA(s), c->path, len);
	DATA(s)[len & DATA_MASK] = '/';
	bpf_probe_read_kernel(DATA(s) + ((len + 1) & DATA_MASK), nlen & 255, KREAD(struct dentry, d, d_name.name));
	return len + 1 + nlen;
}

/*
 * After a walk that named f in full (s->walked, DATA(s)[0..len)): keep its directory's part
 * for recall_dir_path(). The directory's identity is read after the walk, its generation
 * before (s->walked): a directory that moved meanwhile leaves the entry stale, not wrong.
 */
static __always_inline void keep_dir_path(struct scratch *s, __u32 len)
{
	struct path_cached *c = &s->last_dir;
	struct dentry *d = (struct dentry *)s->walked.dentry;
	struct vfsmount *vm = (struct vfsmount *)s->walked.mnt;
	struct dentry *dir = (struct dentry *)s->walked.parent;
	__u32 dlen;

	c->len = 0;
	if (s->n < 1 || dir == d || d == KREAD(struct vfsmount, vm, mnt_root))
		return;
	dlen = len - 1 - (s->links[0].len & 255);
	if (dlen == 0 || dlen >= sizeof(c->path) || dlen >= len)
		return;
	c->id.dentry = (__u64)dir;
	c->id.mnt = (__u64)vm;
	c->id.parent = (__u64)KREAD(struct dentry, dir, d_parent);
	c->id.name = (__u64)KREAD(struct dentry, dir, d_name.name);
	c->id.hash_len = KREAD(struct dentry, dir, d_name.hash_len);
	c->id.generation = s->walked.generation;
	copy_cached(c->path, DATA(s), dlen);
	c->len = dlen;
}

/* Keeps the path of len bytes at DATA(s), the file s->walked, for recall_path(). */
static __always_inline void keep_path(struct scratch *s, __u32 len)
{
	struct path_cached *c = &s->last_path;

	c->id = s->walked;
	c->len = len;
	copy_cached(c->path, DATA(s), len);
}
#endif

/* Names f for emit_walked(): from last_dir when it can, else by a walk into *w. */
static __always_inline void name_file(struct scratch *s, struct file *f, struct walk *w)
{
#ifndef FIM_COMPAT
	__u32 len = recall_dir_path(s, f);

	if (len) {
		__builtin_memset(w, 0, sizeof(*w));
		read_path_id(&s->walked, f);
		w->recalled = len;
		return;
	}
#endif
	walk_file(s, f, w, false);
}

/*
 * Sends an event about an open file by task t (identity who), named by the walk w that
 * walk_file() made of it, or, w NULL, by the path recall_path() put in place (of length
 * recalled). Read the names before put_exe(): naming the exe walks again.
 */
static __always_inline void emit_walked(struct scratch *s, struct task_struct *t, struct file *f,
					const struct walk *w, __u32 recalled, const struct who *who,
					__u16 op, __u16 sc, __u32 flags)
{
	struct fim_event *e = begin_event(s, op, sc);
	bool trunc = false;

	e->flags |= flags;
	who_to_event(e, who);
	set_inode(e, KREAD(struct file, f, f_inode));
	if (!w) {
		e->path_len = recalled;
	} else if (w->recalled) {
		e->path_len = w->recalled;
#ifndef FIM_COMPAT
		if (e->path_len < sizeof(s->last_path.path))
			keep_path(s, e->path_len);
#endif
	} else {
		e->path_len = put_walked_path(s, 0, w, &trunc);
		if (trunc)
			e->flags |= FIM_F_PATH_TRUNC;
#ifndef FIM_COMPAT
		/* not in the compatible object: the 6.1 verifier then takes every walk for a
		 * truncated one (kernel matrix, deep-path); its kernels walk again at close */
		else if (e->path_len && e->path_len < sizeof(s->last_path.path)) {
			keep_dir_path(s, e->path_len);
			keep_path(s, e->path_len);
		}
#endif
	}
	put_process(s, t);
	submit(s);
}

/* Emit an event about an open struct file (already known to be watched). */
static __always_inline void emit_file(struct task_struct *t, struct file *f, __u16 op, __u16 sc)
{
	struct scratch *s = get_scratch();
	struct walk w;
	struct who who;
	__u32 len;

	if (!s)
		return;
	fill_who(&who, t);
	len = recall_path(s, f);
	if (len) {
		emit_walked(s, t, f, NULL, len, &who, op, sc, 0);
		return;
	}
	name_file(s, f, &w);
	emit_walked(s, t, f, &w, 0, &who, op, sc, 0);
}

/*
 * Is f under a watched path? Its directory's remembered verdict, then its own inode answer
 * (most files opened for write are not: two lookups, no walk). With `name`, a watched one is
 * walked for its name, left in *w for emit_walked(). A file that is the root of its mount (a
 * bind-mounted file) has no directory to ask, and is walked every time. *dir_v, when asked
 * for, gets its directory's verdict when the file is not watched (enum dir_verdict).
 */
static __always_inline bool file_walk_watched(struct scratch *s, struct file *f, struct walk *w, bool name,
					      int *dir_v)
{
	struct dentry *d, *parent;
	struct vfsmount *vm;
	__u64 ino;
	int v;

	if (!f)
		return false;
	d = KREAD(struct file, f, f_path.dentry);
	vm = KREAD(struct file, f, f_path.mnt);
	parent = KREAD(struct dentry, d, d_parent);
	if (parent == d || d == KREAD(struct vfsmount, vm, mnt_root))
		return walk_file(s, f, w, true);
	ino = (__u64)KREAD(struct dentry, d, d_inode);
	v = dir_verdict(parent, vm);
	if (v != DIR_WATCHED && !bpf_map_lookup_elem(&watch_inodes, &ino)) {
		if (dir_v)
			*dir_v = v;
		return false;
	}
	if (name)
		name_file(s, f, w);
	return true;
}

static __always_inline bool file_watched(struct file *f)
{
	return f && dentry_watched(KREAD(struct file, f, f_path.dentry), KREAD(struct file, f, f_path.mnt));
}

#endif /* FIM_COMMON_H */
