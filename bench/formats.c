// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE
#include "formats.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int parse_format(const char *name, enum monitor_format *out)
{
	static const char *const names[] = { "loader", "fimctl", "inotify", "audit" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i])) {
			*out = (enum monitor_format)i;
			return 0;
		}
	}
	return -1;
}

static void copy_str(char *out, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s, n);
	out[n] = 0;
}

/* ---- JSON (loader and fimctl) -------------------------------------------------------------- */

/*
 * Where key's value starts, searched from *from first and then from the line's start: the
 * fields of an event are looked up in the order the loader prints them, so the line is scanned
 * about once instead of once per field (the harness's CPU is taken from the workload it
 * measures), and a monitor that orders them otherwise is still read right.
 */
static const char *json_find(const char *line, const char **from, const char *key)
{
	const char *p = strstr(*from, key);

	if (!p && *from != line)
		p = strstr(line, key);
	if (!p)
		return NULL;
	p += strlen(key);
	*from = p;
	return p;
}

static uint64_t json_u64_from(const char *line, const char **from, const char *key)
{
	const char *p = json_find(line, from, key);

	return p ? strtoull(p, NULL, 10) : 0;
}

uint64_t json_u64(const char *line, const char *key)
{
	return json_u64_from(line, &line, key);
}

/* -1 for null or a missing key: "unknown", which is not the same as 0 (root) */
static int64_t json_i64_from(const char *line, const char **from, const char *key)
{
	const char *p = json_find(line, from, key);

	if (!p)
		return -1;
	return isdigit((unsigned char)*p) ? (int64_t)strtoll(p, NULL, 10) : -1;
}

static void json_str_from(const char *line, const char **from, const char *key, char *out, size_t cap)
{
	const char *p = json_find(line, from, key);
	const char *end;

	out[0] = 0;
	if (!p)
		return;
	end = strchr(p, '"');
	copy_str(out, cap, p, end ? (size_t)(end - p) : strlen(p));
}

void json_str(const char *line, const char *key, char *out, size_t cap)
{
	json_str_from(line, &line, key, out, cap);
}

/*
 * In docs/protocol.md's order. The process fields only when asked for (the runs that check
 * whodata or take latency keep them): a run that measures overhead needs each event's
 * operation and path only, and the CPU the reading takes is taken from the workload measured.
 */
static void json_event(const char *line, struct ev *ev, bool whodata)
{
	const char *at = line;
	char sc[16];

	if (whodata)
		ev->kernel_ns = json_u64_from(line, &at, "\"timestamp\":");
	json_str_from(line, &at, "\"operation\":\"", ev->op, sizeof(ev->op));
	json_str_from(line, &at, "\"path\":\"", ev->path, sizeof(ev->path));
	if (whodata) {
		ev->pid = json_i64_from(line, &at, "\"pid\":");
		ev->uid = json_i64_from(line, &at, "\"uid\":");
		ev->auid = json_i64_from(line, &at, "\"auid\":");
		json_str_from(line, &at, "\"process_name\":\"", ev->comm, sizeof(ev->comm));
		json_str_from(line, &at, "\"exe\":\"", ev->exe, sizeof(ev->exe));
	}
	json_str_from(line, &at, "\"syscall\":\"", sc, sizeof(sc));
	ev->periodic_check = !strcmp(sc, "check");
}

static enum line_kind parse_loader(const char *line, struct ev *ev, bool whodata)
{
	if (!strncmp(line, "{\"type\":\"event\"", 15)) {
		json_event(line, ev, whodata);
		return LINE_EVENT;
	}
	if (!strncmp(line, "{\"type\":\"stats\"", 15))
		return LINE_STATS;
	if (strstr(line, "\"type\":\"hello\""))
		return LINE_HELLO;
	if (strstr(line, "\"type\":\"bye\""))
		return LINE_BYE;
	return LINE_OTHER;
}

static enum line_kind parse_fimctl(const char *line, struct ev *ev, uint64_t *lost, bool whodata)
{
	if (!strncmp(line, "{\"timestamp\":", 13)) {
		/* A change found on disk after a loss is not a delivered event, and it can name the
		 * fence file before the live events still in the ring, ending a fence too early. */
		if (strstr(line, "\"source\":\"reconcile\""))
			return LINE_OTHER;
		json_event(line, ev, whodata);
		return LINE_EVENT;
	}
	if (strstr(line, "\"type\":\"supervisor\"")) {
		if (strstr(line, "\"kind\":\"loss\"")) {
			*lost = json_u64(line, "\"lost\":");
			return LINE_LOSS;
		}
		/* the events the stdout sink's own buffer had no room for: reported as well; the
		 * changes found by reconciliation among them are not events the kernel reported */
		if (strstr(line, "\"kind\":\"discard\"")) {
			*lost = json_u64(line, "\"discarded\":") - json_u64(line, "\"discarded_reconciled\":");
			return LINE_LOSS;
		}
		if (strstr(line, "\"kind\":\"restart\""))
			return LINE_RESTART;
	}
	return LINE_OTHER;
}

