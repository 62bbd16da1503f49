// Who made the change: real and effective ids of another user, and the audit login uid and
// session, which are null when unset (never 0, which would mean root).
import fs from 'node:fs';
import path from 'node:path';
import { assertEvents, bin, e2e, ino, py, run, whoRoot, withLoader } from './harness.js';

const UNSET = 4294967295;

e2e('a change made as another user carries its uid/euid/gid/egid', (t) =>
	withLoader(t, { worldWritable: true }, async (l) => {
		const f = path.join(l.dir, 'by-1000');
		const m = l.mark();
		const c = await run(
			bin('setpriv'),
			['--reuid', '1000', '--regid', '1000', '--clear-groups', bin('touch'), f],
			{ comm: bin('touch') },
		);
		t.is(fs.statSync(f).uid, 1000, 'setpriv really switched user');
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: f, inode: ino(f), ...c.who, uid: 1000, euid: 1000, gid: 1000, egid: 1000 },
		]);
	}));

e2e('real and effective uid are reported apart', (t) =>
	withLoader(t, { worldWritable: true }, async (l) => {
		const d = path.join(l.dir, 'mixed');
		const m = l.mark();
		// real uid 1000, effective uid 0: what a setuid-root program looks like
		const c = await run(bin('setpriv'), ['--ruid', '1000', bin('mkdir'), d], { comm: bin('mkdir') });
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: d, ...c.who, uid: 1000, euid: 0 }]);
	}));

e2e('a process with a login uid carries it as auid, with its session id', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'by-login');
		const m = l.mark();
		// Setting the login uid starts a new audit session; the shell prints the session id it
		// got (cat inherits it), then becomes touch, so the event's pid is the shell's.
		const c = await run(
			bin('sh'),
			['-c', 'echo 1000 > /proc/self/loginuid && cat /proc/self/sessionid && exec "$0" "$1"', bin('touch'), f],
			{ comm: bin('touch') },
		);
		const session = Number(c.stdout.trim());
		t.true(Number.isInteger(session) && session !== UNSET, `a session was assigned: ${c.stdout}`);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: f, ...c.who, uid: 0, euid: 0, auid: 1000, session_id: session },
		]);
	}));

e2e('a process without a login uid carries auid and session_id null', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'no-login');
		const m = l.mark();
		// If the runner itself has a login uid (a login shell), clear it in the child first, then
		// report what the child really had.
		const c = await run(
			bin('sh'),
			[
				'-c',
				'read l < /proc/self/loginuid; [ "$l" = 4294967295 ] || echo 4294967295 > /proc/self/loginuid; ' +
					'read l < /proc/self/loginuid; read s < /proc/self/sessionid; echo "$l $s"; exec "$0" "$1"',
				bin('touch'),
				f,
			],
			{ comm: bin('touch') },
		);
		const [loginuid, session] = c.stdout.trim().split(' ').map(Number);
		const expect = {
			auid: loginuid === UNSET ? null : loginuid,
			session_id: session === UNSET ? null : session,
		};
		t.log('child loginuid/sessionid:', c.stdout.trim());
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: f, ...c.who, ...expect }]);
		t.is(expect.auid, null, 'the child had no login uid');
	}));

// The process's start, as /proc/PID/stat's starttime (field 22) counts it in clock ticks: that of
// the process (its thread-group leader), whichever of its threads made the change.
const startTicks = `
import threading, time
def ticks(stat): return int(open(stat).read().rsplit(')', 1)[1].split()[19])
time.sleep(0.05)  # the thread then starts ticks after the process
seen = []
def write():
    seen.extend([ticks('/proc/thread-self/stat'), threading.get_native_id()])
    with open(A[0], 'wb', buffering=0) as f:
        for _ in range(int(sys.argv[2])):
            f.write(b'x')
            time.sleep(0.1)
writer = threading.Thread(target=write)
writer.start()
writer.join()
print(ticks('/proc/self/stat'), *seen, os.sysconf('SC_CLK_TCK'))
`;

/** Runs startTicks: a thread writes `writes` bytes 100 ms apart to file. */
async function threadWriter(file: string, writes: number) {
	const c = await py(startTicks, [file, String(writes)]);
	const [processTicks, threadTicks, tid, ticksPerSecond] = c.stdout.trim().split(' ').map(Number) as [number, number, number, number];
	return { c, processTicks, threadTicks, tid, nsPerTick: 1e9 / ticksPerSecond };
}

e2e('process_start_ns is when the process started, as /proc/PID/stat shows it, not its thread', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'by-thread');
		const m = l.mark();
		const { c, processTicks, threadTicks, tid, nsPerTick } = await threadWriter(f, 1);
		t.not(tid, c.pid, 'a thread other than the leader wrote');
		t.not(threadTicks, processTicks, 'the thread started in a later tick than the process');
		const evs = await l.settle(m);
		assertEvents(t, evs, [
			{ operation: 'add', path: f, ...whoRoot(c), tid },
			{ operation: 'modify', path: f, ...whoRoot(c), tid },
		]);
		for (const e of evs) {
			const ns = e['process_start_ns'] as number;
			t.true(Number.isSafeInteger(ns), `exact: ${ns}`);
			t.is(Math.floor(ns / nsPerTick), processTicks, `${ns} ns is in tick ${processTicks}`);
		}
	}));

