/* libFuzzer target: any bytes as a stdin command line. Beyond "no crash,
 * no out-of-bounds access" (ASan/UBSan), an accepted command must survive
 * being written back with json_out.c and parsed again unchanged. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct command c, again;
	static char line[32768]; /* 4095 control bytes take 6 each */
	char err[256], err2[256];
	struct jw w;
	size_t i;
	int rc;

	rc = command_parse((const char *)data, size, &c, err, sizeof err);
	require(memchr(err, 0, sizeof err) != NULL);
	for (i = 0; err[i]; i++)
		require((unsigned char)err[i] >= 0x20 && (unsigned char)err[i] < 0x7f);
	require(rc == 0 ? err[0] == 0 : err[0] != 0);
	if (c.has_id)
		require(strlen(c.id) < CMD_ID_MAX);
	if (rc)
		return 0;

	jw_init(&w, line, sizeof line);
	jw_begin(&w);
	jw_str(&w, "cmd", command_name(c.cmd));
	if (c.has_id)
		jw_str(&w, "id", c.id);
	if (c.cmd == CMD_ADD || c.cmd == CMD_REMOVE) {
		require(c.path_len > 0 && c.path_len < CMD_PATH_MAX);
		require(!memchr(c.path, 0, c.path_len));
		jw_bytes(&w, "path", c.path, c.path_len);
	}
	jw_end(&w);
	require(!w.overflow);
	/* the re-encoded line may be longer than 8 KiB only through escapes */
	rc = command_parse(line, w.len, &again, err2, sizeof err2);
	if (rc) {
		require(w.len > CMD_LINE_MAX);
		return 0;
	}
	require(again.cmd == c.cmd && again.has_id == c.has_id);
	require(!c.has_id || !strcmp(again.id, c.id));
	require(again.path_len == c.path_len && !memcmp(again.path, c.path, c.path_len));
	return 0;
}
