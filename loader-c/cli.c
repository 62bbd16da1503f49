#include "cli.h"
#include "set-err.h"

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

enum opt_kind { O_PATH, O_ABSENT_PATH, O_NUM, O_POW2, O_CHOICE, O_HELP, O_VERSION };

struct opt {
	const char *name;
	enum opt_kind kind;
	unsigned min, max;
	size_t field; /* offsetof the unsigned (O_NUM, O_POW2) or enum (O_CHOICE) in struct loader_opts */
	const char *const *choices; /* O_CHOICE: the names of the enum's values, in order */
};

#define FIELD(f) offsetof(struct loader_opts, f)

static const char *const backend_names[] = { "auto", "tracepoint", "fentry", NULL };
static const char *const sched_policy_names[] = { "batch", "keep", NULL };

static const struct opt opts[] = {
	{ "--path", O_PATH, 0, 0, 0, NULL },
	{ "--absent-path", O_ABSENT_PATH, 0, 0, 0, NULL },
	{ "--ringbuf-mb", O_POW2, 1, 1024, FIELD(ringbuf_mb), NULL },
	{ "--coalesce-ms", O_NUM, 10, 60000, FIELD(coalesce_ms), NULL },
	{ "--stats-interval", O_NUM, 0, 3600, FIELD(stats_interval_s), NULL },
	{ "--max-delay-us", O_NUM, 10, 1000000, FIELD(max_delay_us), NULL },
	{ "--busy-delay-us", O_NUM, 10, 1000000, FIELD(busy_delay_us), NULL },
	{ "--backend", O_CHOICE, 0, 0, FIELD(backend), backend_names },
	{ "--sched-policy", O_CHOICE, 0, 0, FIELD(sched_policy), sched_policy_names },
	{ "--help", O_HELP, 0, 0, 0, NULL },
	{ "-h", O_HELP, 0, 0, 0, NULL },
	{ "--version", O_VERSION, 0, 0, 0, NULL },
};


/* An argument as it may appear in the one-line message: control and
 * non-ASCII bytes as \xNN, and long ones cut, so a hostile argv cannot
 * break the "one line on stderr" rule or flood the terminal. */
static const char *shown(const char *s, char *out, size_t outlen)
{
	size_t o = 0, i;
	const size_t keep = 48;

	for (i = 0; s[i] && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == keep) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f) {
			snprintf(out + o, outlen - o, "\\x%02x", c);
			o += 4;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
	return out;
}

/* Plain decimal only: no sign, no spaces, no 0x, so "--max-delay-us ' 5'" or
 * "-1" are errors rather than surprises. */
