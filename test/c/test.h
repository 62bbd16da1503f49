/* A few check macros: a failed check is reported and counted, and the run
 * goes on, so one broken case does not hide the others. */
#ifndef FIM_TEST_H
#define FIM_TEST_H

#include <stdio.h>
#include <string.h>

static int t_checks, t_failures;

#define CHECK(cond)                                                          \
	do {                                                                 \
		t_checks++;                                                  \
		if (!(cond)) {                                               \
			t_failures++;                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                            \
		}                                                            \
	} while (0)

#define CHECK_STR(got, want)                                                 \
	do {                                                                 \
		const char *g_ = (got), *w_ = (want);                        \
		t_checks++;                                                  \
		if (strcmp(g_, w_)) {                                        \
			t_failures++;                                        \
			fprintf(stderr, "%s:%d: %s\n  got:  ", __FILE__,     \
				__LINE__, #got);                             \
			t_print_escaped(stderr, g_);                         \
			fprintf(stderr, "\n  want: ");                       \
			t_print_escaped(stderr, w_);                         \
			fprintf(stderr, "\n");                               \
		}                                                            \
	} while (0)

/* so that a failing comparison of binary output stays readable */
static inline void t_print_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static inline int t_done(const char *name)
{
	printf("%-16s %5d checks, %d failed\n", name, t_checks, t_failures);
	return t_failures ? 1 : 0;
}

#endif
