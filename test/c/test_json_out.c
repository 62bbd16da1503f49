#include "json_out.h"
#include "test.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* {"p":<value of b>}\n as a NUL-terminated string */
static const char *enc(const void *b, size_t n)
{
	static char line[8192];
	struct jw w;

	jw_init(&w, line, sizeof line - 1);
	jw_begin(&w);
	jw_bytes(&w, "p", b, n);
	jw_end(&w);
	CHECK(!w.overflow);
	line[w.len] = 0;
	return line;
}

#define ENC(lit) enc(lit, sizeof lit - 1)

static void test_control_bytes(void)
{
	static const char *const want[0x20] = {
		"\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005",
		"\\u0006", "\\u0007", "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r",
		"\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012", "\\u0013",
		"\\u0014", "\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019",
		"\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
	};
	char expect[64];
	unsigned c;

	for (c = 0; c < 0x20; c++) {
		unsigned char b = (unsigned char)c;
		snprintf(expect, sizeof expect, "{\"p\":\"%s\"}\n", want[c]);
		CHECK_STR(enc(&b, 1), expect);
	}
	CHECK_STR(ENC("\x7f"), "{\"p\":\"\\u007f\"}\n");
	/* in the middle of plain text, around the fast path's runs */
	CHECK_STR(ENC("ab\ncd\x01" "ef\x7f"), "{\"p\":\"ab\\ncd\\u0001ef\\u007f\"}\n");
	CHECK_STR(ENC("\0\0"), "{\"p\":\"\\u0000\\u0000\"}\n");
}

static void test_quotes_backslash_ascii(void)
{
	char in[0x7f - 0x20], expect[256];
	size_t i, o = 0;

	CHECK_STR(ENC("a\"b\\c"), "{\"p\":\"a\\\"b\\\\c\"}\n");
	CHECK_STR(ENC("\"\\"), "{\"p\":\"\\\"\\\\\"}\n");
	CHECK_STR(ENC("/etc/</script>"), "{\"p\":\"/etc/</script>\"}\n");
	CHECK_STR(ENC(""), "{\"p\":\"\"}\n");

	/* every printable byte but '"' and '\' passes as it is */
	o = (size_t)snprintf(expect, sizeof expect, "{\"p\":\"");
	for (i = 0; i < sizeof in; i++) {
		in[i] = (char)(0x20 + i);
		if (in[i] == '"' || in[i] == '\\')
			expect[o++] = '\\';
		expect[o++] = in[i];
	}
	memcpy(expect + o, "\"}\n", 4);
	CHECK_STR(enc(in, sizeof in), expect);
}

static void test_valid_utf8(void)
{
	static const char *const ok[] = {
		"\xc2\x80",         /* U+0080, smallest 2-byte */
		"\xc3\xa9",         /* é */
		"\xdf\xbf",         /* U+07FF */
		"\xe0\xa0\x80",     /* U+0800, smallest 3-byte */
		"\xe2\x82\xac",     /* € */
		"\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
		"\xee\x80\x80",     /* U+E000, just above them */
		"\xef\xbf\xbd",     /* U+FFFD itself is a valid character */
		"\xef\xbf\xbf",     /* U+FFFF */
		"\xf0\x90\x80\x80", /* U+10000, smallest 4-byte */
		"\xf0\x9f\x98\x80", /* 😀 */
		"\xf3\xbf\xbf\xbf",
		"\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
		"/srv/\xe6\x97\xa5\xe6\x9c\xac/\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb",
	};
	char expect[128];
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(expect, sizeof expect, "{\"p\":\"%s\"}\n", ok[i]);
		CHECK_STR(enc(ok[i], strlen(ok[i])), expect);
		CHECK(jw_utf8_seq_len((const unsigned char *)ok[i], strlen(ok[i])) ==
		      (i < 13 ? strlen(ok[i]) : 1));
	}
}

#define R "\xef\xbf\xbd" /* U+FFFD as it appears in the output */

