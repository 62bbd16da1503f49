// Every operation of DESIGN.md §3, each made by a child process, reported exactly once with the
// child's whodata. inode is asserted where the kernel reaches the file through an fd (opens,
// f*() calls); name-based calls have no inode on the tracepoint backend (docs/protocol.md).
import fs from 'node:fs';
import path from 'node:path';
import { assertEvents, bin, e2e, ino, py, run, whoRoot, withLoader, type Loader } from './harness.js';

const NAMED = { file_type: null, inode: null, dev: null };

e2e('add: open(O_CREAT) of a new file', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'created');
		const m = l.mark();
		const c = await py('os.close(os.open(A[0], os.O_CREAT | os.O_WRONLY, 0o644))', [f]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: f, old_path: null, file_type: 'file', inode: ino(f), syscall: 'openat', ...whoRoot(c) },
		]);
	}));

e2e('add: opening an existing file with O_CREAT (no O_TRUNC, no write) is not an add', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'exists');
		fs.writeFileSync(f, 'x');
		const m = await l.settle().then(() => l.mark());
		await py('os.close(os.open(A[0], os.O_CREAT | os.O_RDONLY))', [f]);
		assertEvents(t, await l.settle(m), []);
	}));

e2e('add: mkdir', (t) =>
	withLoader(t, {}, async (l) => {
		const d = path.join(l.dir, 'newdir');
		const m = l.mark();
		const c = await run(bin('mkdir'), [d]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: d, file_type: 'dir', syscall: 'mkdir', ...whoRoot(c) },
		]);
	}));

e2e('add: mknod of a fifo (mkfifo)', (t) =>
	withLoader(t, {}, async (l) => {
		const p = path.join(l.dir, 'pipe');
		const m = l.mark();
		const c = await run(bin('mkfifo'), [p]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: p, file_type: 'fifo', syscall: 'mknodat', ...whoRoot(c) },
		]);
	}));

e2e('add: hard link and symlink (link, symlink, linkat, symlinkat)', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'target');
		fs.writeFileSync(f, 'x');
		const m = await l.settle().then(() => l.mark());
		const [hard, sym, hard2, sym2] = ['hard', 'sym', 'hard2', 'sym2'].map((n) => path.join(l.dir, n)) as [
			string,
			string,
			string,
			string,
		];
		// the old calls through libc, the *at ones through coreutils ln
		const c1 = await py('libc = ctypes.CDLL(None)\nassert libc.link(A[0], A[1]) == 0\nassert libc.symlink(A[0], A[2]) == 0', [
			f,
			hard,
			sym,
		]);
		const c2 = await run(bin('ln'), [f, hard2]);
		const c3 = await run(bin('ln'), ['-s', f, sym2]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: hard, syscall: 'link', ...whoRoot(c1) },
			{ operation: 'add', path: sym, file_type: 'symlink', syscall: 'symlink', ...whoRoot(c1) },
			{ operation: 'add', path: hard2, syscall: 'linkat', ...whoRoot(c2) },
			{ operation: 'add', path: sym2, file_type: 'symlink', syscall: 'symlinkat', ...whoRoot(c3) },
		]);
	}));

e2e('add: O_TMPFILE made visible by linkat', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'from-tmpfile');
		const m = l.mark();
		// An anonymous file is no event; it becomes one when linkat gives it a name.
		// AT_SYMLINK_FOLLOW on /proc/self/fd/N is the unprivileged way to name it.
		const c = await py(
			[
				'fd = os.open(os.path.dirname(A[0]), os.O_TMPFILE | os.O_WRONLY, 0o600)',
				'os.write(fd, b"data")',
				'libc = ctypes.CDLL(None, use_errno=True)',
				'assert libc.linkat(-100, b"/proc/self/fd/%d" % fd, -100, A[0], 0x400) == 0, ctypes.get_errno()',
				'os.close(fd)',
			].join('\n'),
			[f],
		);
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: f, syscall: 'linkat', ...whoRoot(c) }]);
	}));

e2e('modify: write + close of an existing file', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'existing');
		fs.writeFileSync(f, 'before\n');
		const m = await l.settle().then(() => l.mark());
		const c = await py('fd = os.open(A[0], os.O_WRONLY | os.O_APPEND)\nos.write(fd, b"more\\n")\nos.close(fd)', [f]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'modify', path: f, file_type: 'file', inode: ino(f), syscall: 'close', ...whoRoot(c) },
		]);
	}));

