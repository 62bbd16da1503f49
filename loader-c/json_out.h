/* NDJSON record builder into a caller-owned fixed buffer.
 *
 * One record is built per call sequence:
 *
 *     char line[16000];
 *     struct jw w;
 *     jw_init(&w, line, sizeof line);
 *     jw_begin(&w);                               {
 *     jw_str(&w, "type", "event");                "type":"event"
 *     jw_u64(&w, "pid", 812);                     ,"pid":812
 *     jw_bytes(&w, "path", p, n);                 ,"path":"..."[,"path_b64":"..."]
 *     jw_array_begin(&w, "hooks");                ,"hooks":[
 *     jw_array_str(&w, "sys_exit_openat");        "sys_exit_openat"
 *     jw_array_end(&w);                           ]
 *     jw_end(&w);                                 }\n
 *     if (!w.overflow) write(1, w.buf, w.len);
 *
 *   buf:  | {"type":"event",...}\n |<-- unused -->|
 *         0                       len             cap
 *
 * Nothing allocates and nothing is ever written at or past buf[cap]. The
 * output is not NUL-terminated. When something does not fit, `overflow` is
 * set, every later call does nothing, and the content of buf is unspecified:
 * the caller drops or flags the record. A record that must fit a size
 * limit (DESIGN.md §2: under 16 KiB) uses jw_bytes_cut() for its long
 * fields instead of relying on overflow, so a hostile file name costs a
 * truncated field rather than a lost event.
 *
 * Keys are written as given, unescaped: they must be ASCII letters, digits
 * or '_' (they are string literals in the loader). Values are always
 * escaped so that the line is valid UTF-8 JSON whatever the input bytes:
 *   - 0x00-0x1f and 0x7f become \b \t \n \f \r or \u00XX; '"' and '\' are
 *     backslash-escaped;
 *   - well-formed UTF-8 (RFC 3629: shortest form, no surrogates, at most
 *     U+10FFFF) passes through unchanged;
 *   - every other byte becomes U+FFFD, one per byte (docs/protocol.md).
 * Only jw_bytes()/jw_bytes_cut() then add the "<key>_b64" sibling with
 * the exact input bytes in base64 (RFC 4648, padded); jw_str() and
 * jw_array_str() take strings the caller knows to be UTF-8 and only
 * replace, so that a mistake there still cannot produce an invalid line.
 *
 * Arrays are flat: one array at a time, inside the top-level object.
 */
#ifndef FIM_JSON_OUT_H
#define FIM_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct jw {
	char *buf;
	size_t cap;
	size_t len;
	int overflow;
	int first; /* no member written yet at the current level: no comma */
};

void jw_init(struct jw *w, char *buf, size_t cap);

/* "{" and "}\n". jw_init() + jw_begin() may be repeated to reuse a buffer. */
void jw_begin(struct jw *w);
void jw_end(struct jw *w);

/*
 * The functions that take a key are inline: a literal key is then a
 * fixed-size copy (its length known at compile time) instead of a strlen
 * and a memcpy call per field, which were most of the cost of a record.
 * The jw__ functions are their out-of-line halves; use the ones below.
 */
static inline void jw__key(struct jw *w, const char *key, size_t klen)
{
	char *p;

	if (w->overflow || w->cap - w->len < klen + 4) { /* ,"key": */
		w->overflow = 1;
		return;
	}
	p = w->buf + w->len;
	if (!w->first)
		*p++ = ',';
	w->first = 0;
	*p++ = '"';
	memcpy(p, key, klen);
	p += klen;
	*p++ = '"';
	*p++ = ':';
	w->len = (size_t)(p - w->buf);
}

void jw__raw(struct jw *w, const char *s, size_t n);
void jw__str_value(struct jw *w, const char *s, size_t n);
void jw__literal_value(struct jw *w, const char *s, size_t n);
void jw__bytes_value(struct jw *w, const char *key, size_t klen, const unsigned char *b, size_t n);
void jw__u64_value(struct jw *w, uint64_t v);
void jw__i64_value(struct jw *w, int64_t v);
size_t jw__bytes_cut(struct jw *w, const char *key, size_t klen, const unsigned char *b,
		     size_t n, size_t max_out);

static inline void jw_str(struct jw *w, const char *key, const char *s)
{
	jw__key(w, key, strlen(key));
	jw__str_value(w, s, strlen(s));
}

/* A value from the loader's own tables ("event", "openat", "tracepoint"): the same contract as
 * a key (ASCII letters, digits, '_' or '-', never input bytes), so it is written unescaped,
 * quotes and all in one step. Most string fields of an event are these. */
static inline void jw_literal(struct jw *w, const char *key, const char *s)
{
	jw__key(w, key, strlen(key));
	jw__literal_value(w, s, strlen(s));
}

static inline void jw_bytes(struct jw *w, const char *key, const unsigned char *b, size_t n)
{
	size_t klen = strlen(key);

	jw__key(w, key, klen);
	jw__bytes_value(w, key, klen, b, n);
}

/* Like jw_bytes() for the longest prefix of b, cut only between UTF-8
 * sequences, whose members (the leading comma, key, value and any _b64
 * sibling) fit in max_out bytes. Returns how many input bytes were
 * written: less than n means the field was cut and the caller should say
 * so (the "truncated" array). When even an empty value does not fit in
 * max_out, "" is written anyway so the record keeps the field. */
static inline size_t jw_bytes_cut(struct jw *w, const char *key, const unsigned char *b,
				  size_t n, size_t max_out)
{
	return jw__bytes_cut(w, key, strlen(key), b, n, max_out);
}

static inline void jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw__key(w, key, strlen(key));
	jw__u64_value(w, v);
}

static inline void jw_i64(struct jw *w, const char *key, int64_t v)
{
	jw__key(w, key, strlen(key));
	jw__i64_value(w, v);
}

static inline void jw_bool(struct jw *w, const char *key, int v)
{
	jw__key(w, key, strlen(key));
	jw__raw(w, v ? "true" : "false", v ? 4 : 5);
}

static inline void jw_null(struct jw *w, const char *key)
{
	jw__key(w, key, strlen(key));
	jw__raw(w, "null", 4);
}

static inline void jw_array_begin(struct jw *w, const char *key)
{
	jw__key(w, key, strlen(key));
	jw__raw(w, "[", 1);
	w->first = 1;
}

void jw_array_str(struct jw *w, const char *s);
void jw_array_u64(struct jw *w, uint64_t v);
void jw_array_end(struct jw *w);

/* Bytes base64_encode() writes for n input bytes (padded). */
#define JW_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* Standard base64 with padding; writes exactly JW_B64_LEN(n) bytes to out,
 * no NUL. Exposed for the tests and for callers that need the encoding. */
void jw_base64(char *out, const unsigned char *b, size_t n);

/* Length of the well-formed UTF-8 sequence starting at b[0] (1..4), or 0
 * when b[0] does not start one within n bytes. Shared with command.c so
 * that "valid UTF-8" means the same thing in both directions. */
size_t jw_utf8_seq_len(const unsigned char *b, size_t n);

#endif