static void test_invalid_utf8(void)
{
	static const struct {
		const char *in;
		size_t n;
		const char *str, *b64;
	} cases[] = {
		/* stray continuation bytes */
		{ "\x80", 1, R, "gA==" },
		{ "\xbf", 1, R, "vw==" },
		{ "a\x80\x80z", 4, "a" R R "z", "YYCAeg==" },
		/* truncated sequences: each byte is replaced on its own */
		{ "\xc3", 1, R, "ww==" },
		{ "\xe2\x82", 2, R R, "4oI=" },
		{ "\xf0\x9f\x98", 3, R R R, "8J+Y" },
		{ "\xe2\x82" "A", 3, R R "A", "4oJB" },
		{ "\xc3\xc3\xa9", 3, R "\xc3\xa9", "w8Op" },
		/* overlong forms */
		{ "\xc0\x80", 2, R R, "wIA=" },
		{ "\xc1\xbf", 2, R R, "wb8=" },
		{ "\xe0\x80\x80", 3, R R R, "4ICA" },
		{ "\xe0\x9f\xbf", 3, R R R, "4J+/" },
		{ "\xf0\x80\x80\x80", 4, R R R R, "8ICAgA==" },
		{ "\xf0\x8f\xbf\xbf", 4, R R R R, "8I+/vw==" },
		/* UTF-16 surrogates encoded as UTF-8 (CESU / WTF-8) */
		{ "\xed\xa0\x80", 3, R R R, "7aCA" },
		{ "\xed\xbf\xbf", 3, R R R, "7b+/" },
		{ "\xed\xa0\xbd\xed\xb8\x80", 6, R R R R R R, "7aC97biA" },
		/* beyond U+10FFFF */
		{ "\xf4\x90\x80\x80", 4, R R R R, "9JCAgA==" },
		{ "\xf5\x80\x80\x80", 4, R R R R, "9YCAgA==" },
		{ "\xf7\xbf\xbf\xbf", 4, R R R R, "97+/vw==" },
		{ "\xf8\x88\x80\x80\x80", 5, R R R R R, "+IiAgIA=" },
		/* bytes that never appear in UTF-8 */
		{ "\xfe", 1, R, "/g==" },
		{ "\xff", 1, R, "/w==" },
		{ "\xfe\xff", 2, R R, "/v8=" },
		/* mixed with escapes and valid text: the b64 is of the input */
		{ "a\xff\xc3\xa9\n\"", 6, "a" R "\xc3\xa9\\n\\\"", "Yf/DqQoi" },
		{ "/tmp/\xff\x00x", 8, "/tmp/" R "\\u0000x", "L3RtcC//AHg=" },
	};
	char expect[256];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(expect, sizeof expect, "{\"p\":\"%s\",\"p_b64\":\"%s\"}\n",
			 cases[i].str, cases[i].b64);
		CHECK_STR(enc(cases[i].in, cases[i].n), expect);
		CHECK(jw_utf8_seq_len((const unsigned char *)cases[i].in, cases[i].n) ==
		      (cases[i].in[0] == 'a' || cases[i].in[0] == '/' ? 1 : 0));
	}

	/* every lead byte on its own: only ASCII is a whole sequence */
	for (i = 0; i < 256; i++) {
		unsigned char b = (unsigned char)i;
		CHECK(jw_utf8_seq_len(&b, 1) == (i < 0x80));
	}
}

static void test_str_and_array_replace_without_sibling(void)
{
	char line[256];
	struct jw w;

	jw_init(&w, line, sizeof line - 1);
	jw_begin(&w);
	jw_str(&w, "comm", "a\xff\tb");
	jw_array_begin(&w, "l");
	jw_array_str(&w, "\xc0\x80");
	jw_array_str(&w, "ok\"");
	jw_array_end(&w);
	jw_end(&w);
	line[w.len] = 0;
	CHECK_STR(line, "{\"comm\":\"a" R "\\tb\",\"l\":[\"" R R "\",\"ok\\\"\"]}\n");
}

static void test_base64(void)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	unsigned char all[256];
	char out[JW_B64_LEN(256) + 1];
	size_t i;

	for (i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		size_t n = strlen(vec[i][0]);
		memset(out, '#', sizeof out);
		jw_base64(out, (const unsigned char *)vec[i][0], n);
		CHECK(out[JW_B64_LEN(n)] == '#'); /* wrote exactly JW_B64_LEN */
		out[JW_B64_LEN(n)] = 0;
		CHECK_STR(out, vec[i][1]);
	}
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	jw_base64(out, all, 256);
	out[JW_B64_LEN(256)] = 0;
	CHECK_STR(out,
		  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEy"
		  "MzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2Rl"
		  "ZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeY"
		  "mZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrL"
		  "zM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==");
}

