/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record the kernel sensor sends to fim-loader through the ring buffer, and the few
 * constants both sides must agree on. Fixed-size header, no pointers, explicit padding;
 * variable-length strings follow the header back to back (no NUL terminators):
 *
 *   +----------------------------+------------+----------------+-----------+---------------+
 *   | struct fim_event (112 B)   | path       | old_path       | exe       | cmdline       |
 *   |   ..., path_len, old_len,  | path_len B | old_path_len B | exe_len B | cmdline_len B |
 *   |   exe_len, cmdline_len ... |            |                |           |               |
 *   +----------------------------+------------+----------------+-----------+---------------+
 *
 * Enum values are part of the contract: never reuse or renumber them, only append.
 */
#ifndef FIM_H
#define FIM_H

#define FIM_PATH_MAX 4096 /* a path slot holds at most FIM_PATH_MAX - 1 bytes */
#define FIM_COMM_LEN 16
#define FIM_WATCH_KEY_LEN 256 /* longest watched-path prefix, trailing '/' included */
#define FIM_MAX_PATH_COMPONENTS 160
/* a command line slot holds at most FIM_CMDLINE_MAX - 1 bytes (a power of two: it is a mask) */
#define FIM_CMDLINE_MAX 1024
#define FIM_UNSET_ID 0xffffffffu /* loginuid / sessionid when never set */

enum fim_op {
	FIM_OP_ADD = 1,
	FIM_OP_MODIFY = 2,
	FIM_OP_DELETE = 3,
	FIM_OP_RENAME = 4,
	FIM_OP_ATTRIB = 5,
};

/* Which syscall made the change; the loader maps these to names. */
enum fim_syscall {
	FIM_SC_OPEN = 1,
	FIM_SC_OPENAT = 2,
	FIM_SC_OPENAT2 = 3,
	FIM_SC_CREAT = 4,
	FIM_SC_CLOSE = 5,
	FIM_SC_CHECK = 6, /* periodic check of a file held open for write */
	FIM_SC_UNLINK = 7,
	FIM_SC_UNLINKAT = 8,
	FIM_SC_RMDIR = 9,
	FIM_SC_RENAME = 10,
	FIM_SC_RENAMEAT = 11,
	FIM_SC_RENAMEAT2 = 12,
	FIM_SC_MKDIR = 13,
	FIM_SC_MKDIRAT = 14,
	FIM_SC_MKNOD = 15,
	FIM_SC_MKNODAT = 16,
	FIM_SC_SYMLINK = 17,
	FIM_SC_SYMLINKAT = 18,
	FIM_SC_LINK = 19,
	FIM_SC_LINKAT = 20,
	FIM_SC_CHMOD = 21,
	FIM_SC_FCHMOD = 22,
	FIM_SC_FCHMODAT = 23,
	FIM_SC_FCHMODAT2 = 24,
	FIM_SC_CHOWN = 25,
	FIM_SC_FCHOWN = 26,
	FIM_SC_LCHOWN = 27,
	FIM_SC_FCHOWNAT = 28,
	FIM_SC_SETXATTR = 29,
	FIM_SC_LSETXATTR = 30,
	FIM_SC_FSETXATTR = 31,
	FIM_SC_REMOVEXATTR = 32,
	FIM_SC_LREMOVEXATTR = 33,
	FIM_SC_FREMOVEXATTR = 34,
	FIM_SC_UTIME = 35,
	FIM_SC_UTIMES = 36,
	FIM_SC_UTIMENSAT = 37,
	FIM_SC_FUTIMESAT = 38,
	FIM_SC_TRUNCATE = 39,
	FIM_SC_FTRUNCATE = 40,
	FIM_SC_FALLOCATE = 41,
	FIM_SC_SETXATTRAT = 42,
	FIM_SC_REMOVEXATTRAT = 43,
	FIM_SC_EXIT = 44, /* modify found when the writer exited without close() */
	FIM_SC_MAX,
};

