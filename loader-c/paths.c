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

/* The next space-separated field of a mountinfo line, from *at; false at the end of the line. */
static bool next_field(const char **at, const char **start, size_t *len)
{
	const char *p = *at;

	while (*p == ' ')
		p++;
	if (*p == 0 || *p == '\n')
		return false;
	*start = p;
	while (*p && *p != ' ' && *p != '\n')
		p++;
	*len = (size_t)(p - *start);
	*at = p;
	return true;
}

bool mountinfo_covers(const char *line, const char *dir, size_t dn, char *mount_point, size_t cap)
{
	/* mount id, parent id, major:minor, root, mount point, options, optional fields..., "-",
	 * filesystem type, source, super options: the mount point is the fifth field */
	const char *at = line, *f = NULL;
	size_t len = 0, mn = 0;

	for (int i = 0; i < 5; i++)
		if (!next_field(&at, &f, &len))
			return false;
	for (size_t i = 0; i < len; i++) {
		char c = f[i];

		if (c == '\\' && i + 3 < len && f[i + 1] >= '0' && f[i + 1] <= '3' && f[i + 2] >= '0' && f[i + 2] <= '7' &&
		    f[i + 3] >= '0' && f[i + 3] <= '7') {
			c = (char)((f[i + 1] - '0') * 64 + (f[i + 2] - '0') * 8 + (f[i + 3] - '0'));
			i += 3;
		}
		if (mn + 1 >= cap)
			return false;
		mount_point[mn++] = c;
	}
	if (mn == 0 || !path_is_under(dir, dn, mount_point, mn))
		return false;
	mount_point[mn] = 0;
	return true;
}