static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int cli_parse(int argc, char *const argv[], struct loader_opts *o,
	      char *err, size_t errlen)
{
	char a[256];
	int i;

	memset(o, 0, sizeof *o);
	o->ringbuf_mb = 16;
	o->coalesce_ms = 1000;
	o->stats_interval_s = 5;
	o->max_delay_us = 250;
	o->busy_delay_us = 0; /* unset until the end: 1000, or the max delay if that is more */
	if (errlen)
		err[0] = 0;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *eq = NULL, *val = NULL;
		size_t nlen = strlen(arg);
		const struct opt *op = NULL;
		size_t k;

		if (arg[0] == '-' && arg[1] == '-' && (eq = strchr(arg, '=')) != NULL)
			nlen = (size_t)(eq - arg);
		for (k = 0; k < sizeof opts / sizeof opts[0]; k++) {
			if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, arg, nlen)) {
				op = &opts[k];
				break;
			}
		}
		if (!op) {
			if (arg[0] == '-' && arg[1] != 0) {
				/* name only: the value after '=' is not part of the complaint */
				char name[256];
				size_t n = nlen < sizeof name - 1 ? nlen : sizeof name - 1;
				memcpy(name, arg, n);
				name[n] = 0;
				set_err(err, errlen, "unknown option '%s'", shown(name, a, sizeof a));
			} else {
				set_err(err, errlen, "unexpected argument '%s' (paths go after --path)",
					shown(arg, a, sizeof a));
			}
			return CLI_EXIT_USAGE;
		}

		if (op->kind == O_HELP || op->kind == O_VERSION) {
			if (eq) {
				set_err(err, errlen, "%s: takes no value", op->name);
				return CLI_EXIT_USAGE;
			}
			if (op->kind == O_HELP)
				o->help = 1;
			else
				o->version = 1;
			return 0;
		}

		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			set_err(err, errlen, "%s: missing value", op->name);
			return CLI_EXIT_USAGE;
		}

		if (op->kind == O_PATH || op->kind == O_ABSENT_PATH) {
			if (!*val) {
				set_err(err, errlen, "%s: empty value", op->name);
				return CLI_EXIT_USAGE;
			}
			if (o->n_paths == CLI_MAX_PATHS) {
				set_err(err, errlen, "%s: more than %d paths", op->name, CLI_MAX_PATHS);
				return CLI_EXIT_USAGE;
			}
			o->path_may_be_absent[o->n_paths] = op->kind == O_ABSENT_PATH;
			o->paths[o->n_paths++] = val;
			continue;
		}

		if (op->kind == O_CHOICE) {
			char names[128] = "";
			int k;

			for (k = 0; op->choices[k]; k++) {
				if (!strcmp(val, op->choices[k])) {
					*(int *)((char *)o + op->field) = k;
					break;
				}
				snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
					 k ? ", " : "", op->choices[k]);
			}
			if (!op->choices[k]) {
				set_err(err, errlen, "%s: '%s' is not one of %s", op->name,
					shown(val, a, sizeof a), names);
				return CLI_EXIT_USAGE;
			}
			continue;
		}

		{
			unsigned v;
			unsigned *dst = (unsigned *)((char *)o + op->field);
			int bad = parse_uint(val, op->max, &v) || v < op->min;

			if (op->kind == O_POW2 && !bad && (v & (v - 1)))
				bad = 1;
			if (bad) {
				if (op->kind == O_POW2)
					set_err(err, errlen,
						"%s: '%s' is not a power of two between %u and %u",
						op->name, shown(val, a, sizeof a), op->min, op->max);
				else
					set_err(err, errlen,
						"%s: '%s' is not an integer between %u and %u",
						op->name, shown(val, a, sizeof a), op->min, op->max);
				return CLI_EXIT_USAGE;
			}
			*dst = v;
		}
	}

	if (!o->n_paths) {
		set_err(err, errlen, "no --path given");
		return CLI_EXIT_USAGE;
	}
	if (!o->busy_delay_us) {
		o->busy_delay_us = o->max_delay_us > 1000 ? o->max_delay_us : 1000;
	} else if (o->busy_delay_us < o->max_delay_us) {
		set_err(err, errlen, "--busy-delay-us %u is below --max-delay-us %u",
			o->busy_delay_us, o->max_delay_us);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

void cli_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s --path DIR [--path DIR]... [options]\n"
		"\n"
		"Loads the fim-whodata BPF sensor and writes one JSON record per line on\n"
		"stdout (hello, event, stats, ack, bye); log lines go to stderr. Reads\n"
		"commands (add, remove, stats, list) as JSON lines on stdin; EOF on stdin\n"
		"ends it. See docs/protocol.md.\n"
		"\n"
		"options (also as --opt=VALUE):\n"
		"  --path DIR            watch DIR, a directory subtree or one file;\n"
		"                        repeatable, at least one, at most %d\n"
		"  --absent-path PATH    watch PATH, which may not exist now: it is\n"
		"                        watched from when it is made (within the\n"
		"                        check interval if its directory is missing\n"
		"                        too); counts as a --path\n"
		"  --ringbuf-mb N        ring buffer size in MiB, a power of two\n"
		"                        from 1 to 1024 (default 16)\n"
		"  --coalesce-ms N       modify coalescing window and periodic check\n"
		"                        interval, 10 to 60000 (default 1000)\n"
		"  --stats-interval S    seconds between stats records, 0 to 3600;\n"
		"                        0 = only at exit (default 5); one also comes\n"
		"                        soon after records were lost\n"
		"  --max-delay-us N      longest a record waits in the ring buffer before\n"
		"                        it is read, 10 to 1000000 (default 250); longer\n"
		"                        batches cost less CPU under a stream of events\n"
		"  --busy-delay-us N     the same under a heavy stream (reads that find 32\n"
		"                        records or more), from --max-delay-us to 1000000\n"
		"                        (default 1000, or the max delay if that is more)\n"
		"  --backend B           kernel hooks: tracepoint (syscall tracepoints,\n"
		"                        work wherever BPF does), fentry (adds fentry/\n"
		"                        fexit on VFS functions: deletes with their inode\n"
		"                        and real path; refused under lockdown), or auto:\n"
		"                        fentry when the kernel allows it (default)\n"
		"  --sched-policy P      batch: run as SCHED_BATCH if started with the\n"
		"                        normal policy, so that a record waking the loader\n"
		"                        does not preempt the task that made the change\n"
		"                        (default; less CPU at a moderate rate); keep: run\n"
		"                        with the policy it was started with\n"
		"  -h, --help            print this help and exit\n"
		"  --version             print the version and exit\n"
		"\n"
		"exit codes:\n"
		"  0  clean exit: SIGINT/SIGTERM or EOF on stdin\n"
		"  1  runtime error (BPF load/attach failed, ring buffer error, ...)\n"
		"  2  usage error: bad option or value, no --path, a path that does not exist\n"
		"  3  unsupported system: no BTF, BPF or ring buffers unavailable\n"
		"  4  permission denied: not root, or missing CAP_BPF, CAP_PERFMON,\n"
		"     CAP_SYS_ADMIN\n",
		prog, CLI_MAX_PATHS);
}