e2e('modify: many writes through one open file are one event', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'burst');
		fs.writeFileSync(f, '');
		const m = await l.settle().then(() => l.mark());
		const c = await py('fd = os.open(A[0], os.O_WRONLY)\nfor i in range(500): os.write(fd, b"x")\nos.close(fd)', [f]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'modify', path: f, inode: ino(f), syscall: 'close', ...whoRoot(c) },
		]);
	}));

e2e('modify: opening for write without writing is no event', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'untouched');
		fs.writeFileSync(f, 'x');
		const m = await l.settle().then(() => l.mark());
		await py('os.close(os.open(A[0], os.O_WRONLY))', [f]);
		assertEvents(t, await l.settle(m), []);
	}));

e2e('modify: truncate(2) by name and ftruncate(2)', (t) =>
	withLoader(t, {}, async (l) => {
		const a = path.join(l.dir, 'by-name');
		const b = path.join(l.dir, 'by-fd');
		fs.writeFileSync(a, 'abcdef');
		fs.writeFileSync(b, 'abcdef');
		const m = await l.settle().then(() => l.mark());
		const c1 = await py('os.truncate(A[0], 1)', [a]);
		const c2 = await run(bin('truncate'), ['-s', '2', b]); // coreutils opens, then ftruncate
		assertEvents(t, await l.settle(m), [
			{ operation: 'modify', path: a, syscall: 'truncate', ...whoRoot(c1) },
			{ operation: 'modify', path: b, inode: ino(b), syscall: 'ftruncate', ...whoRoot(c2) },
		]);
	}));

e2e('modify: O_TRUNC open of an existing file', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'trunc');
		fs.writeFileSync(f, 'old content');
		const m = await l.settle().then(() => l.mark());
		// the truncation is one modify when the open file ends, even with nothing written after
		const c = await py('os.close(os.open(A[0], os.O_WRONLY | os.O_TRUNC))', [f]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'modify', path: f, file_type: 'file', inode: ino(f), syscall: 'close', ...whoRoot(c) },
		]);
	}));

e2e('modify: fallocate', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'alloc');
		fs.writeFileSync(f, '');
		const m = await l.settle().then(() => l.mark());
		const c = await run(bin('fallocate'), ['-l', '65536', f]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'modify', path: f, inode: ino(f), syscall: 'fallocate', ...whoRoot(c) },
		]);
	}));

/** A child that writes a line every 20 ms for `seconds` through one fd, then closes it. */
async function longWriter(l: Loader, seconds: number) {
	const f = path.join(l.dir, 'app.log');
	fs.writeFileSync(f, '');
	const m = await l.settle().then(() => l.mark());
	const c = await py(
		'import time\nfd = os.open(A[0], os.O_WRONLY | os.O_APPEND)\n' +
			`end = time.time() + ${seconds}\n` +
			// the time is taken just before each write, so the last one stamps the last write
			'while time.time() < end:\n    last = time.clock_gettime_ns(time.CLOCK_REALTIME); os.write(fd, b"line\\n"); time.sleep(0.02)\n' +
			'print(last)\nos.close(fd)',
		[f],
	);
	const lastWriteNs = Number(c.stdout.trim());
	const evs = await l.settle(m);
	const ts = evs.map((e) => e['timestamp'] as number);
	const gaps = ts.slice(1).map((x, i) => Math.round((x - ts[i]!) / 1e6));
	return { f, c, evs, ts, gaps, lastWriteNs };
}

// DESIGN §3: "a file written for a long time yields at most one modify per coalescing window
// while written". The periodic check says so once per window; the close that ends the open
// file is the trailing edge and may follow the last check by less than a window. A check that
// runs between the last write and the close (a slow machine leaves time for one) has reported
// every write already, and the close then has nothing new to report.
e2e('modify: a long-lived writer yields at most one modify per coalescing window', (t) =>
	withLoader(t, { args: ['--coalesce-ms', '1000'] }, async (l) => {
		const { f, c, evs, ts, gaps, lastWriteNs } = await longWriter(l, 3.5);
		t.log('modify gaps (ms):', gaps.join(' '), ' syscalls:', evs.map((e) => e['syscall']).join(' '));
		t.true(evs.length >= 2, `seen while written, not only at close (${evs.length} events)`);
		for (const e of evs) {
			t.like(e, { operation: 'modify', path: f, inode: ino(f), pid: c.pid, uid: 0, euid: 0 });
		}
		const checks = evs.at(-1)!['syscall'] === 'check' ? evs : evs.slice(0, -1);
		t.deepEqual(checks.map((e) => e['syscall']), checks.map(() => 'check'));
		if (checks.length < evs.length) t.is(evs.at(-1)!['syscall'], 'close', 'the end of the open file is reported');
		else t.true(ts.at(-1)! >= lastWriteNs, 'the last check, with no close after it, came after the last write');
		for (const g of gaps.slice(0, checks.length - 1)) {
			t.true(g >= 900, `at most one check modify per 1 s window (gap ${g} ms)`);
		}
	}));