// The periodic check finds the writer by pid, the process's leader, and proves it is still the
// writer by its start: the process's, so that a writer thread is found too.
e2e('a modify found by the periodic check carries the exe of a writer thread', (t) =>
	withLoader(t, { args: ['--coalesce-ms', '500'] }, async (l) => {
		const f = path.join(l.dir, 'held-by-thread');
		const m = l.mark();
		const { c, tid, processTicks, nsPerTick } = await threadWriter(f, 15);
		const checks = (await l.settle(m)).filter((e) => e['syscall'] === 'check');
		t.true(checks.length >= 1, 'the file was checked while open');
		for (const e of checks) {
			t.like(e, { operation: 'modify', path: f, ...whoRoot(c), tid });
			t.is(Math.floor((e['process_start_ns'] as number) / nsPerTick), processTicks);
		}
	}));

// The command line is read from the process's memory at the syscall: a shell one-liner is gone
// long before /proc/PID/cmdline could be read, and is the case a FIM user most needs named.
e2e('a short-lived process carries the command line it was run with', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'one-liner');
		const m = l.mark();
		const c = await run(bin('sh'), ['-c', 'printf x >> "$0"', f], { comm: bin('sh') });
		const events = await l.settle(m);
		assertEvents(t, events, [
			{ operation: 'add', path: f, ...c.who, cmdline: `${bin('sh')} -c printf x >> "$0" ${f}` },
			{ operation: 'modify', path: f, ...c.who, cmdline: `${bin('sh')} -c printf x >> "$0" ${f}` },
		]);
		t.false(events.some((e) => 'truncated' in e || 'cmdline_b64' in e));
	}));

e2e('a command line longer than the kernel reads is cut and says so', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'long-args');
		const m = l.mark();
		const c = await run(bin('sh'), ['-c', ': > "$0"', f, 'a'.repeat(1500)], { comm: bin('sh') });
		const [e] = await l.settle(m);
		const full = `${bin('sh')} -c : > "$0" ${f} ${'a'.repeat(1500)}`;
		assertEvents(t, [e!], [{ operation: 'add', path: f, pid: c.who.pid, cmdline: full.slice(0, 1023), truncated: ['cmdline'] }]);
	}));

e2e('a command line that is not UTF-8 survives in cmdline_b64', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'odd-args');
		const m = l.mark();
		// the last argument: an invalid byte, a control byte and a quote
		const c = await py('os.execv(b"/bin/sh", [b"sh", b"-c", b": > \\"$0\\"", A[0], b"\\xff\\x01\\"z"])', [f]);
		const [e] = await l.settle(m);
		const bytes = Buffer.concat([Buffer.from(`sh -c : > "$0" ${f} `), Buffer.from([0xff, 0x01, 0x22, 0x7a])]);
		assertEvents(t, [e!], [
			{ operation: 'add', path: f, pid: c.who.pid, cmdline: `sh -c : > "$0" ${f} \ufffd\u0001"z`, cmdline_b64: bytes.toString('base64') },
		]);
	}));

// A daemon that retitles itself (sshd, postgres, nginx: setproctitle; perl's `$0 =`) rewrites
// its arguments in place: same process, same memory, same place. Its records after that carry
// the new title, not the one the kernel sent first (from 0.1 ms after the sensor last looked:
// docs/protocol.md, cmdline).
e2e('a process that rewrites its arguments in place is named by its new title from then on', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'retitled');
		const m = l.mark();
		const script = 'open(my $f, ">>", $ARGV[0]) or die; print $f "x"; close $f; $0 = "fim-e2e: retitled"; select(undef, undef, undef, 0.02); ' +
			'open($f, ">>", $ARGV[0]) or die; print $f "y"; close $f';
		const c = await run(bin('perl'), ['-e', script, f], { comm: bin('perl') });
		const events = await l.settle(m);
		const asRun = `${bin('perl')} -e ${script} ${f}`;
		// perl pads the new title with spaces over the whole of the old arguments, their last NUL
		// included, as ps then shows it
		const retitled = 'fim-e2e: retitled'.padEnd(asRun.length + 1, ' ');
		assertEvents(t, events, [
			{ operation: 'add', path: f, pid: c.who.pid, cmdline: asRun },
			{ operation: 'modify', path: f, pid: c.who.pid, cmdline: asRun },
			{ operation: 'modify', path: f, pid: c.who.pid, cmdline: retitled },
		]);
	}));

// The kernel sends a process's command line once and the loader fills it in for its next
// records; an exec keeps the pid but not the command line.
e2e('a process that execs another is named by the new command line from then on', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'then-exec');
		const m = l.mark();
		const c = await run(bin('sh'), ['-c', 'printf x >> "$0"; printf y >> "$0"; exec chmod 600 "$0"', f], { comm: bin('chmod') });
		const shell = `${bin('sh')} -c printf x >> "$0"; printf y >> "$0"; exec chmod 600 "$0" ${f}`;
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: f, pid: c.who.pid, cmdline: shell },
			{ operation: 'modify', path: f, pid: c.who.pid, cmdline: shell },
			{ operation: 'modify', path: f, pid: c.who.pid, cmdline: shell },
			{ operation: 'attrib', path: f, pid: c.who.pid, cmdline: `chmod 600 ${f}` },
		]);
	}));
