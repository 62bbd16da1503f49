#include "command.h"
#include "set-err.h"

#include "json_out.h" /* jw_utf8_seq_len: one definition of valid UTF-8 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct cursor {
	const unsigned char *p, *end;
};

/* Where a string member's decoded bytes go. The decoder always checks the
 * whole string; bytes that do not fit only set too_long, so a long value
 * is reported as too long rather than as malformed. */
struct sink {
	unsigned char *buf;
	size_t cap;
	size_t len;
	int too_long;
	int has_nul;
};


static void skip_ws(struct cursor *c)
{
	while (c->p < c->end &&
	       (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static void sink_put(struct sink *s, const unsigned char *b, size_t n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n; i++)
		if (b[i] == 0)
			s->has_nul = 1;
	if (s->too_long || n > s->cap - s->len) {
		s->too_long = 1;
		return;
	}
	memcpy(s->buf + s->len, b, n);
	s->len += n;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned char ch = p[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v |= ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v |= ch - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t utf8_encode(unsigned cp, unsigned char *o)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes the JSON string at c->p (which is at the opening quote) into s
 * and leaves c->p after the closing quote. */
static int parse_string(struct cursor *c, struct sink *s, char *err, size_t errlen)
{
	c->p++; /* opening quote */
	for (;;) {
		const unsigned char *run = c->p;
		unsigned char ch;

		/* plain bytes in one copy, as in json_out.c */
		while (c->p < c->end && *c->p >= 0x20 && *c->p < 0x80 &&
		       *c->p != '"' && *c->p != '\\')
			c->p++;
		if (c->p > run)
			sink_put(s, run, (size_t)(c->p - run));
		if (c->p >= c->end) {
			set_err(err, errlen, "malformed JSON: unterminated string");
			return -1;
		}
		ch = *c->p;
		if (ch == '"') {
			c->p++;
			return 0;
		}
		if (ch < 0x20) {
			set_err(err, errlen,
				"malformed JSON: unescaped control character 0x%02x in string",
				ch);
			return -1;
		}
		if (ch >= 0x80) {
			size_t k = jw_utf8_seq_len(c->p, (size_t)(c->end - c->p));
			if (!k) {
				set_err(err, errlen, "line is not valid UTF-8 (use path_b64 for such names)");
				return -1;
			}
			sink_put(s, c->p, k);
			c->p += k;
			continue;
		}
		/* backslash */
		if (c->end - c->p < 2) {
			set_err(err, errlen, "malformed JSON: unterminated string");
			return -1;
		}
		ch = c->p[1];
		c->p += 2;
		switch (ch) {
		case '"': case '\\': case '/':
			sink_put(s, &ch, 1);
			break;
		case 'b': sink_put(s, (const unsigned char *)"\b", 1); break;
		case 'f': sink_put(s, (const unsigned char *)"\f", 1); break;
		case 'n': sink_put(s, (const unsigned char *)"\n", 1); break;
		case 'r': sink_put(s, (const unsigned char *)"\r", 1); break;
		case 't': sink_put(s, (const unsigned char *)"\t", 1); break;
		case 'u': {
			unsigned cp, lo;
			unsigned char o[4];

			if (c->end - c->p < 4 || hex4(c->p, &cp)) {
				set_err(err, errlen, "malformed JSON: bad \\u escape");
				return -1;
			}
			c->p += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				set_err(err, errlen, "malformed JSON: lone low surrogate \\u%04x", cp);
				return -1;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
				    hex4(c->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
					set_err(err, errlen,
						"malformed JSON: high surrogate \\u%04x not followed by a low one",
						cp);
					return -1;
				}
				c->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			sink_put(s, o, utf8_encode(cp, o));
			break;
		}
		default:
			if (ch >= 0x20 && ch < 0x7f)
				set_err(err, errlen, "malformed JSON: bad escape '\\%c'", ch);
			else
				set_err(err, errlen, "malformed JSON: bad escape");
			return -1;
		}
	}
}

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Strict RFC 4648: padded, no whitespace, unused bits zero, so each byte
 * string has exactly one accepted encoding. */
static int b64_decode(const unsigned char *in, size_t n, struct sink *out)
{
	size_t i;

	if (n % 4)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		size_t k;
		unsigned char o[3];

		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad) {
				return -1; /* data after '=' */
			} else if ((v[k] = b64_value(in[i + k])) < 0) {
				return -1;
			}
		}
		if (pad == 1 && (v[2] & 3))
			return -1;
		if (pad == 2 && (v[1] & 15))
			return -1;
		o[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		o[1] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		o[2] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		sink_put(out, o, 3 - (size_t)pad);
	}
	return 0;
}

/* The members we know. Keys are compared after unescaping, as JSON
 * requires ("\u0070ath" is "path"). */
enum member { M_CMD, M_ID, M_PATH, M_PATH_B64, M_OTHER };

static enum member member_of(const unsigned char *k, size_t n)
{
	if (n == 3 && !memcmp(k, "cmd", 3))
		return M_CMD;
	if (n == 2 && !memcmp(k, "id", 2))
		return M_ID;
	if (n == 4 && !memcmp(k, "path", 4))
		return M_PATH;
	if (n == 8 && !memcmp(k, "path_b64", 8))
		return M_PATH_B64;
	return M_OTHER;
}

static const char *const member_names[] = { "cmd", "id", "path", "path_b64" };

const char *command_name(enum cmd_kind k)
{
	switch (k) {
	case CMD_ADD: return "add";
	case CMD_REMOVE: return "remove";
	case CMD_STATS: return "stats";
	case CMD_LIST: return "list";
	}
	return "?";
}

int command_parse(const char *line, size_t len, struct command *c,
		  char *err, size_t errlen)
{
	struct cursor cur = { (const unsigned char *)line,
			      (const unsigned char *)line + len };
	/* the decoded values wait here until the whole line is known good */
	unsigned char cmd_buf[16], key_buf[16], path_buf[CMD_PATH_MAX];
	unsigned char b64_buf[JW_B64_LEN(CMD_PATH_MAX)];
	struct sink cmd = { cmd_buf, sizeof cmd_buf, 0, 0, 0 };
	struct sink path = { path_buf, sizeof path_buf - 1, 0, 0, 0 };
	struct sink b64 = { b64_buf, sizeof b64_buf, 0, 0, 0 };
	int seen[4] = { 0, 0, 0, 0 };

	memset(c, 0, sizeof *c);
	if (errlen)
		err[0] = 0;

	/* the reader may hand over the line with its terminator */
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	if (len > CMD_LINE_MAX) {
		set_err(err, errlen, "command line longer than %d bytes", CMD_LINE_MAX);
		return -1;
	}
	cur.end = cur.p + len;

	skip_ws(&cur);
	if (cur.p >= cur.end) {
		set_err(err, errlen, "empty command line");
		return -1;
	}
	if (*cur.p != '{') {
		set_err(err, errlen, "malformed JSON: a command is a JSON object");
		return -1;
	}
	cur.p++;
	skip_ws(&cur);
	if (cur.p < cur.end && *cur.p == '}') {
		cur.p++;
	} else {
		for (;;) {
			struct sink key = { key_buf, sizeof key_buf, 0, 0, 0 };
			struct sink other_val = { NULL, 0, 0, 0, 0 };
			struct sink id = { (unsigned char *)c->id, sizeof c->id - 1, 0, 0, 0 };
			struct sink *val;
			enum member m;

			skip_ws(&cur);
			if (cur.p >= cur.end || *cur.p != '"') {
				set_err(err, errlen, "malformed JSON: expected a string key");
				return -1;
			}
			if (parse_string(&cur, &key, err, errlen))
				return -1;
			m = key.too_long ? M_OTHER : member_of(key.buf, key.len);
			skip_ws(&cur);
			if (cur.p >= cur.end || *cur.p != ':') {
				set_err(err, errlen, "malformed JSON: expected ':' after a key");
				return -1;
			}
			cur.p++;
			skip_ws(&cur);
			if (cur.p >= cur.end) {
				set_err(err, errlen, "malformed JSON: missing value");
				return -1;
			}
			if (*cur.p != '"') {
				if (m != M_OTHER)
					set_err(err, errlen, "value of '%s' is not a string",
						member_names[m]);
				else
					set_err(err, errlen, "only string values are allowed");
				return -1;
			}
			if (m != M_OTHER && seen[m]) {
				set_err(err, errlen, "duplicate key '%s'", member_names[m]);
				return -1;
			}
			switch (m) {
			case M_CMD: val = &cmd; break;
			case M_ID: val = &id; break;
			case M_PATH: val = &path; break;
			case M_PATH_B64: val = &b64; break;
			default: val = &other_val; break;
			}
			if (parse_string(&cur, val, err, errlen))
				return -1;
			if (m == M_OTHER) {
				/* decoded for validation only; other_val has no room */
			} else {
				seen[m] = 1;
			}
			if (m == M_ID) {
				if (id.too_long) {
					set_err(err, errlen, "id longer than %d bytes", CMD_ID_MAX - 1);
					return -1;
				}
				if (id.has_nul) {
					set_err(err, errlen, "id contains a NUL byte");
					return -1;
				}
				c->id[id.len] = 0;
				c->has_id = 1;
			}
			skip_ws(&cur);
			if (cur.p < cur.end && *cur.p == ',') {
				cur.p++;
				continue;
			}
			if (cur.p < cur.end && *cur.p == '}') {
				cur.p++;
				break;
			}
			set_err(err, errlen, "malformed JSON: expected ',' or '}'");
			return -1;
		}
	}
	skip_ws(&cur);
	if (cur.p != cur.end) {
		set_err(err, errlen, "malformed JSON: text after the object");
		return -1;
	}

	if (!seen[M_CMD]) {
		set_err(err, errlen, "missing \"cmd\"");
		return -1;
	}
	if (!cmd.too_long) {
		if (cmd.len == 3 && !memcmp(cmd.buf, "add", 3))
			c->cmd = CMD_ADD;
		else if (cmd.len == 6 && !memcmp(cmd.buf, "remove", 6))
			c->cmd = CMD_REMOVE;
		else if (cmd.len == 5 && !memcmp(cmd.buf, "stats", 5))
			c->cmd = CMD_STATS;
		else if (cmd.len == 4 && !memcmp(cmd.buf, "list", 4))
			c->cmd = CMD_LIST;
	}
	if (!c->cmd) {
		char shown[sizeof cmd_buf + 1];
		size_t i;

		if (cmd.too_long) {
			set_err(err, errlen, "unknown cmd (expected add, remove, stats or list)");
			return -1;
		}
		/* echo what was asked, kept to one printable ASCII line */
		for (i = 0; i < cmd.len; i++)
			shown[i] = cmd.buf[i] >= 0x20 && cmd.buf[i] < 0x7f ? (char)cmd.buf[i] : '?';
		shown[cmd.len] = 0;
		set_err(err, errlen, "unknown cmd '%s' (expected add, remove, stats or list)",
			shown);
		return -1;
	}
	if (c->cmd == CMD_STATS || c->cmd == CMD_LIST)
		return 0;

	if (seen[M_PATH_B64]) {
		if (b64.too_long) {
			set_err(err, errlen, "path longer than %d bytes", CMD_PATH_MAX - 1);
			return -1;
		}
		path.len = 0;
		path.too_long = 0;
		path.has_nul = 0;
		if (b64_decode(b64.buf, b64.len, &path)) {
			set_err(err, errlen, "path_b64 is not valid base64");
			return -1;
		}
	} else if (!seen[M_PATH]) {
		set_err(err, errlen, "%s needs a path", command_name(c->cmd));
		return -1;
	}
	if (path.too_long) {
		set_err(err, errlen, "path longer than %d bytes", CMD_PATH_MAX - 1);
		return -1;
	}
	if (path.has_nul) {
		set_err(err, errlen, "path contains a NUL byte");
		return -1;
	}
	if (path.len == 0) {
		set_err(err, errlen, "path is empty");
		return -1;
	}
	memcpy(c->path, path.buf, path.len);
	c->path[path.len] = 0;
	c->path_len = path.len;
	return 0;
}