e2e('modify: a long-lived writer is seen within every window, its last writes included', (t) =>
	withLoader(t, { args: ['--coalesce-ms', '1000'] }, async (l) => {
		const { evs, ts, gaps, lastWriteNs } = await longWriter(l, 5);
		t.log('modify gaps (ms):', gaps.join(' '), ' syscalls:', evs.map((e) => e['syscall']).join(' '));
		for (const g of gaps) t.true(g <= 1300, `a modify at least every window while written (gap ${g} ms)`);
		t.true(ts.at(-1)! >= lastWriteNs - 1e6, 'the last writes are covered by a modify at or after them');
	}));

// A write through a shared mapping passes no syscall, but the mapping holds the open file: the
// periodic check sees the change while it lives, after the fd that made it was closed
// (docs/protocol.md, Coalescing).
for (const [fsName, tmpRoot] of [['ext4 or the like (/tmp)', undefined], ['tmpfs (/dev/shm)', '/dev/shm']] as const) {
	e2e(`modify: a write through a shared mapping after its fd was closed, on ${fsName}`, (t) =>
		withLoader(t, { tmpRoot, args: ['--coalesce-ms', '200'] }, async (l) => {
			const f = path.join(l.dir, 'mapped');
			fs.writeFileSync(f, Buffer.alloc(8192));
			const m = await l.settle().then(() => l.mark());
			const code = [
				'import mmap, time',
				'fd = os.open(A[0], os.O_RDWR)',
				'mapping = mmap.mmap(fd, 8192)',
				'os.close(fd)',
				'time.sleep(0.6)', // checks pass with the fd closed and nothing written
				"mapping[0:6] = b'mapped'",
				'time.sleep(1.5)', // and the write is found while the mapping lives (checks every 0.2 s)
				'mapping.close()',
			].join('\n');
			const c = await py(code, [f]);
			assertEvents(t, await l.settle(m), [
				{ operation: 'modify', path: f, inode: ino(f), syscall: 'check', ...whoRoot(c) },
			]);
		}));
}

e2e('delete: unlink, unlinkat and rmdir', (t) =>
	withLoader(t, {}, async (l) => {
		const a = path.join(l.dir, 'a');
		const b = path.join(l.dir, 'b');
		const d = path.join(l.dir, 'd');
		fs.writeFileSync(a, '');
		fs.writeFileSync(b, '');
		fs.mkdirSync(d);
		const m = await l.settle().then(() => l.mark());
		const c1 = await py('libc = ctypes.CDLL(None, use_errno=True)\nassert libc.unlink(A[0]) == 0', [a]);
		const c2 = await run(bin('rm'), [b]); // coreutils rm: unlinkat(AT_FDCWD, ...)
		const c3 = await run(bin('rmdir'), [d]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'delete', path: a, ...NAMED, syscall: 'unlink', ...whoRoot(c1) },
			{ operation: 'delete', path: b, ...NAMED, syscall: 'unlinkat', ...whoRoot(c2) },
			{ operation: 'delete', path: d, file_type: 'dir', inode: null, syscall: 'rmdir', ...whoRoot(c3) },
		]);
	}));

e2e('rename: rename(2) and renameat2(2), over an existing target too', (t) =>
	withLoader(t, {}, async (l) => {
		const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => path.join(l.dir, n)) as [string, string, string, string];
		fs.writeFileSync(a, '');
		fs.writeFileSync(c, '');
		fs.writeFileSync(d, '');
		const m = await l.settle().then(() => l.mark());
		const c1 = await py('libc = ctypes.CDLL(None, use_errno=True)\nassert libc.rename(A[0], A[1]) == 0', [a, b]);
		// mv first tries renameat2(RENAME_NOREPLACE), which fails on the existing d (no event),
		// then replaces d with renameat: still one rename, and no delete for the old d
		const c2 = await run(bin('mv'), [c, d]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'rename', path: b, old_path: a, ...NAMED, syscall: 'rename', ...whoRoot(c1) },
			{ operation: 'rename', path: d, old_path: c, ...NAMED, syscall: 'renameat', ...whoRoot(c2) },
		]);
	}));

