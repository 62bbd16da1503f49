/* fim-loader command line (docs/protocol.md, "Command line").
 *
 * Options are long only (plus -h), as "--opt VALUE" or "--opt=VALUE".
 * Options are read left to right; the first error stops the parse, and
 * --help / --version stop it too (what follows them is not looked at).
 * There are no positional arguments. A repeated numeric option keeps its
 * last value. Paths are not checked here: main canonicalises them and
 * reports a missing one (exit 2 as well).
 */
#ifndef FIM_CLI_H
#define FIM_CLI_H

#include <stdio.h>

#define CLI_MAX_PATHS 64

#define CLI_EXIT_USAGE 2 /* the exit code for every cli_parse() error */

/* Which kernel hooks the sensor uses (docs/protocol.md, "Backends"). */
enum cli_backend {
	BACKEND_AUTO = 0, /* fentry where the kernel allows it, else tracepoint */
	BACKEND_TRACEPOINT,
	BACKEND_FENTRY,
};

/* The loader's CPU scheduling policy (docs/protocol.md, "Command line", --sched-policy). */
enum cli_sched_policy {
	SCHED_POLICY_BATCH = 0, /* SCHED_BATCH, unless started with a policy other than the normal one */
	SCHED_POLICY_KEEP,      /* the policy it was started with */
};

struct loader_opts {
	const char *paths[CLI_MAX_PATHS]; /* point into argv, in given order */
	unsigned char path_may_be_absent[CLI_MAX_PATHS]; /* given with --absent-path */
	int n_paths;
	unsigned ringbuf_mb;        /* power of two, 1..1024, default 16 */
	unsigned coalesce_ms;       /* 10..60000, default 1000 */
	unsigned stats_interval_s;  /* 0..3600, default 5; 0 = only at exit */
	unsigned max_delay_us;      /* 10..1000000, default 250 */
	unsigned busy_delay_us;     /* 10..1000000, default 1000; never below max_delay_us */
	enum cli_backend backend;   /* --backend, default auto */
	enum cli_sched_policy sched_policy; /* --sched-policy, default batch */
	int help;                   /* --help / -h seen: print cli_usage, exit 0 */
	int version;                /* --version seen: print the version, exit 0 */
};

/* Fills *o (defaults first). Returns 0, or CLI_EXIT_USAGE with a one-line
 * message (no trailing newline, no control characters, argument echoes
 * cut to a readable length) in err, to print as
 * "fim-loader: error: <err>". */
int cli_parse(int argc, char *const argv[], struct loader_opts *o,
	      char *err, size_t errlen);

/* The --help text: usage, every option with its default and range, and
 * the exit codes. */
void cli_usage(FILE *f, const char *prog);

#endif
