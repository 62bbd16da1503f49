#include "json_out.h"

#include <string.h>

/* Byte classes for the string escaper. Almost every byte of a real path is
 * class 0, so the loop below only looks at the table until it finds a
 * byte that is not, and copies the run in one memcpy. */
enum { C_PLAIN = 0, C_ESC = 1, C_HIGH = 2 };

#define E C_ESC
#define H C_HIGH
static const unsigned char jw_class[256] = {
	E, E, E, E, E, E, E, E, E, E, E, E, E, E, E, E, /* 0x00 */
	E, E, E, E, E, E, E, E, E, E, E, E, E, E, E, E, /* 0x10 */
	0, 0, E, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, E, 0, 0, 0, /* 0x50 '\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, E, /* 0x70 DEL */
	H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, /* 0x80 */
	H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
	H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
	H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
	H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
	H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
	H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
	H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
};
#undef E
#undef H

/* The two-character escapes JSON has; every other C_ESC byte is \u00XX. */
static char short_escape(unsigned char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '\b': return 'b';
	case '\t': return 't';
	case '\n': return 'n';
	case '\f': return 'f';
	case '\r': return 'r';
	default: return 0;
	}
}

static const char hex_digits[] = "0123456789abcdef";
static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const unsigned char replacement[3] = { 0xef, 0xbf, 0xbd }; /* U+FFFD */

