#include <string.h>

#include "paths.h"

size_t path_normalize(char *p, size_t n)
{
	size_t in = 0, out = 0;

	if (n == 0 || p[0] != '/')
		return n; /* not absolute: leave it as the kernel gave it */
	while (in < n) {
		size_t start, len;

		while (in < n && p[in] == '/')
			in++;
		start = in;
		while (in < n && p[in] != '/')
			in++;
		len = in - start;
		if (len == 0 || (len == 1 && p[start] == '.'))
			continue;
		if (len == 2 && p[start] == '.' && p[start + 1] == '.') {
			while (out > 0 && p[out - 1] != '/')
				out--;
			if (out > 0)
				out--; /* the '/' before the dropped component */
			continue;
		}
		p[out++] = '/';
		memmove(p + out, p + start, len);
		out += len;
	}
	if (out == 0)
		p[out++] = '/';
	return out;
}

bool path_is_under(const char *p, size_t n, const char *dir, size_t dn)
{
	if (dn == 1 && dir[0] == '/')
		return n >= 1 && p[0] == '/';
	if (n < dn || memcmp(p, dir, dn))
		return false;
	return n == dn || p[dn] == '/';
}
