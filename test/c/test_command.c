#include "command.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

static struct command c;
static char err[256];

/* every message is one line of printable ASCII */
static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* Parses a copy in an exactly sized heap block, so ASan catches a read
 * past the end, and checks the invariants that hold for any result. */
static int parse_n(const char *line, size_t n)
{
	char *copy = malloc(n ? n : 1);
	int rc;

	memcpy(copy, line, n);
	memset(err, 'X', sizeof err);
	rc = command_parse(copy, n, &c, err, sizeof err);
	free(copy);
	CHECK(rc == 0 || rc == -1);
	CHECK(memchr(err, 0, sizeof err) != NULL);
	CHECK(printable(err));
	CHECK(rc == 0 ? err[0] == 0 : err[0] != 0);
	if (c.has_id)
		CHECK(strlen(c.id) < CMD_ID_MAX);
	if (rc == 0 && (c.cmd == CMD_ADD || c.cmd == CMD_REMOVE)) {
		CHECK(c.path_len > 0 && c.path_len < CMD_PATH_MAX);
		CHECK(memchr(c.path, 0, c.path_len) == NULL && c.path[c.path_len] == 0);
	}
	return rc;
}

#define PARSE(lit) parse_n(lit, sizeof lit - 1)

#define OK_PATH(lit, kind, want)                                               \
	do {                                                                   \
		CHECK(PARSE(lit) == 0);                                        \
		CHECK(c.cmd == (kind));                                        \
		CHECK(c.path_len == sizeof want - 1 &&                         \
		      !memcmp(c.path, want, sizeof want - 1));                 \
	} while (0)

#define BAD(lit, msg)                                                          \
	do {                                                                   \
		CHECK(PARSE(lit) == -1);                                       \
		CHECK_STR(err, msg);                                           \
	} while (0)

static void test_valid(void)
{
	CHECK(PARSE("{\"cmd\":\"add\",\"path\":\"/dir\",\"id\":\"1\"}") == 0);
	CHECK(c.cmd == CMD_ADD && c.has_id && !strcmp(c.id, "1"));
	CHECK(c.path_len == 4 && !strcmp((char *)c.path, "/dir"));

	OK_PATH("{\"id\":\"x\",\"path\":\"/d\",\"cmd\":\"remove\"}", CMD_REMOVE, "/d");
	CHECK(c.has_id && !strcmp(c.id, "x"));

	CHECK(PARSE("{\"cmd\":\"stats\"}") == 0);
	CHECK(c.cmd == CMD_STATS && !c.has_id && c.path_len == 0);
	CHECK(PARSE("{\"cmd\":\"list\",\"id\":\"4\"}") == 0);
	CHECK(c.cmd == CMD_LIST && c.has_id && !strcmp(c.id, "4"));
	CHECK(PARSE("{\"cmd\":\"list\",\"id\":\"\"}") == 0);
	CHECK(c.has_id && c.id[0] == 0);

	/* JSON whitespace anywhere, and the line terminator */
	CHECK(PARSE(" \t{ \"cmd\" :\t\"stats\" , \"id\" : \"3\" }  \r\n") == 0);
	CHECK(c.cmd == CMD_STATS && !strcmp(c.id, "3"));
	CHECK(PARSE("{\"cmd\":\"stats\"}\n") == 0);
	CHECK(PARSE("{\"cmd\":\"stats\"}\r\n") == 0);

	/* stats/list ignore a path, and keys this loader does not know */
	CHECK(PARSE("{\"cmd\":\"stats\",\"path\":\"/x\",\"future\":\"yes\"}") == 0);
	CHECK(c.cmd == CMD_STATS && c.path_len == 0);
	OK_PATH("{\"cmd\":\"add\",\"x\":\"\\u0000\\n\",\"path\":\"/p\",\"\":\"\"}", CMD_ADD, "/p");

	/* the line need not be NUL-terminated: len is the limit */
	CHECK(parse_n("{\"cmd\":\"stats\"}garbage", 15) == 0);
}

