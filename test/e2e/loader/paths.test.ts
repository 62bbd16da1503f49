// Every way of naming a file ends up as its canonical absolute path, as valid JSON, whatever
// bytes the name holds.
import fs from 'node:fs';
import path from 'node:path';
import { assertEvents, bin, e2e, ino, py, run, whoRoot, withLoader } from './harness.js';

e2e('relative paths: cd dir && mv a b', (t) =>
	withLoader(t, {}, async (l) => {
		fs.writeFileSync(path.join(l.dir, 'a'), '');
		const m = await l.settle().then(() => l.mark());
		const c = await run(bin('sh'), ['-c', 'cd "$0" && exec mv a b', l.dir], { comm: bin('mv') });
		assertEvents(t, await l.settle(m), [
			{ operation: 'rename', path: path.join(l.dir, 'b'), old_path: path.join(l.dir, 'a'), ...whoRoot(c) },
		]);
	}));

e2e('dirfd-relative calls (openat, mkdirat, renameat, unlinkat with a dir fd)', (t) =>
	withLoader(t, {}, async (l) => {
		const d1 = path.join(l.dir, 'd1');
		const d2 = path.join(l.dir, 'd2');
		fs.mkdirSync(d1);
		fs.mkdirSync(d2);
		const m = await l.settle().then(() => l.mark());
		// cwd is / so a dirfd ignored by the sensor would give wrong paths
		const c = await py(
			[
				'a = os.open(A[0], os.O_RDONLY | os.O_DIRECTORY)',
				'b = os.open(A[1], os.O_RDONLY | os.O_DIRECTORY)',
				'os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=a))',
				'os.mkdir("sub", dir_fd=a)',
				'os.rename("f", "g", src_dir_fd=a, dst_dir_fd=b)',
				'os.unlink("g", dir_fd=b)',
				'os.rmdir("sub", dir_fd=a)',
			].join('\n'),
			[d1, d2],
		);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: path.join(d1, 'f'), syscall: 'openat', ...whoRoot(c) },
			{ operation: 'add', path: path.join(d1, 'sub'), syscall: 'mkdirat', ...whoRoot(c) },
			{ operation: 'rename', path: path.join(d2, 'g'), old_path: path.join(d1, 'f'), syscall: 'renameat', ...whoRoot(c) },
			{ operation: 'delete', path: path.join(d2, 'g'), syscall: 'unlinkat', ...whoRoot(c) },
			{ operation: 'delete', path: path.join(d1, 'sub'), syscall: 'unlinkat', ...whoRoot(c) },
		]);
	}));

e2e('.. components: cd sub && touch ../x, and name-based calls through ..', (t) =>
	withLoader(t, {}, async (l) => {
		const sub = path.join(l.dir, 'sub');
		fs.mkdirSync(sub);
		const m = await l.settle().then(() => l.mark());
		const c1 = await run(bin('sh'), ['-c', 'cd "$0" && exec touch ../x', sub], { comm: bin('touch') });
		const c2 = await run(bin('sh'), ['-c', 'cd "$0" && exec mv ../x ../y', sub], { comm: bin('mv') });
		// from the unwatched sibling into the watched tree: the lexical path does not start with it
		const c3 = await run(bin('sh'), ['-c', 'cd "$0" && exec mkdir ../w/m', l.sibling], { comm: bin('mkdir') });
		const c4 = await run(bin('sh'), ['-c', 'cd "$0" && exec rm ../../w/y', sub], { comm: bin('rm') });
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: path.join(l.dir, 'x'), ...whoRoot(c1) },
			{ operation: 'rename', path: path.join(l.dir, 'y'), old_path: path.join(l.dir, 'x'), ...whoRoot(c2) },
			{ operation: 'add', path: path.join(l.dir, 'm'), ...whoRoot(c3) },
			{ operation: 'delete', path: path.join(l.dir, 'y'), ...whoRoot(c4) },
		]);
	}));