static void test_scalars_and_commas(void)
{
	char line[512];
	struct jw w;

	jw_init(&w, line, sizeof line - 1);
	jw_begin(&w);
	jw_u64(&w, "a", 0);
	jw_u64(&w, "b", UINT64_MAX);
	jw_i64(&w, "c", INT64_MIN);
	jw_i64(&w, "d", -1);
	jw_i64(&w, "e", INT64_MAX);
	jw_i64(&w, "f", 0);
	jw_bool(&w, "g", 1);
	jw_bool(&w, "h", 0);
	jw_null(&w, "i");
	jw_array_begin(&w, "j");
	jw_array_end(&w);
	jw_array_begin(&w, "k");
	jw_array_u64(&w, 7);
	jw_array_end(&w);
	jw_array_begin(&w, "l");
	jw_array_u64(&w, 1);
	jw_array_u64(&w, 18446744073709551615u);
	jw_array_u64(&w, 0);
	jw_array_end(&w);
	jw_str(&w, "m", "");
	jw_literal(&w, "n", "sys_exit-openat2");
	jw_literal(&w, "o", "");
	jw_end(&w);
	CHECK(!w.overflow);
	line[w.len] = 0;
	CHECK_STR(line,
		  "{\"a\":0,\"b\":18446744073709551615,\"c\":-9223372036854775808,"
		  "\"d\":-1,\"e\":9223372036854775807,\"f\":0,\"g\":true,\"h\":false,"
		  "\"i\":null,\"j\":[],\"k\":[7],\"l\":[1,18446744073709551615,0],"
		  "\"m\":\"\",\"n\":\"sys_exit-openat2\",\"o\":\"\"}\n");

	/* a literal one byte too long for the room left overflows without writing past it */
	for (size_t cap = 1; cap <= 12; cap++) {
		memset(line, '#', sizeof line);
		jw_init(&w, line, cap);
		jw_begin(&w);
		jw_literal(&w, "k", "event"); /* {"k":"event" is 12 bytes */
		CHECK(w.overflow == (cap < 12));
		CHECK(w.len <= cap);
		CHECK(line[cap] == '#');
	}

	/* an array first, and an empty object */
	jw_init(&w, line, sizeof line - 1);
	jw_begin(&w);
	jw_array_begin(&w, "x");
	jw_array_str(&w, "a");
	jw_array_end(&w);
	jw_bool(&w, "y", 1);
	jw_end(&w);
	line[w.len] = 0;
	CHECK_STR(line, "{\"x\":[\"a\"],\"y\":true}\n");

	jw_init(&w, line, sizeof line - 1);
	jw_begin(&w);
	jw_end(&w);
	line[w.len] = 0;
	CHECK_STR(line, "{}\n");
}

/* The digits are written two at a time from the end: every length, each side of every power
 * of ten, and a spread of values against printf; a key given at run time as well. */
static void check_int(uint64_t u, int64_t i)
{
	char line[128], want[128];
	char key[8] = "k";
	struct jw w;

	jw_init(&w, line, sizeof line - 1);
	jw_begin(&w);
	jw_u64(&w, key, u);
	jw_i64(&w, "i", i);
	jw_array_begin(&w, "a");
	jw_array_u64(&w, u);
	jw_array_end(&w);
	jw_end(&w);
	CHECK(!w.overflow);
	line[w.len] = 0;
	snprintf(want, sizeof want, "{\"k\":%" PRIu64 ",\"i\":%" PRId64 ",\"a\":[%" PRIu64 "]}\n", u, i, u);
	CHECK_STR(line, want);
}

static void test_integers(void)
{
	uint64_t p = 1, x = 0x9e3779b97f4a7c15u;

	for (int k = 0; k < 20; k++) {
		check_int(p - 1, -(int64_t)(p - 1));
		check_int(p, (int64_t)p);
		check_int(p + 1, -(int64_t)p);
		if (k < 19)
			p *= 10;
	}
	check_int(UINT64_MAX, INT64_MIN);
	check_int(UINT64_MAX - 1, INT64_MAX);
	for (int k = 0; k < 10000; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		check_int(x >> (k % 64), (int64_t)x >> (k % 64));
	}
}

/* One record with every kind of member, built into a buffer of exactly
 * cap bytes on the heap (so ASan sees any write past it). */
static size_t build_sample(char *buf, size_t cap, int *overflow)
{
	static const unsigned char name[] = "/var/\xff\x01log/\xc3\xa9t\xc3\xa9\"";
	struct jw w;

	jw_init(&w, buf, cap);
	jw_begin(&w);
	jw_str(&w, "type", "event");
	jw_u64(&w, "timestamp", 1764090012345678901u);
	jw_bytes(&w, "path", name, sizeof name - 1);
	jw_null(&w, "old_path");
	jw_i64(&w, "n", -42);
	jw_bool(&w, "b", 0);
	jw_array_begin(&w, "hooks");
	jw_array_str(&w, "sys_exit_openat");
	jw_array_u64(&w, 3);
	jw_array_end(&w);
	jw_end(&w);
	*overflow = w.overflow;
	return w.len;
}