e2e('rename: renameat2(RENAME_EXCHANGE) is two rename events', (t) =>
	withLoader(t, {}, async (l) => {
		const x = path.join(l.dir, 'x');
		const y = path.join(l.dir, 'y');
		fs.writeFileSync(x, 'x');
		fs.writeFileSync(y, 'y');
		const m = await l.settle().then(() => l.mark());
		const c = await py(
			'libc = ctypes.CDLL(None, use_errno=True)\nassert libc.renameat2(-100, A[0], -100, A[1], 2) == 0, ctypes.get_errno()',
			[x, y],
		);
		t.is(fs.readFileSync(x, 'utf8'), 'y', 'the names really were swapped');
		assertEvents(t, await l.settle(m), [
			{ operation: 'rename', path: y, old_path: x, syscall: 'renameat2', ...whoRoot(c) },
			{ operation: 'rename', path: x, old_path: y, syscall: 'renameat2', ...whoRoot(c) },
		]);
	}));

// rename(2) between two links of one file, or of a name onto itself, returns 0 and changes
// nothing: an event would tell consumers that the old name is gone. Where the timestamp
// tracepoints show that no ctime changed (6.13+), there is none; elsewhere it is reported.
e2e('rename: between two names of one file it changes nothing, and is not reported (6.13+)', (t) =>
	withLoader(t, {}, async (l) => {
		const a = path.join(l.dir, 'a');
		const b = path.join(l.dir, 'b');
		fs.writeFileSync(a, 'a');
		fs.linkSync(a, b);
		const m = await l.settle().then(() => l.mark());
		const c = await py(
			'os.rename(A[0], A[1])\nos.rename(A[1], A[1])\nos.rename(A[0], A[2])',
			[a, b, path.join(l.dir, 'c')],
		);
		t.true(fs.existsSync(b) && fs.existsSync(path.join(l.dir, 'c')) && !fs.existsSync(a));
		const events = await l.settle(m);
		const real = { operation: 'rename', path: path.join(l.dir, 'c'), old_path: a, ...whoRoot(c) };
		if ((l.hello['hooks'] as string[]).includes('ctime_ns_xchg')) {
			assertEvents(t, events, [real]);
			const stats = await l.command({ cmd: 'stats' }).then(() => l.waitFor((r) => r.type === 'stats', 5000, m));
			t.is(stats['unchanged_renames'], 2);
		} else {
			assertEvents(t, events, [
				{ operation: 'rename', path: b, old_path: a, ...whoRoot(c) },
				{ operation: 'rename', path: b, old_path: b, ...whoRoot(c) },
				real,
			]);
		}
	}));

// The loader reads the records after the calls, when their directory may be gone: here it is
// moved before the loader (stopped meanwhile) reads them.
e2e('rename: between two names of one file, in a directory moved right after, is not reported (6.13+)', (t) =>
	withLoader(t, {}, async (l) => {
		const d = path.join(l.dir, 'd');
		const moved = path.join(l.dir, 'moved');
		fs.mkdirSync(d);
		fs.writeFileSync(path.join(d, 'a'), 'a');
		fs.linkSync(path.join(d, 'a'), path.join(d, 'b'));
		const m = await l.settle().then(() => l.mark());
		l.proc.kill('SIGSTOP');
		let c;
		try {
			c = await py('os.rename(A[0], A[1])\nos.rename(A[1], A[1])\nos.rename(A[2], A[3])', [
				path.join(d, 'a'),
				path.join(d, 'b'),
				d,
				moved,
			]);
		} finally {
			l.proc.kill('SIGCONT');
		}
		const events = await l.settle(m);
		const real = { operation: 'rename', path: moved, old_path: d, ...whoRoot(c) };
		if ((l.hello['hooks'] as string[]).includes('ctime_ns_xchg')) assertEvents(t, events, [real]);
		else t.is(events.length, 3);
	}));

e2e('rename: out of and into the watched tree is one event with both paths', (t) =>
	withLoader(t, {}, async (l) => {
		const inside = path.join(l.dir, 'leaving');
		const outside = path.join(l.sibling, 'left');
		const comer = path.join(l.sibling, 'coming');
		const arrived = path.join(l.dir, 'arrived');
		fs.writeFileSync(inside, '');
		fs.writeFileSync(comer, '');
		const m = await l.settle().then(() => l.mark());
		const c1 = await run(bin('mv'), [inside, outside]);
		const c2 = await run(bin('mv'), [comer, arrived]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'rename', path: outside, old_path: inside, syscall: 'renameat2', ...whoRoot(c1) },
			{ operation: 'rename', path: arrived, old_path: comer, syscall: 'renameat2', ...whoRoot(c2) },
		]);
	}));