enum fim_flags {
	FIM_F_PATH_TRUNC = 1 << 0,
	FIM_F_OLD_PATH_TRUNC = 1 << 1,
	FIM_F_EXE_TRUNC = 1 << 2,
	FIM_F_INODE = 1 << 3,     /* ino, dev and mode are known */
	FIM_F_EXE = 1 << 4,       /* exe was read (else null: kernel thread, or writer gone) */
	FIM_F_LEXICAL = 1 << 5,   /* path built from a syscall string: may hold ".", "..", "//" */
	/* 1 << 6 is retired: the loader filters every lexical path again */
	FIM_F_EXCHANGE = 1 << 7,  /* renameat2(RENAME_EXCHANGE): both names swapped */
	FIM_F_OLD_LEXICAL = 1 << 8,
	/* a rename that changed no inode's ctime: rename(2) between two names of one file succeeds
	 * and leaves both; the loader drops it if both names are still one file */
	FIM_F_UNCHANGED = 1 << 9,
	/* an entry made in a directory that holds a watched root but is not watched: reported
	 * only if its path is that root's (made again after a delete) */
	FIM_F_ROOT_CANDIDATE = 1 << 10,
	/* cmdline was read from the acting process's memory (else absent: a record made for
	 * another task, or memory the kernel could not read without faulting) */
	FIM_F_CMDLINE = 1 << 11,
	FIM_F_CMDLINE_TRUNC = 1 << 12,
	/* no cmdline bytes: the same as in this CPU's last record that carried them, which was
	 * about the same process (pid, memory) and was delivered; the loader remembers it */
	FIM_F_CMDLINE_SAME = 1 << 13,
};

struct fim_event {
	__u64 ts_boot_ns; /* CLOCK_BOOTTIME; the loader adds the boot wall time */
	__u64 cgroup_id;
	__u64 ino;
	/* the process's start: its thread-group leader's start_boottime, the clock /proc/PID/stat
	 * field 22 shows in ticks; with pid, it names one process (see struct who) */
	__u64 process_start_ns;
	__u32 dev; /* kernel encoding: major << 20 | minor */
	__u32 flags;
	__u32 pid, tid, ppid;
	__u32 uid, gid, euid, egid;
	__u32 auid, ses; /* FIM_UNSET_ID when unset */
	__u16 op, syscall;
	__u16 mode; /* i_mode when FIM_F_INODE, else a type hint from the syscall (S_IFDIR...) or 0 */
	__u16 path_len, old_path_len, exe_len;
	char comm[FIM_COMM_LEN];
	/* the arguments as the process's memory holds them, each ending in a NUL */
	__u16 cmdline_len;
	__u16 _pad[3];
	char data[]; /* path, old_path, exe, cmdline */
};

_Static_assert(sizeof(struct fim_event) == 112, "fim_event header layout is part of the protocol");

/* Per-CPU counters, index into the stats array map's value. */
enum fim_stat {
	FIM_STAT_EVENTS = 0,  /* records put in the ring buffer */
	FIM_STAT_LOST,        /* records the ring buffer had no room for */
	FIM_STAT_TRUNCATED,   /* records with a truncated path */
	FIM_STAT_TRACKED,     /* writable files started being tracked */
	FIM_STAT_MAX,
};

struct fim_stats {
	__u64 n[FIM_STAT_MAX];
};

/* LPM key for watched path prefixes: "/var/log/" style, prefixlen in bits. */
struct fim_prefix_key {
	__u32 prefixlen;
	char data[FIM_WATCH_KEY_LEN];
};

/*
 * The loader registers a watched directory by opening it with O_PATH while `armed` is set; the
 * open-exit program then keys watch_inodes (root_parents, for the directory that holds a watched
 * path) on that inode's address (pinned by the loader's fd) and writes the address back here so
 * the loader can remove it later.
 */
/* A watched root's name in its directory: that directory's inode and the root's dentry's
 * d_name.hash_len (the dentry cache's hash and length) */
struct fim_root_name {
	__u64 parent_inode;
	__u64 hash_len;
};

struct fim_watch_reg {
	__u32 armed;
	__u32 watch_id;
	__u64 inode_key; /* out */
	__u64 ino;       /* out */
	__u32 dev;       /* out */
	__u32 parent;    /* the directory opened holds the watched root: key root_parents instead */
	struct fim_root_name name; /* out, for a root: the key of root_names */
};

#endif /* FIM_H */