/* ---- inotifywait --------------------------------------------------------------------------- */

static enum line_kind parse_inotify(const char *line, struct ev *ev)
{
	static const struct { const char *name, *op; } map[] = {
		{ "CREATE", "add" },  { "MODIFY", "modify" }, { "CLOSE_WRITE", "modify" },
		{ "ATTRIB", "attrib" }, { "MOVED_TO", "rename" }, { "DELETE", "delete" },
	};
	const char *sp = strchr(line, ' ');
	size_t n = strcspn(line, ", ");

	if (!strncmp(line, "Q_OVERFLOW", 10))
		return LINE_OVERFLOW;
	if (!sp)
		return LINE_OTHER;
	strcpy(ev->op, "other"); /* MOVED_FROM, DELETE_SELF: lines, but not one of the stamped ops */
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strlen(map[i].name) == n && !strncmp(line, map[i].name, n)) {
			strcpy(ev->op, map[i].op);
			break;
		}
	}
	copy_str(ev->path, sizeof(ev->path), sp + 1, strlen(sp + 1));
	return LINE_EVENT;
}

/* ---- auditd (af_unix dispatcher, string format) ------------------------------------------- */

/*
 *   type=SYSCALL msg=audit(1795643514.927:4): arch=c000003e syscall=316 ... pid=8249 auid=4294967295
 *            uid=0 ... comm="mv" exe="/usr/bin/mv" key="fim-bench"<GS>ARCH=x86_64 ...
 *   type=CWD msg=audit(1795643514.927:4): cwd="/tmp"
 *   type=PATH msg=audit(1795643514.927:4): item=2 name="/w/f1" ... nametype=DELETE ...
 *   type=PATH msg=audit(1795643514.927:4): item=3 name="/w/f2" ... nametype=CREATE ...
 *   type=EOE msg=audit(1795643514.927:4):
 *
 * A watch rule reports the syscall, not the change, so the operation is read from the names the
 * kernel resolved: a created and a deleted name is a rename, a created one an add, a deleted one
 * a delete; otherwise an attribute syscall is an attrib and anything else (an open for write, a
 * truncate) a modify. Records of two events can interleave (two CPUs), hence the slots.
 */

#define AUDIT_SLOTS 64

struct audit_slot {
	uint64_t serial, age, kernel_ns;
	bool used, has_syscall, keyed;
	int syscall;
	int64_t pid, uid, auid;
	char comm[24], exe[EV_EXE], cwd[EV_PATH];
	char created[EV_PATH], deleted[EV_PATH], normal[EV_PATH];
};

static struct audit_slot slots[AUDIT_SLOTS];
static uint64_t slot_age;

static struct audit_slot *slot_for(uint64_t serial, uint64_t kernel_ns)
{
	struct audit_slot *free_slot = NULL, *oldest = &slots[0];