static void test_unescape(void)
{
	OK_PATH("{\"cmd\":\"add\",\"path\":\"/a\\\"b\\\\c\\/d\"}", CMD_ADD, "/a\"b\\c/d");
	OK_PATH("{\"cmd\":\"add\",\"path\":\"\\b\\f\\n\\r\\t\"}", CMD_ADD, "\b\f\n\r\t");
	OK_PATH("{\"cmd\":\"add\",\"path\":\"\\u0041\\u00e9\\u00E9\\u20ac\"}", CMD_ADD,
		"A\xc3\xa9\xc3\xa9\xe2\x82\xac");
	OK_PATH("{\"cmd\":\"add\",\"path\":\"\\u0001\\u001f\\u007f\\u0080\\u07ff\\u0800\\uffff\"}",
		CMD_ADD, "\x01\x1f\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
	/* surrogate pairs join into one 4-byte sequence */
	OK_PATH("{\"cmd\":\"add\",\"path\":\"\\ud83d\\ude00\"}", CMD_ADD, "\xf0\x9f\x98\x80");
	OK_PATH("{\"cmd\":\"add\",\"path\":\"\\uD800\\uDC00\\uDBFF\\uDFFF\"}", CMD_ADD,
		"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
	/* raw UTF-8 and raw DEL (JSON allows it unescaped) */
	OK_PATH("{\"cmd\":\"add\",\"path\":\"/t\xc3\xa9t\xf0\x9f\x98\x80\x7f\"}", CMD_ADD,
		"/t\xc3\xa9t\xf0\x9f\x98\x80\x7f");
	/* keys are compared after unescaping */
	OK_PATH("{\"\\u0063md\":\"add\",\"p\\u0061th\":\"/k\"}", CMD_ADD, "/k");
	CHECK(PARSE("{\"cmd\":\"\\u0061dd\",\"path\":\"/k\"}") == 0 && c.cmd == CMD_ADD);
	CHECK(PARSE("{\"cmd\":\"stats\",\"id\":\"\\u00e9\\t\"}") == 0);
	CHECK(!strcmp(c.id, "\xc3\xa9\t"));
}

static void test_path_b64(void)
{
	OK_PATH("{\"cmd\":\"add\",\"path_b64\":\"L3Nydi//\"}", CMD_ADD, "/srv/\xff");
	OK_PATH("{\"cmd\":\"add\",\"path_b64\":\"L3RtcC9jYWbp\"}", CMD_ADD, "/tmp/caf\xe9");
	OK_PATH("{\"cmd\":\"remove\",\"path_b64\":\"L2EKYg==\"}", CMD_REMOVE, "/a\nb");
	OK_PATH("{\"cmd\":\"add\",\"path_b64\":\"Zg==\"}", CMD_ADD, "f");
	OK_PATH("{\"cmd\":\"add\",\"path_b64\":\"Zm8=\"}", CMD_ADD, "fo");
	/* a record's pair parses back to the exact bytes: b64 wins */
	OK_PATH("{\"cmd\":\"add\",\"path\":\"/srv/\xef\xbf\xbd\",\"path_b64\":\"L3Nydi//\"}",
		CMD_ADD, "/srv/\xff");
	OK_PATH("{\"cmd\":\"add\",\"path_b64\":\"L3Nydi//\",\"path\":\"/other\"}", CMD_ADD,
		"/srv/\xff");

	BAD("{\"cmd\":\"add\",\"path_b64\":\"\"}", "path is empty");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"L3RtcC//AHg=\"}", "path contains a NUL byte");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"abc\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"Zg\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"Zg=\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"ab=c\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"a===\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"====\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"Zg==Zg==\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"Zh==\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"Zm9=\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"Zm9v Zg==\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"Zm9v\\n\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"L3Nydi__\"}", "path_b64 is not valid base64");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"L3Nydi--\"}", "path_b64 is not valid base64");
	/* an invalid path_b64 is not rescued by a path */
	BAD("{\"cmd\":\"add\",\"path\":\"/ok\",\"path_b64\":\"!!!!\"}",
	    "path_b64 is not valid base64");
}

