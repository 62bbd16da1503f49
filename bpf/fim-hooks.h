/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Syscall tracepoints that share one BPF program, for the sensor and the loader alike.
 *
 * The name-based calls were one program each: the same code with the arguments in other
 * places, and the kernel's verifier checked every copy, 30 to 110 ms apiece, 1.5 s of the
 * loader's 2.4 s start (a restart after a crash waits as long). One program per family, told
 * the syscall by its tracepoint's `id` field, is checked once; the loader attaches it to each
 * tracepoint of the family's list that the kernel has. The opens and closes keep a program
 * each: they run for every open and close on the machine. One program for the four opens,
 * tried, took 90 ms off the start and added 3 ns to every open (bpf_stats on a read-only open
 * storm, 70 -> 73 ns a call, the flags read in the dispatch; 7.5 ns when read after it).
 *
 * Each entry: X(name, x86_64 syscall number, ...). The other members are expressions for the
 * sensor (fim.bpf.c) over the syscall's arguments `a.a[]`; the loader reads the names only.
 */
#ifndef FIM_HOOKS_H
#define FIM_HOOKS_H

/*
 * sys_exit_<name> -> on_name_change(): X(name, nr, FIM_SC_*, operation, dirfd, index of the
 * name argument, file type hint, condition to report at all).
 */
#define FIM_BY_NAME_HOOKS(X)                                                                     \
	/* delete */                                                                               \
	X(unlink, 87, FIM_SC_UNLINK, FIM_OP_DELETE, AT_FDCWD, 0, 0, 1)                              \
	X(rmdir, 84, FIM_SC_RMDIR, FIM_OP_DELETE, AT_FDCWD, 0, S_IFDIR, 1)                          \
	X(unlinkat, 263, FIM_SC_UNLINKAT, FIM_OP_DELETE, a.a[0], 1,                                 \
	  (a.a[2] & AT_REMOVEDIR) ? S_IFDIR : 0, 1)                                                 \
	/* add */                                                                                  \
	X(mkdir, 83, FIM_SC_MKDIR, FIM_OP_ADD, AT_FDCWD, 0, S_IFDIR, 1)                             \
	X(mkdirat, 258, FIM_SC_MKDIRAT, FIM_OP_ADD, a.a[0], 1, S_IFDIR, 1)                          \
	X(mknod, 133, FIM_SC_MKNOD, FIM_OP_ADD, AT_FDCWD, 0, a.a[1] & S_IFMT, 1)                    \
	X(mknodat, 259, FIM_SC_MKNODAT, FIM_OP_ADD, a.a[0], 1, a.a[2] & S_IFMT, 1)                  \
	X(symlink, 88, FIM_SC_SYMLINK, FIM_OP_ADD, AT_FDCWD, 1, S_IFLNK, 1)                         \
	X(symlinkat, 266, FIM_SC_SYMLINKAT, FIM_OP_ADD, a.a[1], 2, S_IFLNK, 1)                      \
	X(link, 86, FIM_SC_LINK, FIM_OP_ADD, AT_FDCWD, 1, 0, 1)                                     \
	X(linkat, 265, FIM_SC_LINKAT, FIM_OP_ADD, a.a[2], 3, 0, 1)                                  \
	/* attributes and truncate by name */                                                      \
	X(chmod, 90, FIM_SC_CHMOD, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, 1)                                \
	X(fchmodat, 268, FIM_SC_FCHMODAT, FIM_OP_ATTRIB, a.a[0], 1, 0, 1)                           \
	X(fchmodat2, 452, FIM_SC_FCHMODAT2, FIM_OP_ATTRIB, a.a[0], 1, 0, 1)                         \
	X(chown, 92, FIM_SC_CHOWN, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, 1)                                \
	X(lchown, 94, FIM_SC_LCHOWN, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, 1)                              \
	X(fchownat, 260, FIM_SC_FCHOWNAT, FIM_OP_ATTRIB, a.a[0], 1, 0, 1)                           \
	X(setxattr, 188, FIM_SC_SETXATTR, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, 1)                         \
	X(lsetxattr, 189, FIM_SC_LSETXATTR, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, 1)                       \
	X(removexattr, 197, FIM_SC_REMOVEXATTR, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, 1)                   \
	X(lremovexattr, 198, FIM_SC_LREMOVEXATTR, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, 1)                 \
	X(setxattrat, 463, FIM_SC_SETXATTRAT, FIM_OP_ATTRIB, a.a[0], 1, 0, 1)                       \
	X(removexattrat, 466, FIM_SC_REMOVEXATTRAT, FIM_OP_ATTRIB, a.a[0], 1, 0, 1)                 \
	X(truncate, 76, FIM_SC_TRUNCATE, FIM_OP_MODIFY, AT_FDCWD, 0, 0, 1)                          \
	/* the utimes family: only explicit times are an attribute change; "now" is what every    \
	 * write does (utimensat, which also takes an fd, has its own program) */                  \
	X(utime, 132, FIM_SC_UTIME, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, a.a[1])                          \
	X(utimes, 235, FIM_SC_UTIMES, FIM_OP_ATTRIB, AT_FDCWD, 0, 0, a.a[1])                        \
	X(futimesat, 261, FIM_SC_FUTIMESAT, FIM_OP_ATTRIB, a.a[0], 1, 0, a.a[2])

/* sys_exit_<name> -> on_rename(): X(name, nr, FIM_SC_*, olddirfd, oldname, newdirfd, newname,
 * flags), the names as argument indexes */
#define FIM_RENAME_HOOKS(X)                                                                      \
	X(rename, 82, FIM_SC_RENAME, AT_FDCWD, 0, AT_FDCWD, 1, 0)                                   \
	X(renameat, 264, FIM_SC_RENAMEAT, a.a[0], 1, a.a[2], 3, 0)                                  \
	X(renameat2, 316, FIM_SC_RENAMEAT2, a.a[0], 1, a.a[2], 3, a.a[4])

/* sys_exit_<name> -> on_fd_change() on the fd in the first argument: X(name, nr, FIM_SC_*,
 * operation) */
#define FIM_BY_FD_HOOKS(X)                                                                       \
	X(fchmod, 91, FIM_SC_FCHMOD, FIM_OP_ATTRIB)                                                 \
	X(fchown, 93, FIM_SC_FCHOWN, FIM_OP_ATTRIB)                                                 \
	X(fsetxattr, 190, FIM_SC_FSETXATTR, FIM_OP_ATTRIB)                                          \
	X(fremovexattr, 199, FIM_SC_FREMOVEXATTR, FIM_OP_ATTRIB)                                    \
	X(ftruncate, 77, FIM_SC_FTRUNCATE, FIM_OP_MODIFY)                                           \
	X(fallocate, 285, FIM_SC_FALLOCATE, FIM_OP_MODIFY)

#endif
