/* bench/formats.c: each monitor's lines, as the benchmark harness reads them. */
#include <stdint.h>

#include "formats.h"
#include "test.h"

static enum line_kind parse_whodata(enum monitor_format f, const char *text, struct ev *ev, uint64_t *lost,
				    bool whodata)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s", text);
	return parse_line(f, buf, ev, lost, whodata);
}

static enum line_kind parse(enum monitor_format f, const char *text, struct ev *ev, uint64_t *lost)
{
	return parse_whodata(f, text, ev, lost, true);
}

static void loader_and_fimctl(void)
{
	struct ev ev;
	uint64_t lost = 0;

	CHECK(parse(FMT_LOADER, "{\"type\":\"event\",\"timestamp\":1764090012345678901,\"operation\":\"rename\","
				"\"path\":\"/w/new\",\"old_path\":\"/w/old\",\"pid\":812,\"tid\":813,\"ppid\":640,\"uid\":0,"
				"\"gid\":0,\"euid\":0,\"egid\":0,\"auid\":null,\"session_id\":null,\"process_name\":\"mv\","
				"\"exe\":\"/usr/bin/mv\",\"syscall\":\"renameat2\",\"source\":\"kernel\"}",
		    &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "rename");
	CHECK_STR(ev.path, "/w/new"); /* not old_path, which comes later */
	CHECK(ev.kernel_ns == 1764090012345678901ull);
	CHECK(ev.pid == 812 && ev.uid == 0 && ev.auid == -1); /* ppid and euid are not pid and uid */
	CHECK_STR(ev.comm, "mv");
	CHECK_STR(ev.exe, "/usr/bin/mv");
	CHECK(!ev.periodic_check);
	CHECK(parse(FMT_LOADER, "{\"type\":\"event\",\"operation\":\"modify\",\"path\":\"/w/f\",\"auid\":1000,"
				"\"exe\":null,\"syscall\":\"check\"}", &ev, &lost) == LINE_EVENT);
	CHECK(ev.periodic_check && ev.auid == 1000 && ev.exe[0] == 0);
	/* a run that measures overhead reads what it counts, and leaves the process "unknown" */
	CHECK(parse_whodata(FMT_LOADER, "{\"type\":\"event\",\"timestamp\":7,\"operation\":\"modify\","
					"\"path\":\"/w/f\",\"pid\":812,\"uid\":0,\"auid\":1000,\"process_name\":\"mv\","
					"\"exe\":\"/usr/bin/mv\",\"syscall\":\"check\"}", &ev, &lost, false) == LINE_EVENT);
	CHECK_STR(ev.op, "modify");
	CHECK_STR(ev.path, "/w/f");
	CHECK(ev.periodic_check);
	CHECK(ev.kernel_ns == 0 && ev.pid == -1 && ev.uid == -1 && ev.auid == -1 && !ev.comm[0] && !ev.exe[0]);
	CHECK(parse(FMT_LOADER, "{\"type\":\"stats\",\"events\":3,\"lost\":0}", &ev, &lost) == LINE_STATS);
	CHECK(parse(FMT_LOADER, "{\"type\":\"hello\",\"protocol\":1}", &ev, &lost) == LINE_HELLO);
	CHECK(parse(FMT_LOADER, "{\"type\":\"bye\",\"reason\":\"stdin closed\"}", &ev, &lost) == LINE_BYE);

	/* fimctl drops "type" from events and adds supervisor records */
	CHECK(parse(FMT_FIMCTL, "{\"timestamp\":1,\"operation\":\"add\",\"path\":\"/w/a\",\"pid\":5,\"uid\":4242,"
				"\"auid\":4243,\"process_name\":\"x\",\"exe\":\"/x\",\"syscall\":\"openat\",\"cmdline\":null}",
		    &ev, &lost) == LINE_EVENT);
	CHECK(ev.pid == 5 && ev.uid == 4242 && ev.auid == 4243);
	CHECK(parse(FMT_FIMCTL, "{\"timestamp\":3,\"operation\":\"attrib\",\"path\":\"/w/.fence-1-1\",\"pid\":null,"
				"\"changed\":[\"ctime\"],\"source\":\"reconcile\"}", &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_FIMCTL, "{\"type\":\"supervisor\",\"kind\":\"loss\",\"timestamp\":2,\"message\":\"m\","
				"\"lost\":1234,\"paths\":[\"/w\"]}", &ev, &lost) == LINE_LOSS);
	CHECK(lost == 1234);
	CHECK(parse(FMT_FIMCTL, "{\"type\":\"supervisor\",\"kind\":\"discard\",\"timestamp\":4,\"host\":\"h\","
				"\"message\":\"sink stdout: 77 record(s) discarded\",\"gap_start\":1,\"gap_end\":4,"
				"\"sink\":\"stdout\",\"discarded\":77,\"paths\":[\"/w\"]}", &ev, &lost) == LINE_LOSS);
	CHECK(lost == 77);
	/* changes found by reconciliation are not among the kernel's events that went missing */
	CHECK(parse(FMT_FIMCTL, "{\"type\":\"supervisor\",\"kind\":\"discard\",\"timestamp\":4,\"host\":\"h\","
				"\"message\":\"m\",\"gap_start\":1,\"gap_end\":4,\"sink\":\"stdout\",\"discarded\":77,"
				"\"discarded_reconciled\":3,\"paths\":[\"/w\"]}", &ev, &lost) == LINE_LOSS);
	CHECK(lost == 74);
	CHECK(parse(FMT_FIMCTL, "{\"type\":\"supervisor\",\"kind\":\"restart\",\"gap_start\":1}", &ev, &lost) == LINE_RESTART);
	CHECK(parse(FMT_FIMCTL, "{\"type\":\"supervisor\",\"kind\":\"give_up\"}", &ev, &lost) == LINE_OTHER);
}

static void inotify(void)
{
	struct ev ev;
	uint64_t lost = 0;

	CHECK(parse(FMT_INOTIFY, "CREATE /w/a b", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "add");
	CHECK_STR(ev.path, "/w/a b");
	CHECK(ev.pid == -1 && ev.uid == -1 && ev.auid == -1); /* no whodata */
	CHECK(parse(FMT_INOTIFY, "CREATE,ISDIR /w/d", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "add");
	CHECK(parse(FMT_INOTIFY, "MOVED_TO /w/n", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "rename");
	CHECK(parse(FMT_INOTIFY, "MOVED_FROM /w/o", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "other");
	CHECK(parse(FMT_INOTIFY, "MODIFY /w/m", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "modify");
	CHECK(parse(FMT_INOTIFY, "Q_OVERFLOW ", &ev, &lost) == LINE_OVERFLOW);
	CHECK(parse(FMT_INOTIFY, "garbage", &ev, &lost) == LINE_OTHER);
}

#define GS "\x1d" /* auditd's ENRICHED format appends the interpreted fields after this byte */

static void audit(void)
{
	struct ev ev;
	uint64_t lost = 0;

	/* a rename whose records interleave with a chmod's (two CPUs) */
	CHECK(parse(FMT_AUDIT, "type=SYSCALL msg=audit(1795643514.927:4): arch=c000003e syscall=316 success=yes exit=0 "
			       "items=4 ppid=1 pid=8249 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 tty=(none) "
			       "ses=4294967295 comm=\"mv\" exe=\"/usr/bin/mv\" key=\"fim-bench\"" GS "ARCH=x86_64 AUID=\"unset\" UID=\"root\"",
		    &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "type=SYSCALL msg=audit(1795643514.928:5): arch=c000003e syscall=90 success=yes exit=0 "
			       "ppid=1 pid=77 auid=1000 uid=4242 gid=0 euid=4242 comm=\"chmod\" exe=\"/usr/bin/chmod\" key=\"fim-bench\"",
		    &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "type=CWD msg=audit(1795643514.927:4): cwd=\"/w\"", &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "type=PATH msg=audit(1795643514.927:4): item=0 name=\"/w/\" inode=1 nametype=PARENT", &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "type=PATH msg=audit(1795643514.928:5): item=0 name=\"/w/c\" inode=3 nametype=NORMAL", &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "type=PATH msg=audit(1795643514.927:4): item=2 name=\"f1\" inode=2 nametype=DELETE", &ev, &lost) == LINE_OTHER);
	/* a name with a space and a newline comes hex-encoded */
	CHECK(parse(FMT_AUDIT, "type=PATH msg=audit(1795643514.927:4): item=3 name=2F772F6620320A inode=2 dev=fe:00 nametype=CREATE cap_fp=0", &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "type=EOE msg=audit(1795643514.928:5): ", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "attrib");
	CHECK_STR(ev.path, "/w/c");
	CHECK(ev.pid == 77 && ev.uid == 4242 && ev.auid == 1000);
	CHECK(parse(FMT_AUDIT, "type=PROCTITLE msg=audit(1795643514.927:4): proctitle=6D76", &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "type=EOE msg=audit(1795643514.927:4): ", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "rename");
	CHECK_STR(ev.path, "/w/f 2\n");
	CHECK(ev.kernel_ns == 1795643514927000000ull);
	CHECK(ev.pid == 8249 && ev.uid == 0 && ev.auid == -1); /* 4294967295: unset */
	CHECK_STR(ev.comm, "mv");
	CHECK_STR(ev.exe, "/usr/bin/mv");

	/* a relative name is completed with the CWD record; an open for write is a modify */
	parse(FMT_AUDIT, "type=SYSCALL msg=audit(1.000:6): syscall=257 pid=1 auid=0 uid=0 comm=\"sh\" exe=\"/bin/sh\" key=\"k\"", &ev, &lost);
	parse(FMT_AUDIT, "type=CWD msg=audit(1.000:6): cwd=\"/w\"", &ev, &lost);
	parse(FMT_AUDIT, "type=PATH msg=audit(1.000:6): item=0 name=\"log\" nametype=NORMAL", &ev, &lost);
	CHECK(parse(FMT_AUDIT, "type=EOE msg=audit(1.000:6): ", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "modify");
	CHECK_STR(ev.path, "/w/log");
	/* creation and deletion */
	parse(FMT_AUDIT, "type=SYSCALL msg=audit(1.000:7): syscall=257 pid=1 auid=0 uid=0 comm=\"sh\" exe=\"/bin/sh\" key=\"k\"", &ev, &lost);
	parse(FMT_AUDIT, "type=PATH msg=audit(1.000:7): item=1 name=\"/w/new\" nametype=CREATE", &ev, &lost);
	CHECK(parse(FMT_AUDIT, "type=EOE msg=audit(1.000:7): ", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "add");
	parse(FMT_AUDIT, "type=SYSCALL msg=audit(1.000:8): syscall=263 pid=1 auid=0 uid=0 comm=\"rm\" exe=\"/bin/rm\" key=\"k\"", &ev, &lost);
	parse(FMT_AUDIT, "type=PATH msg=audit(1.000:8): item=1 name=\"/w/new\" nametype=DELETE", &ev, &lost);
	CHECK(parse(FMT_AUDIT, "type=EOE msg=audit(1.000:8): ", &ev, &lost) == LINE_EVENT);
	CHECK_STR(ev.op, "delete");

	/* records no watch rule made: auditctl's own config change, daemon records */
	parse(FMT_AUDIT, "type=CONFIG_CHANGE msg=audit(2.000:9): auid=4294967295 op=add_rule key=\"fim-bench\" list=4 res=1", &ev, &lost);
	parse(FMT_AUDIT, "type=SYSCALL msg=audit(2.000:9): syscall=44 pid=9 auid=0 uid=0 comm=\"auditctl\" exe=\"/sbin/auditctl\" key=(null)", &ev, &lost);
	CHECK(parse(FMT_AUDIT, "type=EOE msg=audit(2.000:9): ", &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "type=DAEMON_START msg=audit(3.000:1): op=start ver=3.0.9", &ev, &lost) == LINE_OTHER);
	CHECK(parse(FMT_AUDIT, "not an audit record", &ev, &lost) == LINE_OTHER);

	/* more events in flight than slots: the oldest gives way, nothing overflows */
	for (int i = 0; i < 200; i++) {
		char line[128];

		snprintf(line, sizeof(line), "type=SYSCALL msg=audit(4.000:%d): syscall=90 pid=1 uid=0 auid=0 comm=\"c\" exe=\"/c\" key=\"k\"", 100 + i);
		CHECK(parse(FMT_AUDIT, line, &ev, &lost) == LINE_OTHER);
	}
}

int main(void)
{
	enum monitor_format f;

	CHECK(parse_format("audit", &f) == 0 && f == FMT_AUDIT);
	CHECK(parse_format("auditd", &f) == -1);
	loader_and_fimctl();
	inotify();
	audit();
	return t_done("bench_formats");
}
