/* Round trip of random file names through the two halves of the protocol:
 *
 *   bytes --jw_bytes--> {"cmd":"add","path":...,"path_b64":...,"orig_hex":...}
 *         --command_parse--> bytes again (path_b64 when present, else path)
 *
 * Each line is also compared with a slow reference encoder written here
 * from the rules in docs/protocol.md (decoding code points rather than
 * using json_out.c's byte ranges), and written to a file that
 * check-ndjson.mjs then reads with a JSON parser that is not ours.
 *
 * usage: fuzz_roundtrip SEED ITERATIONS OUT.ndjson
 */
#include "command.h"
#include "json_out.h"
#include "test.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed on every platform */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() >> 33) % n;
}

/* ---- reference encoder -------------------------------------------- */

static size_t ref_seq(const unsigned char *b, size_t n)
{
	unsigned c = b[0];
	size_t len, i;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((b[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (b[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static size_t ref_b64(const unsigned char *b, size_t n, char *out)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t bits = 0, o = 0, i;
	unsigned acc = 0;

	for (i = 0; i < n; i++) {
		acc = (acc << 8 | b[i]) & 0xffff;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = a[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = a[(acc << (6 - bits)) & 63];
	while (o % 4)
		out[o++] = '=';
	return o;
}

/* the string body; returns its length, sets *bad when a byte was replaced */
static size_t ref_string(const unsigned char *b, size_t n, char *out, int *bad)
{
	size_t i = 0, o = 0;

	*bad = 0;
	while (i < n) {
		unsigned c = b[i];
		size_t k = ref_seq(b + i, n - i);

		if (!k) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			*bad = 1;
			i++;
		} else if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			const char *s = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r"
				: c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
			if (s)
				o += (size_t)sprintf(out + o, "%s", s);
			else
				o += (size_t)sprintf(out + o, "\\u%04x", c);
			i++;
		} else {
			memcpy(out + o, b + i, k);
			o += k;
			i += k;
		}
	}
	return o;
}

static size_t ref_line(const unsigned char *b, size_t n, char *out, int *bad_out)
{
	size_t o = 0, i;
	int bad;

	o += (size_t)sprintf(out, "{\"cmd\":\"add\",\"path\":\"");
	o += ref_string(b, n, out + o, &bad);
	out[o++] = '"';
	if (bad) {
		o += (size_t)sprintf(out + o, ",\"path_b64\":\"");
		o += ref_b64(b, n, out + o);
		out[o++] = '"';
	}
	o += (size_t)sprintf(out + o, ",\"orig_hex\":\"");
	for (i = 0; i < n; i++)
		o += (size_t)sprintf(out + o, "%02x", b[i]);
	o += (size_t)sprintf(out + o, "\"}\n");
	*bad_out = bad;
	return o;
}

/* ---- generators ----------------------------------------------------- */

static void put_cp(unsigned char *b, size_t *n, size_t max, uint32_t cp)
{
	unsigned char t[4];
	size_t k;

	if (cp < 0x80)
		t[0] = (unsigned char)cp, k = 1;
	else if (cp < 0x800)
		t[0] = (unsigned char)(0xc0 | cp >> 6), t[1] = (unsigned char)(0x80 | (cp & 63)), k = 2;
	else if (cp < 0x10000)
		t[0] = (unsigned char)(0xe0 | cp >> 12), t[1] = (unsigned char)(0x80 | ((cp >> 6) & 63)),
		t[2] = (unsigned char)(0x80 | (cp & 63)), k = 3;
	else
		t[0] = (unsigned char)(0xf0 | cp >> 18), t[1] = (unsigned char)(0x80 | ((cp >> 12) & 63)),
		t[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)), t[3] = (unsigned char)(0x80 | (cp & 63)),
		k = 4;
	if (*n + k <= max) {
		memcpy(b + *n, t, k);
		*n += k;
	}
}

static size_t generate(unsigned char *b, size_t max, unsigned mode)
{
	static const unsigned char alphabet[] = {
		0x00, 0x01, 0x1f, 0x7f, '"', '\\', '/', 'a', '=', 0x80, 0xbf, 0xc0, 0xc1,
		0xc2, 0xdf, 0xe0, 0xa0, 0xed, 0x9f, 0xef, 0xf0, 0x90, 0x8f, 0xf4, 0xf5,
		0xfe, 0xff,
	};
	static const uint32_t edges[] = {
		0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xfffe, 0xffff,
		0x10000, 0x10ffff, 0x2028, 0x2029, 0xfeff,
	};
	size_t len = rnd_below((unsigned)max + 1), n = 0;

	switch (mode) {
	case 0: /* any bytes */
		for (; n < len; n++)
			b[n] = (unsigned char)rnd();
		break;
	case 1: /* any bytes but NUL: these must all round-trip */
		for (; n < len; n++)
			b[n] = (unsigned char)(1 + rnd_below(255));
		break;
	case 2: /* path-like ASCII with a few control bytes */
		for (; n < len; n++)
			b[n] = rnd_below(20) ? (unsigned char)(0x20 + rnd_below(0x5f))
					     : (unsigned char)rnd_below(0x20);
		break;
	case 3: /* valid UTF-8, then a few random edits */
		while (n < len) {
			uint32_t cp;
			switch (rnd_below(5)) {
			case 0: cp = 1 + rnd_below(0x7f); break;
			case 1: cp = 0x80 + rnd_below(0x780); break;
			case 2: cp = 0x800 + rnd_below(0xd000); break;
			case 3: cp = 0x10000 + rnd_below(0x100000); break;
			default: cp = edges[rnd_below(sizeof edges / sizeof edges[0])];
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;
			put_cp(b, &n, len, cp);
			if (n + 4 > len)
				break;
		}
		if (n && rnd_below(2)) {
			unsigned edits = 1 + rnd_below(3), e;
			for (e = 0; e < edits; e++) {
				size_t at = rnd_below((unsigned)n);
				if (rnd_below(2))
					b[at] = (unsigned char)(0x80 + rnd_below(0x80));
				else
					n = at; /* cut, maybe inside a sequence */
				if (!n)
					break;
			}
		}
		break;
	default: /* the bytes the escaper and validator branch on */
		for (; n < len; n++)
			b[n] = alphabet[rnd_below(sizeof alphabet)];
	}
	return n;
}

/* ---- the round trip --------------------------------------------------- */

static int same(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
	return an == bn && (an == 0 || !memcmp(a, b, an));
}

int main(int argc, char **argv)
{
	static unsigned char in[300];
	static char line[16384], want[16384], err[256];
	static struct command c;
	unsigned long iters, i, n_b64 = 0, n_ok = 0, n_nul = 0, n_empty = 0, n_cut = 0;
	FILE *out;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SEED ITERATIONS OUT.ndjson\n", argv[0]);
		return 2;
	}
	rng_state = strtoull(argv[1], NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
	iters = strtoul(argv[2], NULL, 10);
	out = fopen(argv[3], "w");
	if (!out) {
		perror(argv[3]);
		return 2;
	}

	for (i = 0; i < iters; i++) {
		size_t n = generate(in, sizeof in, (unsigned)(i % 5));
		size_t wlen, k, before, max_out;
		struct jw w;
		char hex[2 * sizeof in + 1];
		size_t h;
		int rc, bad;

		for (h = 0; h < n; h++)
			sprintf(hex + 2 * h, "%02x", in[h]);
		hex[2 * n] = 0;

		jw_init(&w, line, sizeof line);
		jw_begin(&w);
		jw_str(&w, "cmd", "add");
		jw_bytes(&w, "path", in, n);
		jw_str(&w, "orig_hex", hex);
		jw_end(&w);
		CHECK(!w.overflow);

		wlen = ref_line(in, n, want, &bad);
		CHECK(w.len == wlen && !memcmp(line, want, wlen));
		if (w.len != wlen || memcmp(line, want, wlen)) {
			fprintf(stderr, "  input hex %s\n  got  %.*s  want %.*s", hex,
				(int)w.len, line, (int)wlen, want);
			break;
		}
		if (fwrite(line, 1, w.len, out) != w.len) {
			perror(argv[3]);
			return 2;
		}
		n_b64 += bad;

		rc = command_parse(line, w.len, &c, err, sizeof err);
		if (n == 0) {
			CHECK(rc == -1 && !strcmp(err, "path is empty"));
			n_empty++;
		} else if (memchr(in, 0, n)) {
			CHECK(rc == -1 && !strcmp(err, "path contains a NUL byte"));
			n_nul++;
		} else {
			CHECK(rc == 0 && c.cmd == CMD_ADD && same(c.path, c.path_len, in, n));
			if (rc)
				fprintf(stderr, "  input hex %s: %s\n", hex, err);
			n_ok++;
		}

		/* the same name cut to a random budget */
		jw_init(&w, line, sizeof line);
		jw_begin(&w);
		jw_str(&w, "cmd", "add");
		before = w.len;
		max_out = rnd_below((unsigned)(wlen + 16));
		k = jw_bytes_cut(&w, "path", in, n, max_out);
		CHECK(k <= n);
		CHECK(w.len - before <= max_out || k == 0);
		if (k < n) {
			size_t at = 0;
			while (at < k) /* k falls on a sequence boundary */
				at += ref_seq(in + at, n - at) ? ref_seq(in + at, n - at) : 1;
			CHECK(at == k);
			n_cut++;
		}
		jw_end(&w);
		rc = command_parse(line, w.len, &c, err, sizeof err);
		if (k && !memchr(in, 0, k))
			CHECK(rc == 0 && same(c.path, c.path_len, in, k));
		if (t_failures > 20)
			break;
	}
	if (fclose(out)) {
		perror(argv[3]);
		return 2;
	}
	printf("fuzz_roundtrip   seed %s: %lu names, %lu exact round trips, %lu lines with "
	       "path_b64, %lu NUL and %lu empty refused as expected, %lu cut\n",
	       argv[1], i, n_ok, n_b64, n_nul, n_empty, n_cut);
	return t_done("fuzz_roundtrip");
}
