import {spawn as spawnChild} from 'node:child_process';
import {once} from 'node:events';
import {readFileSync, rmSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {containerIdFromCgroup, ProcCache} from '../../supervisor/src/proc-cache.js';
import {fakeProcess, temporaryDirectory, type FakeProcess} from './helpers.js';

/** A fake /proc: processes with a start time in ticks (100 per second). */
function fakeProc() {
	const root = temporaryDirectory('fim-proc-');
	const clock = {bootTimeMs: 1_000_000, now: 50_000, nowMs: () => clock.bootTimeMs + clock.now};
	const cache = new ProcCache(clock, {procRoot: root, maxEntries: 3});
	const spawn = (pid: number, startTicks: number, options: FakeProcess = {}) => {
		fakeProcess(root, pid, startTicks, options);
	};

	const kill = (pid: number) => rmSync(join(root, String(pid)), {recursive: true, force: true});
	// Kernel-frame ms of an event `msAfterBoot` after boot.
	const at = (msAfterBoot: number) => clock.bootTimeMs + msAfterBoot;
	return {cache, clock, spawn, kill, at};
}

test('reads a process once and serves later events from the cache', t => {
	const {cache, spawn, at} = fakeProc();
	spawn(42, 1000, {comm: 'vim (x)', cmdline: ['vim', 'a b.txt']});
	const info = cache.lookup(42, at(20_000), '/usr/bin/prog');
	t.like(info, {comm: 'vim (x)', cmdline: 'vim a b.txt', cwd: '/home/alice', ppid: 1, containerId: null});
	const reads = cache.reads;
	t.is(cache.lookup(42, at(20_001), '/usr/bin/prog'), info);
	t.is(cache.reads, reads);
});

test('an event after the last check re-reads only the stat line', t => {
	const {cache, clock, spawn, at} = fakeProc();
	spawn(42, 1000);
	t.truthy(cache.lookup(42, at(20_000)));
	clock.now = 60_000;
	const reads = cache.reads;
	t.truthy(cache.lookup(42, at(55_000)));
	t.is(cache.reads, reads + 1);
});

test('events received before a check are covered by it, even ahead of a lagging clock', t => {
	const {cache, clock, spawn, kill, at} = fakeProc();
	spawn(42, 1000);
	clock.now = 20_000;
	t.truthy(cache.lookup(42, at(19_000)));
	// The clock lags (it is a lower bound): a batch of events newer than it, from one process.
	cache.received(at(20_004));
	const reads = cache.reads;
	t.truthy(cache.lookup(42, at(20_002)));
	t.truthy(cache.lookup(42, at(20_004)));
	t.is(cache.reads, reads + 1, 'one check for the batch');
	// A time far ahead of the clock proves nothing: the next event is checked, and finds the pid gone.
	cache.received(at(30_000));
	kill(42);
	t.is(cache.lookup(42, at(20_010)), undefined);
});

test('a recycled pid never lends its data to an older event', t => {
	const {cache, clock, spawn, kill, at} = fakeProc();
	spawn(42, 1000, {cmdline: ['old']});
	clock.now = 25_000;
	t.is(cache.lookup(42, at(20_000))?.cmdline, 'old');
	kill(42);
	// Same pid, new process that started at 40 s; the event happened at 30 s.
	spawn(42, 4000, {cmdline: ['new']});
	clock.now = 60_000;
	t.is(cache.lookup(42, at(30_000)), undefined);
	t.is(cache.lookup(42, at(45_000))?.cmdline, 'new');
});

test('a process that has exited gives nothing', t => {
	const {cache, clock, spawn, kill, at} = fakeProc();
	spawn(42, 1000);
	t.truthy(cache.lookup(42, at(20_000)));
	kill(42);
	clock.now = 60_000;
	t.is(cache.lookup(42, at(55_000)), undefined);
	t.is(cache.lookup(7, at(1000)), undefined);
});

test('an exe different from the kernel\'s means an exec happened: no cmdline from the other program', t => {
	const {cache, clock, spawn, at} = fakeProc();
	spawn(42, 1000, {exe: '/usr/bin/bash'});
	t.truthy(cache.lookup(42, at(20_000), '/usr/bin/bash'));
	t.is(cache.lookup(42, at(20_000), '/usr/bin/python3'), undefined);
	// …but once it has exec'd to what a later event reports, the fresh read matches and is used.
	spawn(42, 1000, {exe: '/usr/bin/python3', cmdline: ['python3', 'x.py']});
	clock.now = 60_000;
	t.is(cache.lookup(42, at(55_000), '/usr/bin/python3')?.cmdline, 'python3 x.py');
});

test('the cache is bounded', t => {
	const {cache, spawn, at} = fakeProc();
	for (const pid of [1, 2, 3, 4, 5]) {
		spawn(pid, 100);
		cache.lookup(pid, at(20_000));
	}

	t.is(cache.size, 3);
});

test('container ids from cgroup paths', t => {
	const id = 'a'.repeat(64);
	t.is(containerIdFromCgroup(`0::/system.slice/docker-${id}.scope\n`), id);
	t.is(containerIdFromCgroup(`12:pids:/docker/${id}\n`), id);
	t.is(containerIdFromCgroup(`0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-${id}.scope\n`), id);
	t.is(containerIdFromCgroup('0::/user.slice/user-1000.slice/session-3.scope\n'), null);
	t.is(containerIdFromCgroup('0::/\n'), null);
});

test('the real /proc: this process', t => {
	const cache = new ProcCache({bootTimeMs: Date.now() - (performance.now() + 1e9), nowMs: () => Date.now() + 1e9});
	const info = cache.lookup(process.pid, Date.now(), process.execPath);
	t.is(info?.exe, process.execPath);
	t.is(info?.cwd, process.cwd());
	t.true(info?.cmdline?.includes('node') ?? false);
});

/** The real /proc with the kernel's clock frame (boot time rounded down, as the loader's is not). */
function realProcCache(options: {maxOpen?: number} = {}) {
	const uptimeMs = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * 1000;
	const clock = {bootTimeMs: Date.now() - uptimeMs - 1000, nowMs: () => Date.now()};
	return new ProcCache(clock, options);
}

async function sleeper() {
	const child = spawnChild('sleep', ['60'], {stdio: 'ignore'});
	await once(child, 'spawn');
	return child;
}

test('the real /proc: a cached process is held open, checked again, and let go once reaped', async t => {
	const cache = realProcCache();
	const child = await sleeper();
	const pid = child.pid!;
	t.teardown(() => child.kill('SIGKILL'));
	t.like(cache.lookup(pid, Date.now(), '/usr/bin/sleep'), {pid, comm: 'sleep'});
	t.is(cache.openCount, 1);
	await new Promise(resolve => {
		setTimeout(resolve, 5);
	});
	t.like(cache.lookup(pid, Date.now()), {pid});
	t.is(cache.openCount, 1);
	child.kill('SIGKILL');
	await once(child, 'exit');
	t.is(cache.lookup(pid, Date.now() + 1), undefined);
	t.is(cache.openCount, 0);
	cache.close();
});

test('the real /proc: processes held open are bounded, and the others still checked', async t => {
	const cache = realProcCache({maxOpen: 2});
	const children = await Promise.all([sleeper(), sleeper(), sleeper()]);
	t.teardown(() => {
		for (const child of children) {
			child.kill('SIGKILL');
		}
	});
	for (const child of children) {
		t.truthy(cache.lookup(child.pid!, Date.now()));
	}

	t.is(cache.openCount, 2);
	const first = children[0]!;
	await new Promise(resolve => {
		setTimeout(resolve, 5);
	});
	// No longer held: checked through its stat line, and held again.
	t.like(cache.lookup(first.pid!, Date.now()), {pid: first.pid});
	t.is(cache.openCount, 2);
	cache.close();
	t.is(cache.openCount, 0);
});

test('an exe that /proc never shows costs one re-read, not one per event', t => {
	const {cache, spawn, at} = fakeProc();
	spawn(42, 1000, {exe: '/proc-view/bin/app'});
	t.truthy(cache.lookup(42, at(20_000), '/proc-view/bin/app'));
	t.is(cache.lookup(42, at(20_000), '/kernel-view/bin/app'), undefined);
	const reads = cache.reads;
	t.is(cache.lookup(42, at(20_000), '/kernel-view/bin/app'), undefined);
	t.is(cache.reads, reads);
});

test('a child\'s parent, once proven, is not checked again while the child names it', t => {
	const {cache, clock, spawn, kill, at} = fakeProc();
	spawn(40, 500, {comm: 'bash'});
	spawn(42, 1000, {ppid: 40});
	const child = cache.lookup(42, at(20_000))!;
	t.is(cache.parentOf(child, 40, at(20_000))?.comm, 'bash');
	clock.now = 60_000;
	const reads = cache.reads;
	t.is(cache.lookup(42, at(55_000)), child);
	t.is(cache.parentOf(child, 40, at(55_000))?.comm, 'bash');
	// the child's own check only
	t.is(cache.reads, reads + 1);
	// Reparented: the new parent is looked up and proven like any process.
	kill(40);
	spawn(1, 1, {comm: 'init'});
	t.is(cache.parentOf(child, 1, at(56_000))?.comm, 'init');
	t.is(cache.reads, reads + 1 + 2);
});

test('a parent link does not reach back before the event it was proven at', t => {
	const {cache, clock, spawn, at} = fakeProc();
	// A parent that started after the child (not a real parent's order): the link proven at
	// 20 s says nothing of the child's events before it, which are checked the usual way.
	spawn(40, 1800, {comm: 'bash'});
	spawn(42, 100, {ppid: 40});
	clock.now = 25_000;
	const child = cache.lookup(42, at(20_000))!;
	t.truthy(cache.parentOf(child, 40, at(20_000)));
	t.is(cache.parentOf(child, 40, at(15_000)), undefined);
	t.truthy(cache.parentOf(child, 40, at(21_000)));
});

test('a pid found gone costs one read, not one per event from before', t => {
	const {cache, clock, spawn, kill, at} = fakeProc();
	spawn(42, 1000);
	kill(42);
	clock.now = 60_000;
	t.is(cache.lookup(42, at(50_000)), undefined);
	const reads = cache.reads;
	t.is(cache.lookup(42, at(55_000)), undefined);
	t.is(cache.lookup(42, at(60_000)), undefined);
	t.is(cache.reads, reads);
	// A process that took the pid since is read as usual.
	spawn(42, 6100, {cmdline: ['new']});
	clock.now = 70_000;
	t.is(cache.lookup(42, at(65_000))?.cmdline, 'new');
});

test('an event that says when its process started finds it cached without reading /proc', t => {
	const {cache, clock, spawn, at} = fakeProc();
	spawn(42, 1000, {cmdline: ['vim']});
	const info = cache.lookup(42, at(20_000), '/usr/bin/prog', 1000);
	t.is(info?.cmdline, 'vim');
	// Later events of the same process, past any check the cache made: no read at all.
	clock.now = 60_000;
	const reads = cache.reads;
	t.is(cache.lookup(42, at(55_000), '/usr/bin/prog', 1000), info);
	t.is(cache.lookup(42, at(59_000), '/usr/bin/prog', 1000), info);
	t.is(cache.reads, reads);
});

test('a pid reused within a tick of the old process\'s event is told apart by start time', t => {
	const {cache, clock, spawn, kill, at} = fakeProc();
	// Pid 42 makes a change at 20.001 s and exits; a new process gets pid 42 at 20.004 s, in
	// tick 2000, which /proc rounds down to 20.000 s: before the event, as far as /proc shows.
	spawn(42, 1000, {cmdline: ['old']});
	kill(42);
	spawn(42, 2000, {cmdline: ['new']});
	clock.now = 25_000;
	t.is(cache.lookup(42, at(20_001), '/usr/bin/prog', 1000), undefined);
	// The same event from a loader without start times cannot tell: /proc alone is fooled.
	t.is(cache.lookup(42, at(20_001), '/usr/bin/prog')?.cmdline, 'new');
});

test('a reused pid with another start time is read fresh; the old process\'s events stay unknown', t => {
	const {cache, clock, spawn, kill, at} = fakeProc();
	spawn(42, 1000, {cmdline: ['old']});
	clock.now = 20_000;
	t.is(cache.lookup(42, at(19_000), '/usr/bin/prog', 1000)?.cmdline, 'old');
	kill(42);
	spawn(42, 2100, {cmdline: ['new']});
	clock.now = 30_000;
	let reads = cache.reads;
	t.is(cache.lookup(42, at(25_000), '/usr/bin/prog', 2100)?.cmdline, 'new');
	t.true(cache.reads > reads, 'the new process was read from /proc');
	// A late event of the old process (a backlog): the cached process started after it, so the
	// old one was gone by then; no read, and never the new process's data.
	reads = cache.reads;
	t.is(cache.lookup(42, at(20_500), '/usr/bin/prog', 1000), undefined);
	t.is(cache.reads, reads);
	t.is(cache.lookup(42, at(26_000), '/usr/bin/prog', 2100)?.cmdline, 'new');
	t.is(cache.reads, reads);
});

test('a start time that /proc no longer shows for the pid gives nothing', t => {
	const {cache, clock, spawn, kill, at} = fakeProc();
	spawn(42, 1000);
	kill(42);
	clock.now = 30_000;
	t.is(cache.lookup(42, at(20_000), '/usr/bin/prog', 1000), undefined);
	// Another process with the pid now: the event's process is still not it.
	spawn(42, 2500, {cmdline: ['later']});
	t.is(cache.lookup(42, at(20_000), '/usr/bin/prog', 1000), undefined);
});

test('an exec since the process was cached is still found by the exe, with a start time too', t => {
	const {cache, clock, spawn, at} = fakeProc();
	spawn(42, 1000, {exe: '/usr/bin/bash', cmdline: ['bash']});
	t.is(cache.lookup(42, at(20_000), '/usr/bin/bash', 1000)?.cmdline, 'bash');
	// exec keeps the pid and the start time
	spawn(42, 1000, {exe: '/usr/bin/python3', cmdline: ['python3', 'x.py']});
	clock.now = 60_000;
	t.is(cache.lookup(42, at(55_000), '/usr/bin/python3', 1000)?.cmdline, 'python3 x.py');
});

test('start times in ns become /proc ticks exactly, past the range a double holds exactly', t => {
	const {cache} = fakeProc();
	t.is(cache.startTicksOf('63756911042134'), 6_375_691);
	t.is(cache.startTicksOf('0'), 0);
	t.is(cache.startTicksOf('9999999'), 0);
	t.is(cache.startTicksOf('10000000'), 1);
	// 2^53 < this < 2^54: as a double it is 1e16, a tick later than the truth
	t.is(Number('9999999999999999'), 1e16);
	t.is(cache.startTicksOf('9999999999999999'), 999_999_999);
	t.is(cache.startTicksOf('18446744073709551615'), 1_844_674_407_370); // the most a u64 holds
	t.is(cache.startTicksOf('184467440737095516150'), undefined);
	t.is(cache.startTicksOf('12 34'), undefined);
	t.is(cache.startTicksOf('-5'), undefined);
	t.is(cache.startTicksOf('1e9'), undefined);
	t.is(cache.startTicksOf(''), undefined);
});