// The cwd (or dirfd) of a relative name is read when the rename begins: read at its end, it
// would be where the rename moved it.
e2e('a rename by relative names that moves the caller\'s own cwd: the paths as they were', (t) =>
	withLoader(t, {}, async (l) => {
		fs.mkdirSync(path.join(l.dir, 'a', 'b'), { recursive: true });
		fs.mkdirSync(path.join(l.dir, 'x'));
		const m = await l.settle().then(() => l.mark());
		const c = await run(bin('sh'), ['-c', 'cd "$0/a/b" && exec mv ../../a ../../x/a', l.dir], { comm: bin('mv') });
		const events = await l.settle(m);
		if ((l.hello['hooks'] as string[]).includes('sys_enter_renameat2')) {
			assertEvents(t, events, [
				{ operation: 'rename', path: path.join(l.dir, 'x', 'a'), old_path: path.join(l.dir, 'a'), ...whoRoot(c) },
			]);
		} else {
			// the compatible object: the documented limit (docs/protocol.md, Paths)
			assertEvents(t, events, [{ operation: 'rename', ...whoRoot(c) }]);
		}
		t.true(fs.existsSync(path.join(l.dir, 'x', 'a', 'b')));
	}));

e2e('.. leaving the watched tree is not reported as a change inside it', (t) =>
	withLoader(t, {}, async (l) => {
		const sub = path.join(l.dir, 'sub');
		fs.mkdirSync(sub);
		const m = await l.settle().then(() => l.mark());
		// the lexical paths start with the watched prefix, the files land in the unwatched sibling
		const script = 'cd "$0" && mkdir ../../sibling/x && touch ../../sibling/y && mv ../../sibling/y ../../sibling/z && rm ../../sibling/z && rmdir ../../sibling/x';
		await run(bin('sh'), ['-c', script, sub]);
		assertEvents(t, await l.settle(m), []);
	}));

e2e('a file created through an fd under a symlinked parent is reported under the canonical path', (t) =>
	withLoader(t, {}, async (l) => {
		const link = path.join(l.base, 'link'); // outside the watched tree, pointing into it
		fs.symlinkSync(l.dir, link);
		const m = l.mark();
		const c = await run(bin('touch'), [path.join(link, 'f')]);
		const f = path.join(l.dir, 'f');
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: f, inode: ino(f), ...whoRoot(c) }]);
	}));

// The kernel sees the caller's string; the timestamp tracepoints name the real parent
// directory, and the loader makes the path canonical.
e2e('name-based calls under a symlinked parent are reported under the canonical path', (t) =>
	withLoader(t, {}, async (l) => {
		const link = path.join(l.base, 'link');
		fs.symlinkSync(l.dir, link);
		fs.writeFileSync(path.join(l.dir, 'f'), '');
		const m = await l.settle().then(() => l.mark());
		const c1 = await run(bin('mkdir'), [path.join(link, 'm')]);
		const c2 = await run(bin('mv'), [path.join(link, 'f'), path.join(link, 'g')]);
		const c3 = await run(bin('chmod'), ['600', path.join(link, 'g')]);
		const c4 = await run(bin('rm'), [path.join(link, 'g')]);
		const w = l.dir;
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: path.join(w, 'm'), ...whoRoot(c1) },
			{ operation: 'rename', path: path.join(w, 'g'), old_path: path.join(w, 'f'), ...whoRoot(c2) },
			{ operation: 'attrib', path: path.join(w, 'g'), ...whoRoot(c3) },
			{ operation: 'delete', path: path.join(w, 'g'), ...whoRoot(c4) },
		]);
	}));