	for (int i = 0; i < AUDIT_SLOTS; i++) {
		if (slots[i].used && slots[i].serial == serial)
			return &slots[i];
		if (!slots[i].used && !free_slot)
			free_slot = &slots[i];
		if (slots[i].age < oldest->age)
			oldest = &slots[i];
	}
	/* an event whose EOE never came (single-record events have none) gives way */
	if (!free_slot)
		free_slot = oldest;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->serial = serial;
	free_slot->age = ++slot_age;
	free_slot->kernel_ns = kernel_ns;
	free_slot->pid = free_slot->uid = free_slot->auid = -1;
	return free_slot;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* key=value where value is "quoted", (null), a number, or hex for names with odd bytes */
static bool audit_field(const char *rec, const char *key, char *out, size_t cap, bool maybe_hex)
{
	char pat[32];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(rec, pat);
	out[0] = 0;
	if (!p)
		return false;
	p += strlen(pat);
	if (*p == '"') {
		p++;
		while (p[n] && p[n] != '"')
			n++;
		copy_str(out, cap, p, n);
		return true;
	}
	while (p[n] && p[n] != ' ' && p[n] != 0x1d)
		n++;
	if (n == 6 && !strncmp(p, "(null)", 6))
		return true;
	if (maybe_hex && n % 2 == 0) {
		size_t o = 0;

		for (size_t i = 0; i + 1 < n && o + 1 < cap; i += 2) {
			int hi = hexval(p[i]), lo = hexval(p[i + 1]);

			if (hi < 0 || lo < 0) {
				o = 0;
				break;
			}
			out[o++] = (char)(hi << 4 | lo);
		}
		out[o] = 0;
		if (o)
			return true;
	}
	copy_str(out, cap, p, n);
	return true;
}

static int64_t audit_id(const char *rec, const char *key)
{
	char v[24];
	long long x;

	if (!audit_field(rec, key, v, sizeof(v), false) || !isdigit((unsigned char)v[0]))
		return -1;
	x = strtoll(v, NULL, 10);
	return x == 4294967295LL ? -1 : x; /* (uid_t)-1 is how audit says "unset" */
}

static bool is_attrib_syscall(int nr)
{
	/* x86_64: chmod fchmod chown fchown lchown utime setxattr..fremovexattr utimes fchownat
	 * futimesat fchmodat utimensat fchmodat2 */
	static const int nrs[] = { 90, 91, 92, 93, 94, 132, 188, 189, 190, 197, 198, 199, 235, 260, 261, 268, 280, 452 };

	for (size_t i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		if (nrs[i] == nr)
			return true;
	return false;
}

/* names are as the process gave them: relative ones are completed with the event's CWD record */
static void absolute(char *out, size_t cap, const char *cwd, const char *name)
{
	int n = 0;

	if (name[0] != '/' && cwd[0])
		n = snprintf(out, cap, "%s/", cwd);
	if (n >= 0 && (size_t)n < cap)
		snprintf(out + n, cap - (size_t)n, "%s", name);
}

static enum line_kind audit_finish(struct audit_slot *s, struct ev *ev)
{
	const char *name;

	s->used = false;
	if (!s->has_syscall || !s->keyed)
		return LINE_OTHER; /* not from a watch rule: daemon and config records */
	if (s->created[0] && s->deleted[0]) {
		strcpy(ev->op, "rename");
		name = s->created;
	} else if (s->created[0]) {
		strcpy(ev->op, "add");
		name = s->created;
	} else if (s->deleted[0]) {
		strcpy(ev->op, "delete");
		name = s->deleted;
	} else {
		strcpy(ev->op, is_attrib_syscall(s->syscall) ? "attrib" : "modify");
		name = s->normal;
	}
	absolute(ev->path, sizeof(ev->path), s->cwd, name);
	ev->kernel_ns = s->kernel_ns;
	ev->pid = s->pid;
	ev->uid = s->uid;
	ev->auid = s->auid;
	snprintf(ev->comm, sizeof(ev->comm), "%s", s->comm);
	snprintf(ev->exe, sizeof(ev->exe), "%s", s->exe);
	return LINE_EVENT;
}

static enum line_kind parse_audit(const char *line, struct ev *ev)
{
	const char *m = strstr(line, "msg=audit(");
	unsigned long long sec, msec, serial;
	struct audit_slot *s;
	char type[24], v[EV_PATH];

	if (strncmp(line, "type=", 5) || !m || sscanf(m, "msg=audit(%llu.%llu:%llu)", &sec, &msec, &serial) != 3)
		return LINE_OTHER;
	copy_str(type, sizeof(type), line + 5, strcspn(line + 5, " "));
	s = slot_for(serial, sec * 1000000000ull + msec * 1000000ull);
	if (!strcmp(type, "SYSCALL")) {
		s->has_syscall = true;
		audit_field(line, "syscall", v, sizeof(v), false);
		s->syscall = atoi(v);
		s->pid = audit_id(line, "pid");
		s->uid = audit_id(line, "uid");
		s->auid = audit_id(line, "auid");
		audit_field(line, "comm", s->comm, sizeof(s->comm), true);
		audit_field(line, "exe", s->exe, sizeof(s->exe), true);
		s->keyed = audit_field(line, "key", v, sizeof(v), true) && v[0];
	} else if (!strcmp(type, "CWD")) {
		audit_field(line, "cwd", s->cwd, sizeof(s->cwd), true);
	} else if (!strcmp(type, "PATH")) {
		char nametype[16];

		audit_field(line, "name", v, sizeof(v), true);
		audit_field(line, "nametype", nametype, sizeof(nametype), false);
		if (!strcmp(nametype, "CREATE"))
			snprintf(s->created, sizeof(s->created), "%s", v);
		else if (!strcmp(nametype, "DELETE"))
			snprintf(s->deleted, sizeof(s->deleted), "%s", v);
		else if (!strcmp(nametype, "NORMAL") && !s->normal[0])
			snprintf(s->normal, sizeof(s->normal), "%s", v);
	} else if (!strcmp(type, "EOE")) {
		return audit_finish(s, ev);
	}
	return LINE_OTHER;
}

enum line_kind parse_line(enum monitor_format f, char *line, struct ev *ev, uint64_t *lost, bool whodata)
{
	memset(ev, 0, sizeof(*ev));
	ev->pid = ev->uid = ev->auid = -1;
	switch (f) {
	case FMT_LOADER: return parse_loader(line, ev, whodata);
	case FMT_FIMCTL: return parse_fimctl(line, ev, lost, whodata);
	case FMT_INOTIFY: return parse_inotify(line, ev);
	case FMT_AUDIT: return parse_audit(line, ev);
	}
	return LINE_OTHER;
}
