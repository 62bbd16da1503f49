/* Parser for one stdin command line (docs/protocol.md, "Commands").
 *
 * A command is a flat JSON object whose values are all strings:
 *     {"cmd":"add","path":"/srv/www","id":"7"}
 *     {"cmd":"remove","path_b64":"L3Nydi//","id":"8"}
 *     {"cmd":"stats"}   {"cmd":"list","id":"9"}
 *
 * The parser is strict RFC 8259 for what it accepts (UTF-8 input, no raw
 * control characters in strings, full escape handling, \uXXXX surrogate
 * pairs joined, lone surrogates rejected, nothing after the object but
 * whitespace) and needs no allocation. It never reads outside
 * line[0..len) and the line need not be NUL-terminated.
 *
 * Rules beyond JSON:
 *   - every value is a string; a key given twice is an error;
 *   - keys other than cmd, id, path and path_b64 are ignored, so the
 *     supervisor can add fields a newer loader understands;
 *   - "path_b64" (RFC 4648 base64, padded, canonical) carries names that
 *     are not UTF-8. When both are given path_b64 wins, the same rule as
 *     for records: a record's "path"/"path_b64" pair parses back exactly;
 *   - add/remove need a non-empty path of at most CMD_PATH_MAX - 1 bytes
 *     with no NUL byte; stats/list ignore a path;
 *   - id is at most CMD_ID_MAX - 1 bytes with no NUL byte; it is valid
 *     UTF-8 (the whole line is), so it can be echoed with jw_str().
 */
#ifndef FIM_COMMAND_H
#define FIM_COMMAND_H

#include <stddef.h>

#define CMD_LINE_MAX 8192 /* bytes, not counting a trailing "\n" or "\r\n" */
#define CMD_ID_MAX 64
#define CMD_PATH_MAX 4096

enum cmd_kind {
	CMD_ADD = 1,
	CMD_REMOVE = 2,
	CMD_STATS = 3,
	CMD_LIST = 4,
};

struct command {
	enum cmd_kind cmd;
	char id[CMD_ID_MAX];                /* NUL-terminated when has_id */
	int has_id;
	unsigned char path[CMD_PATH_MAX];   /* path[path_len] == 0 */
	size_t path_len;                    /* 0 for stats/list */
};

/* Parses line[0..len). Returns 0 on success, -1 on a bad command with a
 * one-line message (no control characters) in err. Even on failure, id and
 * has_id are filled when a valid "id" member was read before the error,
 * so the ack can echo it. */
int command_parse(const char *line, size_t len, struct command *c,
		  char *err, size_t errlen);

/* "add", "remove", "stats", "list" (for the ack's "cmd"). */
const char *command_name(enum cmd_kind k);

#endif
