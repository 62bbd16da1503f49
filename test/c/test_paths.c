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

	/* mountinfo: which mount a directory is on, from the table alone */
	{
		char mp[32];
		const char *root = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";
		const char *shm = "30 22 0:26 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,inode64\n";
		const char *spaced = "41 22 0:40 / /mnt/my\\040disk rw - xfs /dev/loop0 rw\n";

		CHECK(mountinfo_covers(root, "/tmp/w/d", 8, mp, sizeof(mp)));
		CHECK_STR(mp, "/");
		CHECK(mountinfo_covers(shm, "/dev/shm/w", 10, mp, sizeof(mp)));
		CHECK_STR(mp, "/dev/shm");
		CHECK(mountinfo_covers(shm, "/dev/shm", 8, mp, sizeof(mp)));
		CHECK(!mountinfo_covers(shm, "/dev/shmx", 9, mp, sizeof(mp)));
		CHECK(!mountinfo_covers(shm, "/dev", 4, mp, sizeof(mp)));
		CHECK(mountinfo_covers(spaced, "/mnt/my disk/x", 14, mp, sizeof(mp)));
		CHECK_STR(mp, "/mnt/my disk");
		CHECK(!mountinfo_covers(spaced, "/mnt/my\\040disk/x", 17, mp, sizeof(mp)));
		/* a mount point longer than the room is not taken, nor cut */
		CHECK(!mountinfo_covers(shm, "/dev/shm", 8, mp, 8));
		CHECK(mountinfo_covers(shm, "/dev/shm", 8, mp, 9));
		/* a line cut short says nothing */
		CHECK(!mountinfo_covers("30 22 0:26 /", "/dev/shm", 8, mp, sizeof(mp)));
		CHECK(!mountinfo_covers("", "/", 1, mp, sizeof(mp)));
	}
	return t_done("test_paths");
}