static void test_overflow(void)
{
	char full[1024];
	size_t full_len, cap;
	int of;

	full_len = build_sample(full, sizeof full, &of);
	CHECK(!of);
	CHECK(full_len > 100 && full[full_len - 1] == '\n');

	for (cap = 0; cap <= full_len + 1; cap++) {
		char *buf = malloc(cap ? cap : 1);
		char guarded[1100];
		size_t len;

		len = build_sample(buf, cap, &of);
		CHECK(len <= cap);
		if (cap < full_len) {
			CHECK(of);
		} else {
			CHECK(!of && len == full_len && !memcmp(buf, full, full_len));
		}
		free(buf);

		/* and a canary right after cap in a bigger buffer */
		memset(guarded, 0x5a, sizeof guarded);
		build_sample(guarded, cap, &of);
		CHECK(guarded[cap] == 0x5a && guarded[sizeof guarded - 1] == 0x5a);
	}

	{
		/* after overflow every call is a no-op, even ones that would fit */
		char b[8];
		struct jw w;
		jw_init(&w, b, sizeof b);
		jw_begin(&w);
		jw_str(&w, "long-key", "x");
		CHECK(w.overflow && w.len <= sizeof b);
		jw_u64(&w, "", 1);
		CHECK(w.overflow && w.len <= sizeof b);
	}
}

/* Output of jw_bytes_cut as one member after an existing one. */
static size_t cut_member(const unsigned char *b, size_t n, size_t max_out,
			 char *out, size_t *out_len)
{
	struct jw w;
	size_t before, k;

	jw_init(&w, out, 8192);
	jw_begin(&w);
	jw_u64(&w, "x", 1);
	before = w.len;
	k = jw_bytes_cut(&w, "path", b, n, max_out);
	*out_len = w.len - before;
	CHECK(!w.overflow);
	return k;
}

static void test_bytes_cut(void)
{
	static const char *const inputs[] = {
		"/plain/ascii/path",
		"/\x01\x02\x03/\n\n",
		"/t\xc3\xa9t\xe2\x82\xac\xf0\x9f\x98\x80z",
		"/bad\xff\xfe\x80tail",
		"\xff",
		"ok then \xc3\xa9\x01\xff",
	};
	char out[8192];
	size_t i, max_out, len;

	for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		const unsigned char *b = (const unsigned char *)inputs[i];
		size_t n = strlen(inputs[i]);
		size_t full_len, prev_k = 0;

		CHECK(cut_member(b, n, 100000, out, &full_len) == n);
		for (max_out = 0; max_out <= full_len + 2; max_out++) {
			size_t k = cut_member(b, n, max_out, out, &len);
			size_t empty = strlen(",\"path\":\"\"");

			CHECK(k <= n);
			CHECK(k >= prev_k); /* more room never means less text */
			prev_k = k;
			if (max_out >= empty)
				CHECK(len <= max_out);
			else
				CHECK(k == 0 && len == empty);
			if (max_out >= full_len)
				CHECK(k == n);
			/* the cut falls between sequences: a valid prefix of the
			 * input keeps its characters whole */
			if (k > 0 && k < n && b[k] >= 0x80 && b[k] < 0xc0) {
				size_t s = k;
				while (s > 0 && b[s - 1] >= 0x80 && b[s - 1] < 0xc0)
					s--;
				CHECK(s == 0 || jw_utf8_seq_len(b + s - 1, n - s + 1) == 0);
			}
			/* and it is the longest that fits: one more unit does not */
			if (k < n && max_out >= empty) {
				size_t next = k + (jw_utf8_seq_len(b + k, n - k) ? jw_utf8_seq_len(b + k, n - k) : 1);
				size_t longer;
				cut_member(b, next, 100000, out, &longer);
				CHECK(longer > max_out);
			}
		}
	}

	/* a long hostile name fits a 16 KiB record budget */
	{
		static unsigned char evil[4095];
		char big[20000];
		struct jw w;
		size_t k;

		memset(evil, 0x01, sizeof evil);
		jw_init(&w, big, sizeof big);
		jw_begin(&w);
		k = jw_bytes_cut(&w, "path", evil, sizeof evil, 8000);
		CHECK(k == (8000 - strlen("\"path\":\"\"")) / 6);
		CHECK(w.len - 1 <= 8000);
		memset(evil, 0xff, sizeof evil);
		jw_init(&w, big, sizeof big);
		jw_begin(&w);
		k = jw_bytes_cut(&w, "path", evil, sizeof evil, 8000);
		CHECK(k > 0 && k < sizeof evil && w.len - 1 <= 8000);
	}
}

int main(void)
{
	test_control_bytes();
	test_quotes_backslash_ascii();
	test_valid_utf8();
	test_invalid_utf8();
	test_str_and_array_replace_without_sibling();
	test_base64();
	test_scalars_and_commas();
	test_integers();
	test_overflow();
	test_bytes_cut();
	return t_done("test_json_out");
}
