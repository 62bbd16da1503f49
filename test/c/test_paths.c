/* Lexical normalisation of the paths the kernel builds from syscall strings. */
#include <stdlib.h>

#include "paths.h"
#include "test.h"

static const char *norm(const char *in)
{
	static char buf[512];
	size_t n = strlen(in);

	memcpy(buf, in, n);
	n = path_normalize(buf, n);
	buf[n] = 0;
	return buf;
}

int main(void)
{
	CHECK_STR(norm("/a/b"), "/a/b");
	CHECK_STR(norm("/"), "/");
	CHECK_STR(norm("//"), "/");
	CHECK_STR(norm("/a//b/"), "/a/b");
	CHECK_STR(norm("/a/./b/."), "/a/b");
	CHECK_STR(norm("/a/b/../c"), "/a/c");
	CHECK_STR(norm("/a/b/.."), "/a");
	CHECK_STR(norm("/a/.."), "/");
	CHECK_STR(norm("/../../x"), "/x");
	CHECK_STR(norm("/tmp/../w/sub/../x"), "/w/x");
	CHECK_STR(norm("/a/..b/c.."), "/a/..b/c..");
	CHECK_STR(norm("/a/.../b"), "/a/.../b");
	CHECK_STR(norm("relative/../x"), "relative/../x"); /* only absolute paths are touched */
	{
		/* bytes, not strings: a name may hold anything but '/' and NUL */
		char raw[] = { '/', 'a', '\n', '/', '.', '.', '/', (char)0xff, '"' };
		size_t n = path_normalize(raw, sizeof(raw));

		CHECK(n == 3 && raw[0] == '/' && (unsigned char)raw[1] == 0xff && raw[2] == '"');
	}

	CHECK(path_is_under("/w", 2, "/w", 2));
	CHECK(path_is_under("/w/x", 4, "/w", 2));
	CHECK(!path_is_under("/wx", 3, "/w", 2));
	CHECK(!path_is_under("/", 1, "/w", 2));
	CHECK(path_is_under("/anything", 9, "/", 1));
	return t_done("test_paths");
}
