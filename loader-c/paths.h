/* Lexical path helpers for paths the kernel built from syscall strings. */
#ifndef FIM_PATHS_H
#define FIM_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Normalises an absolute path in place, lexically: "//" and "/./" collapse, "/x/.." goes away,
 * ".." at the root stays at the root, a trailing "/" is dropped (except for "/" itself).
 * Symlinks are not resolved: the kernel already made the base directory canonical, and the
 * rest is what the caller named. p need not be NUL-terminated; returns the new length.
 */
size_t path_normalize(char *p, size_t n);

/* Is p (length n) the directory `dir` itself or below it? Both canonical. */
bool path_is_under(const char *p, size_t n, const char *dir, size_t dn);

/*
 * One line of /proc/self/mountinfo: if its mount point is the directory `dir` (canonical, length
 * dn) or one of its ancestors, returns true and writes the mount point, unescaped (the kernel
 * writes a space as \040) and NUL-terminated, to mount_point (cap bytes; a longer one is not
 * taken). The mount of a path is that of the longest such mount point, the last one listed
 * among equals (a mount on top of another). From the table, not from the path: it may be gone.
 */
bool mountinfo_covers(const char *line, const char *dir, size_t dn, char *mount_point, size_t cap);

#endif