static void test_malformed(void)
{
	BAD("", "empty command line");
	BAD(" \r\n", "empty command line");
	BAD("[]", "malformed JSON: a command is a JSON object");
	BAD("\"cmd\"", "malformed JSON: a command is a JSON object");
	BAD("null", "malformed JSON: a command is a JSON object");
	BAD("{", "malformed JSON: expected a string key");
	BAD("{\"cmd\":\"add\"", "malformed JSON: expected ',' or '}'");
	BAD("{\"cmd\":\"add\",}", "malformed JSON: expected a string key");
	BAD("{,}", "malformed JSON: expected a string key");
	BAD("{cmd:\"add\"}", "malformed JSON: expected a string key");
	BAD("{'cmd':'add'}", "malformed JSON: expected a string key");
	BAD("{\"cmd\" \"add\"}", "malformed JSON: expected ':' after a key");
	BAD("{\"cmd\"}", "malformed JSON: expected ':' after a key");
	BAD("{\"cmd\":", "malformed JSON: missing value");
	BAD("{\"cmd\":\"stats\" \"id\":\"1\"}", "malformed JSON: expected ',' or '}'");
	BAD("{\"cmd\":\"stats\"}}", "malformed JSON: text after the object");
	BAD("{\"cmd\":\"stats\"}{\"cmd\":\"stats\"}", "malformed JSON: text after the object");
	BAD("{\"cmd\":\"stats\"} x", "malformed JSON: text after the object");
	CHECK(PARSE("{\"cmd\":\"stats\"}\n\n") == 0); /* whitespace, for JSON */
	BAD("{\"cmd\":\"add", "malformed JSON: unterminated string");
	BAD("{\"cmd\":\"add\\", "malformed JSON: unterminated string");
	BAD("{\"cm", "malformed JSON: unterminated string");
	BAD("{\0}", "malformed JSON: expected a string key");
	BAD("{\"cmd\":\"stats\"}\0", "malformed JSON: text after the object");
	BAD("\xef\xbb\xbf{\"cmd\":\"stats\"}", "malformed JSON: a command is a JSON object");

	/* raw control characters are not allowed inside strings */
	BAD("{\"cmd\":\"add\",\"path\":\"/a\tb\"}",
	    "malformed JSON: unescaped control character 0x09 in string");
	BAD("{\"cmd\":\"add\",\"path\":\"/a\0b\"}",
	    "malformed JSON: unescaped control character 0x00 in string");
	BAD("{\"cmd\":\"add\",\"path\":\"/a\nb\"}",
	    "malformed JSON: unescaped control character 0x0a in string");

	/* escapes */
	BAD("{\"cmd\":\"add\",\"path\":\"\\x41\"}", "malformed JSON: bad escape '\\x'");
	BAD("{\"cmd\":\"add\",\"path\":\"\\a\"}", "malformed JSON: bad escape '\\a'");
	BAD("{\"cmd\":\"add\",\"path\":\"\\'\"}", "malformed JSON: bad escape '\\''");
	BAD("{\"cmd\":\"add\",\"path\":\"\\\xc3\xa9\"}", "malformed JSON: bad escape");
	BAD("{\"cmd\":\"add\",\"path\":\"\\\x01\"}", "malformed JSON: bad escape");
	BAD("{\"cmd\":\"add\",\"path\":\"\\u12\"}", "malformed JSON: bad \\u escape");
	BAD("{\"cmd\":\"add\",\"path\":\"\\u12G4\"}", "malformed JSON: bad \\u escape");
	BAD("{\"cmd\":\"add\",\"path\":\"\\u-123\"}", "malformed JSON: bad \\u escape");
	BAD("{\"cmd\":\"add\",\"path\":\"\\U0041\"}", "malformed JSON: bad escape '\\U'");
	BAD("{\"cmd\":\"add\",\"path\":\"\\u004", "malformed JSON: bad \\u escape");
	BAD("{\"cmd\":\"add\",\"path\":\"\\udc00\"}",
	    "malformed JSON: lone low surrogate \\udc00");
	BAD("{\"cmd\":\"add\",\"path\":\"\\ud800\"}",
	    "malformed JSON: high surrogate \\ud800 not followed by a low one");
	BAD("{\"cmd\":\"add\",\"path\":\"\\ud800x\"}",
	    "malformed JSON: high surrogate \\ud800 not followed by a low one");
	BAD("{\"cmd\":\"add\",\"path\":\"\\ud800\\u0041\"}",
	    "malformed JSON: high surrogate \\ud800 not followed by a low one");
	BAD("{\"cmd\":\"add\",\"path\":\"\\udbff\\udbff\"}",
	    "malformed JSON: high surrogate \\udbff not followed by a low one");
	BAD("{\"cmd\":\"add\",\"path\":\"\\ud800\\n\"}",
	    "malformed JSON: high surrogate \\ud800 not followed by a low one");
	BAD("{\"cmd\":\"add\",\"path\":\"\\ud800\\udc0", 
	    "malformed JSON: high surrogate \\ud800 not followed by a low one");

	/* the line must be UTF-8; non-UTF-8 names travel as path_b64 */
	static const char *const bad_utf8[] = {
		"\x80", "\xbf", "\xc3", "\xe2\x82", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",
		"\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\xfe", "\xff",
	};
	size_t i;
	for (i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
		char line[128];
		int n = snprintf(line, sizeof line, "{\"cmd\":\"add\",\"path\":\"/a%sb\"}",
				 bad_utf8[i]);
		CHECK(parse_n(line, (size_t)n) == -1);
		CHECK_STR(err, "line is not valid UTF-8 (use path_b64 for such names)");
		/* in a key or an ignored value too */
		n = snprintf(line, sizeof line, "{\"k%s\":\"\",\"cmd\":\"stats\"}", bad_utf8[i]);
		CHECK(parse_n(line, (size_t)n) == -1);
		n = snprintf(line, sizeof line, "{\"cmd\":\"stats\",\"k\":\"%s\"}", bad_utf8[i]);
		CHECK(parse_n(line, (size_t)n) == -1);
	}
	/* outside a string, a high byte is just a syntax error */
	BAD("{\xc3\xa9}", "malformed JSON: expected a string key");
}