// The loader resolves a name-based path's parent when it reads the event, with a small cache of
// recent answers. A parent that no longer resolves (its symlink went away) must leave the cache
// as it was: it once left part of a path in the slot of another directory, which the next event
// in that directory then got.
e2e('a parent that no longer resolves when the loader reads the event does not garble later paths', (t) =>
	withLoader(t, {}, async (l) => {
		const dirs = Array.from({ length: 8 }, (_, i) => path.join(l.dir, `p${i}`));
		for (const d of dirs) {
			fs.mkdirSync(d);
			fs.writeFileSync(path.join(d, 'f'), '');
		}
		fs.mkdirSync(path.join(l.dir, 'real'));
		fs.writeFileSync(path.join(l.dir, 'real', 'g'), '');
		fs.symlinkSync('real', path.join(l.dir, 's'));
		const m = await l.settle().then(() => l.mark());
		// Read all at once, after the symlink is gone: as many parents as the cache has slots,
		// the one that no longer resolves, then the first one again.
		process.kill(l.proc.pid!, 'SIGSTOP');
		try {
			await py(
				[
					'for d in A[:8]: os.chmod(os.path.join(d, b"f"), 0o600)',
					'os.chmod(os.path.join(A[8], b"s", b"g"), 0o600)',
					'os.unlink(os.path.join(A[8], b"s"))',
					'os.chmod(os.path.join(A[0], b"f"), 0o644)',
				].join('\n'),
				[...dirs, l.dir],
			);
		} finally {
			process.kill(l.proc.pid!, 'SIGCONT');
		}
		const events = await l.settle(m);
		t.is(events.length, 11, events.map((e) => `${String(e.operation)} ${String(e.path)}`).join('\n'));
		t.deepEqual(
			events.filter((e) => e.operation === 'attrib' && e.path !== path.join(l.dir, 's', 'g')).map((e) => e.path),
			[...dirs, dirs[0]!].map((d) => path.join(d, 'f')),
		);
	}));

e2e('a symlink inside the watched tree that points out of it does not make outside changes look watched', (t) =>
	withLoader(t, {}, async (l) => {
		const out = path.join(l.dir, 'out');
		fs.symlinkSync(l.sibling, out);
		const m = await l.settle().then(() => l.mark());
		await run(bin('mkdir'), [path.join(out, 'x')]);
		await run(bin('touch'), [path.join(out, 'y')]);
		await run(bin('mv'), [path.join(out, 'y'), path.join(out, 'z')]);
		await run(bin('rm'), [path.join(out, 'z')]);
		assertEvents(t, await l.settle(m), []);
		t.true(fs.existsSync(path.join(l.sibling, 'x')), 'the changes happened, outside the watched tree');
	}));

e2e('a path 40 directories deep', (t) =>
	withLoader(t, {}, async (l) => {
		const parts = Array.from({ length: 40 }, (_, i) => `level-${String(i + 1).padStart(2, '0')}-dir`);
		const deep = path.join(l.dir, ...parts);
		fs.mkdirSync(deep, { recursive: true });
		const m = await l.settle().then(() => l.mark());
		const f = path.join(deep, 'leaf');
		const c1 = await run(bin('touch'), [f]);
		const i = ino(f);
		const c2 = await run(bin('sh'), ['-c', 'cd "$0" && exec mv leaf leaf2', deep], { comm: bin('mv') });
		const c3 = await run(bin('rm'), [path.join(deep, 'leaf2')]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: f, inode: i, ...whoRoot(c1) },
			{ operation: 'rename', path: f + '2', old_path: f, ...whoRoot(c2) },
			{ operation: 'delete', path: f + '2', ...whoRoot(c3) },
		]);
		for (const e of l.events()) t.false('truncated' in e, 'a 40-deep path is not truncated');
	}));

const HOSTILE: Array<[string, Buffer]> = [
	['newline', Buffer.from('new\nline')],
	['quote', Buffer.from('say "hi"')],
	['backslash', Buffer.from('back\\slash\\')],
	['control bytes', Buffer.from([0x63, 0x01, 0x08, 0x09, 0x1b, 0x1f, 0x7f, 0x63])],
	['invalid UTF-8', Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2d, 0xc3, 0x28, 0x2d, 0xe2, 0x82])],
	['valid UTF-8 and JSON-looking', Buffer.from('名前 é ✓ {"type":"event"}')],
];

