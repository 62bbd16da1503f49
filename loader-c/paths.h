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

#endif