static void test_values_and_semantics(void)
{
	BAD("{\"cmd\":1}", "value of 'cmd' is not a string");
	BAD("{\"cmd\":\"add\",\"path\":null}", "value of 'path' is not a string");
	BAD("{\"cmd\":\"add\",\"path_b64\":[\"x\"]}", "value of 'path_b64' is not a string");
	BAD("{\"cmd\":\"stats\",\"id\":7}", "value of 'id' is not a string");
	BAD("{\"cmd\":\"stats\",\"x\":{\"a\":\"b\"}}", "only string values are allowed");
	BAD("{\"cmd\":\"stats\",\"x\":[]}", "only string values are allowed");
	BAD("{\"cmd\":\"stats\",\"x\":true}", "only string values are allowed");
	BAD("{\"cmd\":\"stats\",\"x\":false}", "only string values are allowed");
	BAD("{\"cmd\":\"stats\",\"x\":-1.5e3}", "only string values are allowed");
	BAD("{\"cmd\":\"stats\",\"x\":}", "only string values are allowed");

	BAD("{}", "missing \"cmd\"");
	BAD("{ }", "missing \"cmd\"");
	BAD("{\"path\":\"/x\",\"id\":\"1\"}", "missing \"cmd\"");
	BAD("{\"cmd\":\"frobnicate\"}",
	    "unknown cmd 'frobnicate' (expected add, remove, stats or list)");
	BAD("{\"cmd\":\"ADD\",\"path\":\"/x\"}",
	    "unknown cmd 'ADD' (expected add, remove, stats or list)");
	BAD("{\"cmd\":\"\"}", "unknown cmd '' (expected add, remove, stats or list)");
	BAD("{\"cmd\":\"add\\u0000\",\"path\":\"/x\"}",
	    "unknown cmd 'add?' (expected add, remove, stats or list)");
	BAD("{\"cmd\":\"add \"}", "unknown cmd 'add ' (expected add, remove, stats or list)");
	BAD("{\"cmd\":\"\\u00e9\\n\"}", "unknown cmd '?\?\?' (expected add, remove, stats or list)");
	/* a long value that starts like a command is still unknown */
	BAD("{\"cmd\":\"add\\u0041AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"path\":\"/x\"}",
	    "unknown cmd (expected add, remove, stats or list)");
	BAD("{\"cmd\":\"addAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"path\":\"/x\"}",
	    "unknown cmd (expected add, remove, stats or list)");

	BAD("{\"cmd\":\"add\"}", "add needs a path");
	BAD("{\"cmd\":\"remove\",\"id\":\"2\"}", "remove needs a path");
	BAD("{\"cmd\":\"add\",\"path\":\"\"}", "path is empty");
	BAD("{\"cmd\":\"add\",\"path\":\"/a\\u0000b\"}", "path contains a NUL byte");
	BAD("{\"cmd\":\"add\",\"path\":\"\\u0000\"}", "path contains a NUL byte");

	BAD("{\"cmd\":\"add\",\"cmd\":\"remove\",\"path\":\"/x\"}", "duplicate key 'cmd'");
	BAD("{\"cmd\":\"add\",\"\\u0063md\":\"add\",\"path\":\"/x\"}", "duplicate key 'cmd'");
	BAD("{\"cmd\":\"add\",\"path\":\"/x\",\"path\":\"/y\"}", "duplicate key 'path'");
	BAD("{\"cmd\":\"add\",\"path_b64\":\"Zg==\",\"path_b64\":\"Zg==\"}",
	    "duplicate key 'path_b64'");
	BAD("{\"id\":\"1\",\"cmd\":\"stats\",\"id\":\"2\"}", "duplicate key 'id'");
	/* unknown keys may repeat: they are not looked at */
	CHECK(PARSE("{\"x\":\"1\",\"x\":\"2\",\"cmd\":\"stats\"}") == 0);

	BAD("{\"cmd\":\"stats\",\"id\":\"a\\u0000b\"}", "id contains a NUL byte");
}

