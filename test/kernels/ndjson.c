#include "ndjson.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p, *end;
	char *out; /* next free byte of the record's store */
	char *err;
	size_t errlen;
};

static bool fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	return false;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n'))
		ps->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool read_u16(struct parser *ps, unsigned *v)
{
	*v = 0;
	if (ps->end - ps->p < 4)
		return fail(ps, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		int h = hexval(ps->p[i]);

		if (h < 0)
			return fail(ps, "bad \\u escape");
		*v = *v << 4 | (unsigned)h;
	}
	ps->p += 4;
	return true;
}

static void put_utf8(struct parser *ps, unsigned cp)
{
	if (cp < 0x80) {
		*ps->out++ = (char)cp;
	} else if (cp < 0x800) {
		*ps->out++ = (char)(0xc0 | cp >> 6);
		*ps->out++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*ps->out++ = (char)(0xe0 | cp >> 12);
		*ps->out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*ps->out++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*ps->out++ = (char)(0xf0 | cp >> 18);
		*ps->out++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*ps->out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*ps->out++ = (char)(0x80 | (cp & 0x3f));
	}
}

/* A string at ps->p (on its opening quote), decoded into the store. Every escape decodes to at
 * most as many bytes as it takes in the line, so the store never needs more than the line. */
static bool read_string(struct parser *ps, const char **val, size_t *len)
{
	char *start = ps->out;

	ps->p++;
	for (;;) {
		if (ps->p >= ps->end)
			return fail(ps, "unterminated string");
		unsigned char c = (unsigned char)*ps->p++;

		if (c == '"')
			break;
		if (c < 0x20)
			return fail(ps, "raw control byte 0x%02x in a string", c);
		if (c != '\\') {
			*ps->out++ = (char)c;
			continue;
		}
		if (ps->p >= ps->end)
			return fail(ps, "unterminated escape");
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"': case '\\': case '/': *ps->out++ = (char)c; break;
		case 'b': *ps->out++ = '\b'; break;
		case 'f': *ps->out++ = '\f'; break;
		case 'n': *ps->out++ = '\n'; break;
		case 'r': *ps->out++ = '\r'; break;
		case 't': *ps->out++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (!read_u16(ps, &cp))
				return false;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(ps, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
					return fail(ps, "lone high surrogate");
				ps->p += 2;
				if (!read_u16(ps, &lo))
					return false;
				if (lo < 0xdc00 || lo > 0xdfff)
					return fail(ps, "bad surrogate pair");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			put_utf8(ps, cp);
			break;
		}
		default:
			return fail(ps, "bad escape \\%c", c);
		}
	}
	*val = start;
	*len = (size_t)(ps->out - start);
	*ps->out++ = '\0';
	return true;
}

static bool is_num_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Copies raw value text [from, ps->p) into the store. */
static void keep_raw(struct parser *ps, const char *from, const char **val, size_t *len)
{
	*len = (size_t)(ps->p - from);
	memcpy(ps->out, from, *len);
	*val = ps->out;
	ps->out += *len;
	*ps->out++ = '\0';
}

static bool read_literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return fail(ps, "bad literal");
	ps->p += n;
	return true;
}

static bool read_value(struct parser *ps, struct member *m, bool in_array)
{
	const char *from = ps->p;

	if (ps->p >= ps->end)
		return fail(ps, "missing value");
	switch (*ps->p) {
	case '"':
		m->type = J_STR;
		return read_string(ps, &m->val, &m->len);
	case 't':
		m->type = J_TRUE;
		return read_literal(ps, "true");
	case 'f':
		m->type = J_FALSE;
		return read_literal(ps, "false");
	case 'n':
		m->type = J_NULL;
		return read_literal(ps, "null");
	case '[': {
		struct member item;
		char *mark = ps->out;

		if (in_array)
			return fail(ps, "nested array");
		ps->p++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
		} else {
			for (;;) {
				skip_ws(ps);
				if (!read_value(ps, &item, true))
					return false;
				skip_ws(ps);
				if (ps->p < ps->end && *ps->p == ',') {
					ps->p++;
					continue;
				}
				if (ps->p < ps->end && *ps->p == ']') {
					ps->p++;
					break;
				}
				return fail(ps, "bad array");
			}
		}
		ps->out = mark; /* the items were only checked; keep the raw text */
		m->type = J_ARR;
		keep_raw(ps, from, &m->val, &m->len);
		return true;
	}
	default:
		if (!is_num_char(*ps->p))
			return fail(ps, "unexpected '%c'", *ps->p);
		while (ps->p < ps->end && is_num_char(*ps->p))
			ps->p++;
		m->type = J_NUM;
		keep_raw(ps, from, &m->val, &m->len);
		return true;
	}
}

