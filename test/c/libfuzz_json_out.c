/* libFuzzer target: any bytes as a file name. The first two bytes choose
 * a budget for jw_bytes_cut(); the rest is the name. Every line must be
 * UTF-8 with no raw control byte, and must parse back to the exact name
 * (or the exact cut prefix) whenever command.c can carry it. */
#include "command.h"
#include "json_out.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* an invariant broken: say which before libFuzzer saves the input */
#define require(ok)                                                         \
	do {                                                                \
		if (!(ok)) {                                                \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #ok); \
			abort();                                            \
		}                                                           \
	} while (0)

static void require_clean_utf8(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = jw_utf8_seq_len((const unsigned char *)s + i, n - i);
		require(k != 0);
		require(k > 1 || ((unsigned char)s[i] >= 0x20 && s[i] != 0x7f) ||
			(i == n - 1 && s[i] == '\n'));
		i += k;
	}
}

static int carried(const unsigned char *b, size_t n)
{
	return n > 0 && n < CMD_PATH_MAX && !memchr(b, 0, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[65536];
	static struct command c;
	char err[256];
	const unsigned char *name;
	size_t n, max_out, k, before;
	struct jw w;

	if (size < 2 || size > 8000)
		return 0;
	max_out = (size_t)data[0] << 8 | data[1];
	name = data + 2;
	n = size - 2;

	jw_init(&w, line, sizeof line);
	jw_begin(&w);
	jw_str(&w, "cmd", "add");
	jw_bytes(&w, "path", name, n);
	jw_end(&w);
	require(!w.overflow);
	require_clean_utf8(line, w.len);
	if (carried(name, n) && w.len <= CMD_LINE_MAX) {
		require(command_parse(line, w.len, &c, err, sizeof err) == 0);
		require(c.path_len == n && !memcmp(c.path, name, n));
	}

	jw_init(&w, line, sizeof line);
	jw_begin(&w);
	jw_str(&w, "cmd", "add");
	before = w.len;
	k = jw_bytes_cut(&w, "path", name, n, max_out);
	require(k <= n);
	require(w.len - before <= max_out || k == 0);
	jw_end(&w);
	require_clean_utf8(line, w.len);
	if (carried(name, k) && w.len <= CMD_LINE_MAX) {
		require(command_parse(line, w.len, &c, err, sizeof err) == 0);
		require(c.path_len == k && !memcmp(c.path, name, k));
	}

	/* a buffer too small must stop at its end */
	if (n < 512) {
		char small[300];
		jw_init(&w, small, (size_t)data[0] % sizeof small);
		jw_begin(&w);
		jw_bytes(&w, "path", name, n);
		jw_end(&w);
		require(w.len <= w.cap);
	}
	return 0;
}