static void test_id_on_error(void)
{
	/* the ack can echo the id of a command it refuses */
	BAD("{\"id\":\"9\",\"cmd\":\"nope\"}",
	    "unknown cmd 'nope' (expected add, remove, stats or list)");
	CHECK(c.has_id && !strcmp(c.id, "9"));
	BAD("{\"cmd\":\"nope\",\"id\":\"10\"}",
	    "unknown cmd 'nope' (expected add, remove, stats or list)");
	CHECK(c.has_id && !strcmp(c.id, "10"));
	BAD("{\"id\":\"11\",\"cmd\":1}", "value of 'cmd' is not a string");
	CHECK(c.has_id && !strcmp(c.id, "11"));
	BAD("{\"id\":\"12\",\"cmd\":\"add\"}", "add needs a path");
	CHECK(c.has_id && !strcmp(c.id, "12"));
	/* but not an id that was itself bad or came after the error */
	BAD("{\"cmd\":1,\"id\":\"13\"}", "value of 'cmd' is not a string");
	CHECK(!c.has_id);
	BAD("{\"id\":\"1\\q\"}", "malformed JSON: bad escape '\\q'");
	CHECK(!c.has_id);
}

static void test_sizes(void)
{
	static char line[CMD_LINE_MAX + 64];
	static char b64line[CMD_LINE_MAX + 64];
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char id[CMD_ID_MAX + 1];
	int n, i;

	/* path: 4095 bytes is the limit (PATH_MAX with its NUL) */
	n = snprintf(line, sizeof line, "{\"cmd\":\"add\",\"path\":\"/");
	memset(line + n, 'a', CMD_PATH_MAX - 2);
	n += CMD_PATH_MAX - 2;
	n += snprintf(line + n, sizeof line - (size_t)n, "\"}");
	CHECK(parse_n(line, (size_t)n) == 0 && c.path_len == CMD_PATH_MAX - 1);
	memmove(line + n - 1, line + n - 2, 3);
	line[n - 2] = 'a';
	CHECK(parse_n(line, (size_t)n + 1) == -1);
	CHECK_STR(err, "path longer than 4095 bytes");

	/* escapes count as the bytes they stand for */
	n = snprintf(line, sizeof line, "{\"cmd\":\"add\",\"path\":\"");
	for (i = 0; i < 1000; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, "\\u20ac");
	memset(line + n, 'a', 1095);
	n += 1095;
	n += snprintf(line + n, sizeof line - (size_t)n, "\"}");
	CHECK(parse_n(line, (size_t)n) == 0 && c.path_len == 4095);
	n -= 2;
	n += snprintf(line + n, sizeof line - (size_t)n, "x\"}");
	CHECK(parse_n(line, (size_t)n) == -1);
	CHECK_STR(err, "path longer than 4095 bytes");

	/* the same through path_b64: 4095 bytes = 5460 base64 characters */
	n = snprintf(b64line, sizeof b64line, "{\"cmd\":\"add\",\"path_b64\":\"");
	for (i = 0; i < 5460; i++)
		b64line[n++] = b64[(i % 63) + 1]; /* never 'A' x4: no NUL byte */
	n += snprintf(b64line + n, sizeof b64line - (size_t)n, "\"}");
	CHECK(parse_n(b64line, (size_t)n) == 0 && c.path_len == 4095);
	n -= 2;
	n += snprintf(b64line + n, sizeof b64line - (size_t)n, "QUFB\"}");
	CHECK(parse_n(b64line, (size_t)n) == -1);
	CHECK_STR(err, "path longer than 4095 bytes");
	n -= 2;
	for (i = 0; i < 2000; i++)
		b64line[n++] = 'Q';
	n += snprintf(b64line + n, sizeof b64line - (size_t)n, "\"}");
	CHECK(parse_n(b64line, (size_t)n) == -1);
	CHECK_STR(err, "path longer than 4095 bytes");

	/* id: 63 bytes */
	memset(id, 'i', sizeof id);
	id[CMD_ID_MAX - 1] = 0;
	n = snprintf(line, sizeof line, "{\"cmd\":\"stats\",\"id\":\"%s\"}", id);
	CHECK(parse_n(line, (size_t)n) == 0 && c.has_id && strlen(c.id) == 63);
	id[CMD_ID_MAX - 1] = 'i';
	id[CMD_ID_MAX] = 0;
	n = snprintf(line, sizeof line, "{\"cmd\":\"stats\",\"id\":\"%s\"}", id);
	CHECK(parse_n(line, (size_t)n) == -1 && !c.has_id);
	CHECK_STR(err, "id longer than 63 bytes");

	/* the line: 8192 bytes, not counting its terminator */
	n = snprintf(line, sizeof line, "{\"cmd\":\"stats\"}");
	memset(line + n, ' ', CMD_LINE_MAX - (size_t)n);
	n = CMD_LINE_MAX;
	CHECK(parse_n(line, (size_t)n) == 0);
	line[n] = '\n';
	CHECK(parse_n(line, (size_t)n + 1) == 0);
	line[n] = '\r';
	line[n + 1] = '\n';
	CHECK(parse_n(line, (size_t)n + 2) == 0);
	line[n] = ' ';
	CHECK(parse_n(line, (size_t)n + 1) == -1);
	CHECK_STR(err, "command line longer than 8192 bytes");

	/* a long unknown key or value is fine within the line limit */
	n = snprintf(line, sizeof line, "{\"cmd\":\"stats\",\"");
	memset(line + n, 'k', 3000);
	n += 3000;
	n += snprintf(line + n, sizeof line - (size_t)n, "\":\"");
	memset(line + n, 'v', 3000);
	n += 3000;
	n += snprintf(line + n, sizeof line - (size_t)n, "\"}");
	CHECK(parse_n(line, (size_t)n) == 0);

	/* a tiny or absent error buffer */
	{
		char small[6];
		CHECK(command_parse("{}", 2, &c, small, sizeof small) == -1);
		CHECK_STR(small, "missi");
		CHECK(command_parse("{}", 2, &c, NULL, 0) == -1);
		CHECK(command_parse("{\"cmd\":\"stats\"}", 15, &c, NULL, 0) == 0);
	}
}

