/* Reads back the loader's records (docs/protocol.md) inside the test guest.
 *
 * Just enough JSON for them: one top-level object whose members are strings, numbers, true,
 * false, null or flat arrays. Strings are decoded to the exact bytes they stand for (every
 * escape, \uXXXX surrogate pairs included), so a file name can be compared byte for byte with
 * the name the test created; "<field>_b64" siblings are decoded by rec_path().
 *
 * Written independently of loader-c/json_out.c on purpose: a reader that shared the writer's
 * code would agree with its mistakes.
 */
#ifndef FIM_KT_NDJSON_H
#define FIM_KT_NDJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jtype { J_STR, J_NUM, J_TRUE, J_FALSE, J_NULL, J_ARR };

struct member {
	const char *key; /* NUL-terminated */
	enum jtype type;
	/* J_STR: the decoded bytes (NUL-terminated too, but may hold NUL); J_NUM and J_ARR: the
	 * raw JSON text of the value */
	const char *val;
	size_t len;
};

#define REC_MEMBERS_MAX 64

struct rec {
	int n;
	struct member m[REC_MEMBERS_MAX];
	char *store; /* owns every key and value above */
	char *line;  /* the raw line, for messages */
	size_t line_len;
};

/* Parses one line. Returns a record to free with rec_free(), or NULL with the reason in err. */
struct rec *rec_parse(const char *line, size_t len, char *err, size_t errlen);
void rec_free(struct rec *r);

const struct member *rec_get(const struct rec *r, const char *key);
/* The member is a string equal to s. */
bool rec_str_is(const struct rec *r, const char *key, const char *s);
/* The member is a non-negative integer; stores it in *v. */
bool rec_u64(const struct rec *r, const char *key, uint64_t *v);
bool rec_is_null(const struct rec *r, const char *key);
/* The member is an array holding the string s (the array's raw text holds "s"). */
bool rec_array_has(const struct rec *r, const char *key, const char *s);

/* The exact bytes a path field names: its "<key>_b64" sibling decoded when present, else the
 * string. Returns a malloc'd NUL-terminated buffer (names hold no NUL byte), or NULL when the
 * field is missing, not a string, or its sibling is not valid base64. */
char *rec_path(const struct rec *r, const char *key);

/* Is b[0..n) valid UTF-8 (RFC 3629)? */
bool utf8_valid(const unsigned char *b, size_t n);

#endif