size_t jw_utf8_seq_len(const unsigned char *b, size_t n)
{
	unsigned c = b[0];
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c < 0xc2) /* continuation bytes, and C0/C1 which only start overlongs */
		return 0;
	if (c < 0xe0)
		return n >= 2 && (b[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c < 0xf0) {
		if (c == 0xe0)
			lo = 0xa0; /* below: overlong 3-byte forms */
		else if (c == 0xed)
			hi = 0x9f; /* above: UTF-16 surrogates D800-DFFF */
		if (n < 3 || b[1] < lo || b[1] > hi || (b[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c < 0xf5) {
		if (c == 0xf0)
			lo = 0x90; /* below: overlong 4-byte forms */
		else if (c == 0xf4)
			hi = 0x8f; /* above: beyond U+10FFFF */
		if (n < 4 || b[1] < lo || b[1] > hi || (b[2] & 0xc0) != 0x80 ||
		    (b[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0; /* F5-FF never appear in UTF-8 */
}

void jw_base64(char *out, const unsigned char *b, size_t n)
{
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8 | b[i + 2];
		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = b64_alphabet[(v >> 6) & 63];
		*out++ = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)b[i] << 16;
		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8;
		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = b64_alphabet[(v >> 6) & 63];
		*out++ = '=';
	}
}

/* Every write goes through here: the single place that keeps len <= cap. */
static int reserve(struct jw *w, size_t k)
{
	if (w->overflow)
		return 0;
	if (w->cap - w->len < k) {
		w->overflow = 1;
		return 0;
	}
	return 1;
}

static void put(struct jw *w, const void *p, size_t k)
{
	if (!reserve(w, k))
		return;
	memcpy(w->buf + w->len, p, k);
	w->len += k;
}

static void put_c(struct jw *w, char c)
{
	if (!reserve(w, 1))
		return;
	w->buf[w->len++] = c;
}

/* The string body, without quotes. Returns whether any byte had to be
 * replaced by U+FFFD. */
static int put_escaped(struct jw *w, const unsigned char *b, size_t n)
{
	int replaced = 0;
	size_t i = 0;

	while (i < n) {
		size_t run = i;
		unsigned char c;

		while (run < n && jw_class[b[run]] == C_PLAIN)
			run++;
		if (run > i) {
			put(w, b + i, run - i);
			i = run;
			if (i == n)
				break;
		}
		if (w->overflow)
			return replaced;

		c = b[i];
		if (jw_class[c] == C_ESC) {
			char e = short_escape(c);
			if (e) {
				char esc[2] = { '\\', e };
				put(w, esc, 2);
			} else {
				char esc[6] = { '\\', 'u', '0', '0', hex_digits[c >> 4],
						hex_digits[c & 15] };
				put(w, esc, 6);
			}
			i++;
		} else {
			size_t k = jw_utf8_seq_len(b + i, n - i);
			if (k) {
				put(w, b + i, k);
				i += k;
			} else {
				put(w, replacement, 3);
				replaced = 1;
				i++;
			}
		}
	}
	return replaced;
}

static void put_b64_sibling(struct jw *w, const char *key, size_t klen,
			    const unsigned char *b, size_t n)
{
	size_t blen = JW_B64_LEN(n);

	/* ,"key_b64":"...." */
	if (!reserve(w, klen + 10 + blen))
		return;
	put(w, ",\"", 2);
	put(w, key, klen);
	put(w, "_b64\":\"", 7);
	jw_base64(w->buf + w->len, b, n);
	w->len += blen;
	put_c(w, '"');
}

void jw_init(struct jw *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = 0;
	w->first = 1;
}

void jw_begin(struct jw *w)
{
	put_c(w, '{');
	w->first = 1;
}

void jw_end(struct jw *w)
{
	put(w, "}\n", 2);
}

void jw__raw(struct jw *w, const char *s, size_t n)
{
	put(w, s, n);
}

void jw__str_value(struct jw *w, const char *s, size_t n)
{
	put_c(w, '"');
	put_escaped(w, (const unsigned char *)s, n);
	put_c(w, '"');
}

void jw__literal_value(struct jw *w, const char *s, size_t n)
{
	if (!reserve(w, n + 2))
		return;
	w->buf[w->len++] = '"';
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len++] = '"';
}

/* The value of the member whose key was just written, and its _b64 sibling when needed. */
void jw__bytes_value(struct jw *w, const char *key, size_t klen, const unsigned char *b, size_t n)
{
	int replaced;

	put_c(w, '"');
	replaced = put_escaped(w, b, n);
	put_c(w, '"');
	if (replaced)
		put_b64_sibling(w, key, klen, b, n);
}

size_t jw__bytes_cut(struct jw *w, const char *key, size_t klen, const unsigned char *b,
		     size_t n, size_t max_out)
{
	size_t base = (w->first ? 0 : 1) + klen + 5; /* ,"key":"" */
	size_t sibling = klen + 10;                   /* ,"key_b64":"" */
	size_t cost = base, k = 0;
	int replaced = 0;

	/* Worst case is 6 output bytes per input byte plus the sibling:
	 * when that fits, no need to measure. */
	if (n <= (max_out / 8) && base + sibling + 6 * n + JW_B64_LEN(n) <= max_out) {
		jw__key(w, key, klen);
		jw__bytes_value(w, key, klen, b, n);
		return n;
	}
	while (k < n) {
		unsigned char c = b[k];
		size_t ulen = 1, ucost;
		int urepl = 0;
		size_t total;

		if (jw_class[c] == C_PLAIN) {
			ucost = 1;
		} else if (jw_class[c] == C_ESC) {
			ucost = short_escape(c) ? 2 : 6;
		} else {
			ulen = jw_utf8_seq_len(b + k, n - k);
			if (ulen) {
				ucost = ulen;
			} else {
				ulen = 1;
				ucost = 3;
				urepl = 1;
			}
		}
		total = cost + ucost;
		if (replaced || urepl)
			total += sibling + JW_B64_LEN(k + ulen);
		if (total > max_out)
			break;
		cost += ucost;
		replaced |= urepl;
		k += ulen;
	}
	jw__key(w, key, klen);
	jw__bytes_value(w, key, klen, b, k);
	return k;
}

/* Two digits a step, straight into the buffer: a timestamp has 19 of them. */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Written from the end of a scratch buffer, so the digits need not be counted first (a
 * division per digit, in a dependent chain) before the pairs are placed. */
static void put_u64_digits(struct jw *w, uint64_t v)
{
	char tmp[20]; /* UINT64_MAX has 20 digits */
	char *p = tmp + sizeof(tmp);

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100);

		v /= 100;
		p -= 2;
		memcpy(p, digit_pairs + 2 * d, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, digit_pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jw__u64_value(struct jw *w, uint64_t v)
{
	put_u64_digits(w, v);
}

void jw__i64_value(struct jw *w, int64_t v)
{
	if (v < 0) {
		put_c(w, '-');
		/* negate in unsigned arithmetic: -INT64_MIN does not exist */
		put_u64_digits(w, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64_digits(w, (uint64_t)v);
	}
}

static void array_sep(struct jw *w)
{
	if (!w->first)
		put_c(w, ',');
	w->first = 0;
}

void jw_array_str(struct jw *w, const char *s)
{
	array_sep(w);
	put_c(w, '"');
	put_escaped(w, (const unsigned char *)s, strlen(s));
	put_c(w, '"');
}

void jw_array_u64(struct jw *w, uint64_t v)
{
	array_sep(w);
	put_u64_digits(w, v);
}

void jw_array_end(struct jw *w)
{
	put_c(w, ']');
	w->first = 0; /* the array itself is a member of the object */
}