e2e('attrib: chmod, chown, by name and by fd', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'perm');
		fs.writeFileSync(f, '');
		const m = await l.settle().then(() => l.mark());
		const c1 = await run(bin('chmod'), ['600', f]);
		const c2 = await run(bin('chown'), ['1000:1000', f]);
		const c3 = await py('fd = os.open(A[0], os.O_RDONLY)\nos.fchmod(fd, 0o640)\nos.fchown(fd, 0, 0)\nos.close(fd)', [f]);
		const i = ino(f);
		assertEvents(t, await l.settle(m), [
			{ operation: 'attrib', path: f, ...NAMED, syscall: 'fchmodat', ...whoRoot(c1) },
			{ operation: 'attrib', path: f, ...NAMED, syscall: 'fchownat', ...whoRoot(c2) },
			{ operation: 'attrib', path: f, file_type: 'file', inode: i, syscall: 'fchmod', ...whoRoot(c3) },
			{ operation: 'attrib', path: f, file_type: 'file', inode: i, syscall: 'fchown', ...whoRoot(c3) },
		]);
		t.is(fs.statSync(f).mode & 0o777, 0o640);
	}));

// /tmp is the default root: user.* xattrs need a file system that takes them (ext4 here).
e2e('attrib: setxattr / removexattr by name and by fd (user.* xattr)', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'xattr');
		fs.writeFileSync(f, '');
		const m = await l.settle().then(() => l.mark());
		const c = await py(
			[
				'os.setxattr(A[0], "user.fim", b"1")',
				'os.removexattr(A[0], "user.fim")',
				'fd = os.open(A[0], os.O_RDONLY)',
				'os.setxattr(fd, "user.fim", b"2")',
				'os.removexattr(fd, "user.fim")',
				'os.close(fd)',
			].join('\n'),
			[f],
		);
		const i = ino(f);
		assertEvents(t, await l.settle(m), [
			{ operation: 'attrib', path: f, ...NAMED, syscall: 'setxattr', ...whoRoot(c) },
			{ operation: 'attrib', path: f, ...NAMED, syscall: 'removexattr', ...whoRoot(c) },
			{ operation: 'attrib', path: f, inode: i, syscall: 'fsetxattr', ...whoRoot(c) },
			{ operation: 'attrib', path: f, inode: i, syscall: 'fremovexattr', ...whoRoot(c) },
		]);
	}));

e2e('attrib: utimes with explicit times, by name and by fd; a failed call is no event', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'times');
		fs.writeFileSync(f, '');
		const m = await l.settle().then(() => l.mark());
		const c = await py(
			[
				'os.utime(A[0], (1577836800, 1577836800))',
				'fd = os.open(A[0], os.O_RDONLY)',
				'os.utime(fd, (1577836801, 1577836801))',
				'os.close(fd)',
				'try: os.utime(A[0] + b".missing", (1, 1))',
				'except FileNotFoundError: pass',
			].join('\n'),
			[f],
		);
		assertEvents(t, await l.settle(m), [
			{ operation: 'attrib', path: f, ...NAMED, syscall: 'utimensat', ...whoRoot(c) },
			{ operation: 'attrib', path: f, inode: ino(f), syscall: 'utimensat', ...whoRoot(c) },
		]);
		t.is(fs.statSync(f).mtimeMs, 1577836801000);
	}));

// touch -d opens the file O_WRONLY|O_CREAT and sets the times through that fd; nothing is
// written, so the change is the attrib alone, not also a modify at close.
e2e('attrib: touch -d on an existing file is one attrib, no modify', (t) =>
	withLoader(t, { args: ['--coalesce-ms', '50'] }, async (l) => {
		const f = path.join(l.dir, 'touched');
		fs.writeFileSync(f, 'content');
		const m = await l.settle().then(() => l.mark());
		await new Promise((r) => setTimeout(r, 300));
		const c = await run(bin('touch'), ['-d', '2020-01-01 00:00:00', f]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'attrib', path: f, inode: ino(f), syscall: 'utimensat', ...whoRoot(c) },
		]);
	}));

e2e('failed calls are no event', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'exists');
		fs.writeFileSync(f, '');
		const m = await l.settle().then(() => l.mark());
		const missing = path.join(l.dir, 'missing');
		await run(bin('rm'), [missing], { allowFail: true });
		await run(bin('mkdir'), [f], { allowFail: true });
		await run(bin('mv'), [missing, f], { allowFail: true });
		await run(bin('chmod'), ['600', missing], { allowFail: true });
		await py('try: os.open(A[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY)\nexcept FileExistsError: pass', [f]);
		assertEvents(t, await l.settle(m), []);
	}));