/* Mutations of good commands: flipped, inserted, deleted and truncated
 * bytes. Nothing may crash or read out of bounds (ASan), and every result
 * must keep the invariants checked in parse_n(). */
static void test_hostile_mutations(void)
{
	static const char *const seeds[] = {
		"{\"cmd\":\"add\",\"path\":\"/dir\",\"id\":\"1\"}",
		"{\"cmd\":\"remove\",\"path_b64\":\"L3Nydi//\",\"id\":\"2\"}",
		"{\"cmd\":\"add\",\"path\":\"\\ud83d\\ude00\\u0041\\n\\\"\"}",
		"{\"cmd\":\"list\",\"id\":\"\\u00e9\",\"x\":\"y\"}",
	};
	static const char interesting[] = "{}[]\":,\\u0dD8fF=+/ \n\x00\x80\xc3\xed\xf4\xff";
	uint64_t s = 0x9e3779b97f4a7c15u;
	char buf[256];
	int it, ok = 0;

	for (it = 0; it < 100000; it++) {
		const char *seed = seeds[it % 4];
		size_t n = strlen(seed), k, m;

		memcpy(buf, seed, n);
		for (m = 0; m < 1 + (size_t)(it % 4); m++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			k = n ? (size_t)(s >> 32) % n : 0;
			switch ((s >> 8) % 4) {
			case 0: /* replace */
				if (n)
					buf[k] = (s >> 16) & 1 ? (char)(s >> 24)
						: interesting[(s >> 24) % (sizeof interesting - 1)];
				break;
			case 1: /* insert */
				if (n + 1 < sizeof buf) {
					memmove(buf + k + 1, buf + k, n - k);
					buf[k] = interesting[(s >> 24) % (sizeof interesting - 1)];
					n++;
				}
				break;
			case 2: /* delete */
				if (n) {
					memmove(buf + k, buf + k + 1, n - k - 1);
					n--;
				}
				break;
			default: /* truncate */
				n = k;
			}
		}
		ok += parse_n(buf, n) == 0;
	}
	/* the mutations should leave a share of lines valid, or they test
	 * only the first syntax check */
	CHECK(ok > 1000 && ok < 90000);
	printf("test_command     mutations: %d of 100000 still valid\n", ok);
}

int main(void)
{
	test_valid();
	test_unescape();
	test_path_b64();
	test_malformed();
	test_values_and_semantics();
	test_id_on_error();
	test_sizes();
	test_hostile_mutations();
	return t_done("test_command");
}