struct rec *rec_parse(const char *line, size_t len, char *err, size_t errlen)
{
	struct rec *r = calloc(1, sizeof(*r));
	struct parser ps = { line, line + len, NULL, err, errlen };

	if (!r)
		return NULL;
	r->store = malloc(2 * len + 16);
	r->line = malloc(len + 1);
	if (!r->store || !r->line)
		goto bad;
	memcpy(r->line, line, len);
	r->line[len] = '\0';
	r->line_len = len;
	ps.out = r->store;

	skip_ws(&ps);
	if (ps.p >= ps.end || *ps.p != '{') {
		fail(&ps, "not an object");
		goto bad;
	}
	ps.p++;
	skip_ws(&ps);
	if (ps.p < ps.end && *ps.p == '}') {
		ps.p++;
		goto done;
	}
	for (;;) {
		struct member *m;
		size_t klen;

		skip_ws(&ps);
		if (r->n == REC_MEMBERS_MAX) {
			fail(&ps, "more than %d members", REC_MEMBERS_MAX);
			goto bad;
		}
		m = &r->m[r->n];
		if (ps.p >= ps.end || *ps.p != '"') {
			fail(&ps, "expected a key");
			goto bad;
		}
		if (!read_string(&ps, &m->key, &klen))
			goto bad;
		if (rec_get(r, m->key)) {
			fail(&ps, "key %s given twice", m->key);
			goto bad;
		}
		skip_ws(&ps);
		if (ps.p >= ps.end || *ps.p != ':') {
			fail(&ps, "expected ':'");
			goto bad;
		}
		ps.p++;
		skip_ws(&ps);
		if (!read_value(&ps, m, false))
			goto bad;
		r->n++;
		skip_ws(&ps);
		if (ps.p < ps.end && *ps.p == ',') {
			ps.p++;
			continue;
		}
		if (ps.p < ps.end && *ps.p == '}') {
			ps.p++;
			break;
		}
		fail(&ps, "expected ',' or '}'");
		goto bad;
	}
done:
	skip_ws(&ps);
	if (ps.p != ps.end) {
		fail(&ps, "text after the object");
		goto bad;
	}
	if (!utf8_valid((const unsigned char *)line, len)) {
		fail(&ps, "line is not valid UTF-8");
		goto bad;
	}
	return r;
bad:
	rec_free(r);
	return NULL;
}

void rec_free(struct rec *r)
{
	if (!r)
		return;
	free(r->store);
	free(r->line);
	free(r);
}

const struct member *rec_get(const struct rec *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->m[i].key, key))
			return &r->m[i];
	return NULL;
}

bool rec_str_is(const struct rec *r, const char *key, const char *s)
{
	const struct member *m = rec_get(r, key);

	return m && m->type == J_STR && m->len == strlen(s) && !memcmp(m->val, s, m->len);
}

bool rec_u64(const struct rec *r, const char *key, uint64_t *v)
{
	const struct member *m = rec_get(r, key);
	char *end;

	if (!m || m->type != J_NUM || m->val[0] == '-')
		return false;
	*v = strtoull(m->val, &end, 10);
	return *end == '\0';
}

bool rec_is_null(const struct rec *r, const char *key)
{
	const struct member *m = rec_get(r, key);

	return m && m->type == J_NULL;
}

bool rec_array_has(const struct rec *r, const char *key, const char *s)
{
	const struct member *m = rec_get(r, key);
	char quoted[256];

	if (!m || m->type != J_ARR)
		return false;
	snprintf(quoted, sizeof(quoted), "\"%s\"", s);
	return strstr(m->val, quoted) != NULL;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* RFC 4648 with padding; NULL when the text is not that. */
static char *b64_decode(const char *in, size_t n)
{
	char *out = malloc(n / 4 * 3 + 1), *o = out;

	if (!out || n % 4) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64val((unsigned char)in[i + k])) < 0) {
				free(out);
				return NULL;
			}
		}
		unsigned triple = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);

		*o++ = (char)(triple >> 16);
		if (pad < 2)
			*o++ = (char)(triple >> 8);
		if (pad < 1)
			*o++ = (char)triple;
	}
	*o = '\0';
	return out;
}

char *rec_path(const struct rec *r, const char *key)
{
	char sibling[64];
	const struct member *m = rec_get(r, key), *b;

	snprintf(sibling, sizeof(sibling), "%s_b64", key);
	b = rec_get(r, sibling);
	if (b)
		return b->type == J_STR ? b64_decode(b->val, b->len) : NULL;
	if (!m || m->type != J_STR)
		return NULL;
	return strdup(m->val);
}

bool utf8_valid(const unsigned char *b, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = b[i];
		size_t len;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4, cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((b[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (b[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}