/** The exact bytes a record's path field names: path_b64 when present, else path. */
function pathBytes(e: Record<string, unknown>, field: 'path' | 'old_path'): Buffer {
	const b64 = e[`${field}_b64`];
	return typeof b64 === 'string' ? Buffer.from(b64, 'base64') : Buffer.from(e[field] as string, 'utf8');
}

for (const [label, name] of HOSTILE)
	e2e(`a file name with ${label} round-trips exactly, as valid JSON`, (t) =>
		withLoader(t, {}, async (l) => {
			const dir = Buffer.from(l.dir + '/');
			const a = Buffer.concat([dir, name]);
			const b = Buffer.concat([dir, name, Buffer.from('.2')]);
			const m = l.mark();
			// names travel as hex: argv cannot carry arbitrary bytes through JSON-free tooling
			const c = await py(
				[
					'a, b = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])',
					'os.close(os.open(a, os.O_CREAT | os.O_WRONLY, 0o644))',
					'os.rename(a, b)',
					'os.unlink(b)',
				].join('\n'),
				[a.toString('hex'), b.toString('hex')],
			);
			const evs = await l.settle(m);
			assertEvents(
				t,
				evs.map((e) => ({ ...e, path: pathBytes(e, 'path').toString('hex'), old_path: e.old_path && pathBytes(e, 'old_path').toString('hex') })),
				[
					{ operation: 'add', path: a.toString('hex'), old_path: null, ...whoRoot(c) },
					{ operation: 'rename', path: b.toString('hex'), old_path: a.toString('hex'), ...whoRoot(c) },
					{ operation: 'delete', path: b.toString('hex'), old_path: null, ...whoRoot(c) },
				],
			);
			const valid = Buffer.from(name.toString('utf8'), 'utf8').equals(name);
			for (const e of evs) {
				// the string field is always the UTF-8 view; the b64 sibling only when it is lossy
				t.is('path_b64' in e, !valid, `path_b64 present only for invalid UTF-8: ${JSON.stringify(e)}`);
				if (!valid) t.true(e.path.includes('\uFFFD'));
				else t.is(e.path, (e.operation === 'add' ? a : b).toString('utf8'));
			}
		}));

e2e('on a tmpfs: add, modify, rename, attrib, delete', (t) =>
	withLoader(t, { tmpRoot: '/dev/shm' }, async (l) => {
		const fstype = fs
			.readFileSync('/proc/mounts', 'utf8')
			.split('\n')
			.map((x) => x.split(' '))
			.filter((x) => x[1] && (l.base + '/').startsWith(x[1] === '/' ? '/' : x[1] + '/'))
			.sort((x, y) => y[1]!.length - x[1]!.length)[0]?.[2];
		t.is(fstype, 'tmpfs', 'the tree really is on a tmpfs');
		const f = path.join(l.dir, 'f');
		const g = path.join(l.dir, 'g');
		const m = l.mark();
		const c1 = await py('os.close(os.open(A[0], os.O_CREAT | os.O_WRONLY, 0o644))', [f]);
		const i = ino(f);
		const c2 = await py('fd = os.open(A[0], os.O_WRONLY)\nos.write(fd, b"x")\nos.close(fd)', [f]);
		const c3 = await run(bin('mv'), [f, g]);
		const c4 = await run(bin('chmod'), ['600', g]);
		const c5 = await run(bin('rm'), [g]);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: f, inode: i, ...whoRoot(c1) },
			{ operation: 'modify', path: f, inode: i, ...whoRoot(c2) },
			{ operation: 'rename', path: g, old_path: f, ...whoRoot(c3) },
			{ operation: 'attrib', path: g, ...whoRoot(c4) },
			{ operation: 'delete', path: g, ...whoRoot(c5) },
		]);
	}));
