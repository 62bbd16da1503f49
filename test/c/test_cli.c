#include "cli.h"
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>

static struct loader_opts o;
static char err[512];

/* argv from a NULL-terminated list, as main would get it */
static int parse(const char *first, ...)
{
	static char *argv[200];
	va_list ap;
	int argc = 0;
	const char *a;

	argv[argc++] = "fim-loader";
	va_start(ap, first);
	for (a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	memset(err, 'X', sizeof err);
	return cli_parse(argc, argv, &o, err, sizeof err);
}

static void test_defaults_and_forms(void)
{
	CHECK(parse("--path", "/var/log", NULL) == 0);
	CHECK(o.n_paths == 1);
	CHECK_STR(o.paths[0], "/var/log");
	CHECK(o.ringbuf_mb == 16 && o.coalesce_ms == 1000);
	CHECK(o.stats_interval_s == 5 && o.max_delay_us == 250 && o.busy_delay_us == 1000);
	CHECK(!o.help && !o.version);
	CHECK(o.backend == BACKEND_AUTO);
	CHECK(o.sched_policy == SCHED_POLICY_BATCH);
	CHECK_STR(err, "");

	CHECK(parse("--path=/a", "--backend", "fentry", NULL) == 0 && o.backend == BACKEND_FENTRY);
	CHECK(parse("--path=/a", "--backend=tracepoint", NULL) == 0 && o.backend == BACKEND_TRACEPOINT);
	CHECK(parse("--path=/a", "--backend=fentry", "--backend", "auto", NULL) == 0 && o.backend == BACKEND_AUTO);
	CHECK(parse("--path=/a", "--sched-policy", "keep", NULL) == 0 && o.sched_policy == SCHED_POLICY_KEEP);
	CHECK(parse("--path=/a", "--sched-policy=keep", "--sched-policy=batch", NULL) == 0 &&
	      o.sched_policy == SCHED_POLICY_BATCH && o.backend == BACKEND_AUTO);

	CHECK(parse("--path=/a", "--path", "/b", "--path=", NULL) == 2);
	CHECK_STR(err, "--path: empty value");

	CHECK(parse("--path=/a", "--path", "/b", "--ringbuf-mb", "1024",
		    "--coalesce-ms=10", "--stats-interval", "0", "--max-delay-us=1000",
		    NULL) == 0);
	CHECK(o.n_paths == 2);
	CHECK_STR(o.paths[0], "/a");
	CHECK_STR(o.paths[1], "/b");
	CHECK(o.ringbuf_mb == 1024 && o.coalesce_ms == 10);
	CHECK(o.stats_interval_s == 0 && o.max_delay_us == 1000);

	/* --absent-path is a --path that may not exist yet: one list, in order, each marked */
	CHECK(parse("--path", "/a", "--absent-path", "/b/c", "--path=/d", NULL) == 0);
	CHECK(o.n_paths == 3);
	CHECK_STR(o.paths[1], "/b/c");
	CHECK(!o.path_may_be_absent[0] && o.path_may_be_absent[1] && !o.path_may_be_absent[2]);
	CHECK(parse("--absent-path=/gone", NULL) == 0 && o.n_paths == 1 && o.path_may_be_absent[0]);
	CHECK(parse("--path=/a", "--absent-path", "", NULL) == 2);
	CHECK_STR(err, "--absent-path: empty value");

	/* order does not matter, the last value of a repeated option wins */
	CHECK(parse("--max-delay-us", "5000", "--path", "/x", "--max-delay-us", "70", NULL) == 0);
	CHECK(o.max_delay_us == 70);

	/* the busy delay: its own value, or 1000 us unless the max delay is longer; never shorter
	 * than the max delay, whatever order they come in */
	CHECK(parse("--path", "/x", "--busy-delay-us", "400", "--max-delay-us", "100", NULL) == 0);
	CHECK(o.max_delay_us == 100 && o.busy_delay_us == 400);
	CHECK(parse("--path", "/x", "--busy-delay-us=250", NULL) == 0 && o.busy_delay_us == 250);
	CHECK(parse("--path", "/x", "--max-delay-us", "5000", NULL) == 0 && o.busy_delay_us == 5000);
	CHECK(parse("--path", "/x", "--max-delay-us", "500", NULL) == 0 && o.busy_delay_us == 1000);
	CHECK(parse("--path", "/x", "--busy-delay-us", "100", "--max-delay-us", "200", NULL) == 2);
	CHECK_STR(err, "--busy-delay-us 100 is below --max-delay-us 200");

	/* a value that looks like an option is still the value */
	CHECK(parse("--path", "--weird-dir", NULL) == 0);
	CHECK_STR(o.paths[0], "--weird-dir");
	CHECK(parse("--path=a=b", NULL) == 0);
	CHECK_STR(o.paths[0], "a=b");

	/* every boundary value */
	CHECK(parse("--path", "/", "--ringbuf-mb", "1", "--coalesce-ms", "60000",
		    "--stats-interval", "3600", "--max-delay-us", "10", NULL) == 0);
	CHECK(o.ringbuf_mb == 1 && o.coalesce_ms == 60000);
	CHECK(o.stats_interval_s == 3600 && o.max_delay_us == 10);
	CHECK(parse("--path", "/", "--max-delay-us", "1000000", NULL) == 0);
	CHECK(o.max_delay_us == 1000000);
	CHECK(parse("--path", "/", "--ringbuf-mb", "0016", NULL) == 0);
	CHECK(o.ringbuf_mb == 16);
}

static void test_powers_of_two(void)
{
	unsigned v;
	char buf[16];

	for (v = 0; v <= 2049; v++) {
		int pow2 = v >= 1 && v <= 1024 && !(v & (v - 1));
		snprintf(buf, sizeof buf, "%u", v);
		CHECK(parse("--path", "/", "--ringbuf-mb", buf, NULL) == (pow2 ? 0 : 2));
		if (pow2)
			CHECK(o.ringbuf_mb == v);
	}
}

static void test_help_version(void)
{
	CHECK(parse("--help", NULL) == 0 && o.help && !o.version);
	CHECK(parse("-h", NULL) == 0 && o.help);
	CHECK(parse("--version", NULL) == 0 && o.version && !o.help);
	/* no --path needed, and what follows is not looked at */
	CHECK(parse("--help", "--bogus", NULL) == 0 && o.help);
	CHECK(parse("--path", "/x", "--version", "--ringbuf-mb", "3", NULL) == 0 && o.version);
	/* an error before it still counts */
	CHECK(parse("--bogus", "--help", NULL) == 2);
	CHECK_STR(err, "unknown option '--bogus'");
	CHECK(parse("--help=yes", NULL) == 2);
	CHECK_STR(err, "--help: takes no value");
	CHECK(parse("--version=1", NULL) == 2);
	CHECK_STR(err, "--version: takes no value");
}

static void test_errors(void)
{
	static const struct {
		const char *args[6];
		const char *msg;
	} cases[] = {
		{ { NULL }, "no --path given" },
		{ { "--ringbuf-mb", "8", NULL }, "no --path given" },
		{ { "--foo", NULL }, "unknown option '--foo'" },
		{ { "--foo=bar", NULL }, "unknown option '--foo'" },
		{ { "--path", "/x", "-x", NULL }, "unknown option '-x'" },
		{ { "--pat", "/x", NULL }, "unknown option '--pat'" },
		{ { "--PATH", "/x", NULL }, "unknown option '--PATH'" },
		{ { "/var/log", NULL }, "unexpected argument '/var/log' (paths go after --path)" },
		{ { "--path", "/x", "-", NULL }, "unexpected argument '-' (paths go after --path)" },
		{ { "--path", "/x", "", NULL }, "unexpected argument '' (paths go after --path)" },
		{ { "--path", NULL }, "--path: missing value" },
		{ { "--path", "/x", "--ringbuf-mb", NULL }, "--ringbuf-mb: missing value" },
		{ { "--path", "/x", "--coalesce-ms", NULL }, "--coalesce-ms: missing value" },
		{ { "--path", "/x", "--stats-interval", NULL }, "--stats-interval: missing value" },
		{ { "--path", "/x", "--max-delay-us", NULL }, "--max-delay-us: missing value" },
		{ { "--path", "/x", "--busy-delay-us", NULL }, "--busy-delay-us: missing value" },
		{ { "--path", "/x", "--busy-delay-us", "9", NULL },
		  "--busy-delay-us: '9' is not an integer between 10 and 1000000" },
		{ { "--path", "", NULL }, "--path: empty value" },
		{ { "--path", "/x", "--backend", NULL }, "--backend: missing value" },
		{ { "--path", "/x", "--backend", "lsm", NULL }, "--backend: 'lsm' is not one of auto, tracepoint, fentry" },
		{ { "--path", "/x", "--backend=", NULL }, "--backend: '' is not one of auto, tracepoint, fentry" },
		{ { "--path", "/x", "--sched-policy", NULL }, "--sched-policy: missing value" },
		{ { "--path", "/x", "--sched-policy", "fifo", NULL }, "--sched-policy: 'fifo' is not one of batch, keep" },
		{ { "--path=", NULL }, "--path: empty value" },
		{ { "--path", "/", "--ringbuf-mb", "3", NULL },
		  "--ringbuf-mb: '3' is not a power of two between 1 and 1024" },
		{ { "--path", "/", "--ringbuf-mb", "0", NULL },
		  "--ringbuf-mb: '0' is not a power of two between 1 and 1024" },
		{ { "--path", "/", "--ringbuf-mb", "2048", NULL },
		  "--ringbuf-mb: '2048' is not a power of two between 1 and 1024" },
		{ { "--path", "/", "--ringbuf-mb=", NULL },
		  "--ringbuf-mb: '' is not a power of two between 1 and 1024" },
		{ { "--path", "/", "--ringbuf-mb", "4294967312", NULL },
		  "--ringbuf-mb: '4294967312' is not a power of two between 1 and 1024" },
		{ { "--path", "/", "--coalesce-ms", "9", NULL },
		  "--coalesce-ms: '9' is not an integer between 10 and 60000" },
		{ { "--path", "/", "--coalesce-ms", "60001", NULL },
		  "--coalesce-ms: '60001' is not an integer between 10 and 60000" },
		{ { "--path", "/", "--coalesce-ms", "-10", NULL },
		  "--coalesce-ms: '-10' is not an integer between 10 and 60000" },
		{ { "--path", "/", "--coalesce-ms", "+10", NULL },
		  "--coalesce-ms: '+10' is not an integer between 10 and 60000" },
		{ { "--path", "/", "--coalesce-ms", " 100", NULL },
		  "--coalesce-ms: ' 100' is not an integer between 10 and 60000" },
		{ { "--path", "/", "--coalesce-ms", "100ms", NULL },
		  "--coalesce-ms: '100ms' is not an integer between 10 and 60000" },
		{ { "--path", "/", "--coalesce-ms", "0x64", NULL },
		  "--coalesce-ms: '0x64' is not an integer between 10 and 60000" },
		{ { "--path", "/", "--coalesce-ms", "1e3", NULL },
		  "--coalesce-ms: '1e3' is not an integer between 10 and 60000" },
		{ { "--path", "/", "--stats-interval", "3601", NULL },
		  "--stats-interval: '3601' is not an integer between 0 and 3600" },
		{ { "--path", "/", "--stats-interval", "99999999999999999999999", NULL },
		  "--stats-interval: '99999999999999999999999' is not an integer between 0 and 3600" },
		{ { "--path", "/", "--max-delay-us", "9", NULL },
		  "--max-delay-us: '9' is not an integer between 10 and 1000000" },
		{ { "--path", "/", "--max-delay-us", "1000001", NULL },
		  "--max-delay-us: '1000001' is not an integer between 10 and 1000000" },
		{ { "--path", "/", "--max-delay-us", "", NULL },
		  "--max-delay-us: '' is not an integer between 10 and 1000000" },
		/* the option it replaces is refused by name, not taken silently */
		{ { "--path", "/", "--poll-ms", "2", NULL }, "unknown option '--poll-ms'" },
		/* control bytes in an echoed argument cannot break the line */
		{ { "--path", "/", "--max-delay-us", "1\n2\x1b[31m", NULL },
		  "--max-delay-us: '1\\x0a2\\x1b[31m' is not an integer between 10 and 1000000" },
		{ { "--bad\xff\n", NULL }, "unknown option '--bad\\xff\\x0a'" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *const *a = cases[i].args;
		CHECK(parse(a[0], a[0] ? a[1] : NULL, a[0] && a[1] ? a[2] : NULL,
			    a[0] && a[1] && a[2] ? a[3] : NULL,
			    a[0] && a[1] && a[2] && a[3] ? a[4] : NULL, NULL) == CLI_EXIT_USAGE);
		CHECK_STR(err, cases[i].msg);
	}
}

static void test_path_limit_and_long_values(void)
{
	char *argv[2 * CLI_MAX_PATHS + 4];
	char names[CLI_MAX_PATHS + 1][16];
	char longval[5000];
	int i, argc = 0;

	argv[argc++] = "fim-loader";
	for (i = 0; i < CLI_MAX_PATHS; i++) {
		snprintf(names[i], sizeof names[i], "/p%d", i);
		argv[argc++] = "--path";
		argv[argc++] = names[i];
	}
	argv[argc] = NULL;
	CHECK(cli_parse(argc, argv, &o, err, sizeof err) == 0);
	CHECK(o.n_paths == CLI_MAX_PATHS);
	CHECK_STR(o.paths[CLI_MAX_PATHS - 1], "/p63");

	argv[argc++] = "--path=/one-too-many";
	argv[argc] = NULL;
	CHECK(cli_parse(argc, argv, &o, err, sizeof err) == 2);
	CHECK_STR(err, "--path: more than 64 paths");

	/* a huge argument is cut in the message, and a tiny err buffer holds
	 * a NUL-terminated prefix */
	memset(longval, '7', sizeof longval - 1);
	longval[sizeof longval - 1] = 0;
	argv[1] = "--max-delay-us";
	argv[2] = longval;
	argv[3] = NULL;
	CHECK(cli_parse(3, argv, &o, err, sizeof err) == 2);
	CHECK(strlen(err) < 150);
	CHECK(strstr(err, "'777777777777777777777777777777777777777777777777...'") != NULL);
	CHECK(cli_parse(3, argv, &o, err, 8) == 2);
	CHECK_STR(err, "--max-d");
	CHECK(cli_parse(3, argv, &o, NULL, 0) == 2);

	/* a path is taken as it is, however long or strange */
	argv[1] = "--path";
	argv[2] = longval;
	CHECK(cli_parse(3, argv, &o, err, sizeof err) == 0);
	CHECK(o.paths[0] == longval);
}

static void test_usage(void)
{
	static char text[8192];
	FILE *f = tmpfile();
	size_t len;
	static const char *const must[] = {
		"usage: fim-loader --path DIR", "--path DIR", "--ringbuf-mb N",
		"--coalesce-ms N", "--stats-interval S", "--max-delay-us N", "--help",
		"--version", "default 16", "default 1000", "default 5", "(default 250)",
		"\n  0  ", "\n  1  ", "\n  2  ", "\n  3  ", "\n  4  ", "at most 64",
	};
	size_t i;

	CHECK(f != NULL);
	if (!f)
		return;
	cli_usage(f, "fim-loader");
	rewind(f);
	len = fread(text, 1, sizeof text - 1, f);
	text[len] = 0;
	fclose(f);
	CHECK(len > 0 && len < sizeof text - 1);
	for (i = 0; i < sizeof must / sizeof must[0]; i++) {
		CHECK(strstr(text, must[i]) != NULL);
		if (!strstr(text, must[i]))
			fprintf(stderr, "  usage lacks '%s'\n", must[i]);
	}
	/* fits a terminal */
	{
		const char *l = text, *nl;
		for (; (nl = strchr(l, '\n')) != NULL; l = nl + 1)
			CHECK(nl - l <= 80);
	}
}

int main(void)
{
	test_defaults_and_forms();
	test_powers_of_two();
	test_help_version();
	test_errors();
	test_path_limit_and_long_values();
	test_usage();
	return t_done("test_cli");
}
