// What everyday tools look like through the sensor: the sequence a user sees for an in-place
// edit, a copy, an archive extraction and the two log rotation styles. Each test logs the
// observed sequence (t.log) so docs/protocol.md can quote it.
import fs from 'node:fs';
import path from 'node:path';
import { assertEvents, bin, brief, e2e, ino, run, whoRoot, withLoader, type FimEvent } from './harness.js';

function show(t: { log: (...a: unknown[]) => void }, base: string, evs: FimEvent[]) {
	t.log('\n' + evs.map((e) => brief(e).split(base).join('')).join('\n'));
}

e2e('sed -i: temp file added, its attributes set, written, renamed over the original', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'conf');
		fs.writeFileSync(f, 'a=1\nb=2\n');
		const m = await l.settle().then(() => l.mark());
		const c = await run(bin('sed'), ['-i', 's/a=1/a=9/', f]);
		t.is(fs.readFileSync(f, 'utf8'), 'a=9\nb=2\n');
		const evs = await l.settle(m);
		show(t, l.base, evs);
		const tmp = evs[0]?.path ?? '';
		t.regex(path.basename(tmp), /^sed[A-Za-z0-9]{6}$/, 'sed writes a temp file beside the original');
		t.is(path.dirname(tmp), l.dir);
		// add of the temp, attribs copied from the original, one modify when the written temp
		// is closed, then the rename that replaces the file: the original is never modified
		// in place
		t.like(evs[0], { operation: 'add', file_type: 'file', syscall: 'openat', ...whoRoot(c) });
		const middle = evs.slice(1, -1);
		for (const e of middle) t.like(e, { path: tmp, ...whoRoot(c) });
		t.deepEqual([...new Set(middle.map((e) => e.operation))].sort(), ['attrib', 'modify']);
		t.deepEqual(middle.filter((e) => e.operation === 'modify').map((e) => e['syscall']), ['close']);
		t.like(evs.at(-1), { operation: 'rename', path: f, old_path: tmp, ...whoRoot(c) });
		t.false(evs.some((e) => e.operation === 'delete' || (e.operation === 'modify' && e.path === f)));
	}));

e2e('cp: to a new file is an add then a modify at close; over an existing file one modify', (t) =>
	withLoader(t, {}, async (l) => {
		const src = path.join(l.sibling, 'src'); // unwatched source: only the copy is seen
		fs.writeFileSync(src, 'payload\n'.repeat(100));
		const dst = path.join(l.dir, 'copy');
		const m = l.mark();
		const c1 = await run(bin('cp'), [src, dst]);
		const i = ino(dst);
		const c2 = await run(bin('cp'), [src, dst]);
		const evs = await l.settle(m);
		show(t, l.base, evs);
		assertEvents(t, evs, [
			{ operation: 'add', path: dst, inode: i, syscall: 'openat', ...whoRoot(c1) },
			{ operation: 'modify', path: dst, inode: i, syscall: 'close', ...whoRoot(c1) },
			{ operation: 'modify', path: dst, inode: i, syscall: 'close', ...whoRoot(c2) },
		]);
	}));

e2e('tar x: an add per entry, a modify per file with content, the attributes tar restores; no delete', (t) =>
	withLoader(t, {}, async (l) => {
		const src = path.join(l.sibling, 'src');
		fs.mkdirSync(path.join(src, 'sub', 'deeper'), { recursive: true });
		fs.writeFileSync(path.join(src, 'one'), '1');
		fs.writeFileSync(path.join(src, 'sub', 'two'), '2');
		fs.writeFileSync(path.join(src, 'sub', 'deeper', 'three'), '3');
		fs.symlinkSync('one', path.join(src, 'link'));
		const tarball = path.join(l.sibling, 'a.tar');
		await run(bin('tar'), ['cf', tarball, '-C', src, 'one', 'link', 'sub']);
		const out = path.join(l.dir, 'x');
		fs.mkdirSync(out);
		const m = await l.settle().then(() => l.mark());
		const c = await run(bin('tar'), ['xf', tarball, '-C', out]);
		const evs = await l.settle(m);
		show(t, l.base, evs);
		for (const e of evs) t.like(e, whoRoot(c));
		const added = evs.filter((e) => e.operation === 'add').map((e) => path.relative(out, e.path));
		t.deepEqual(added.sort(), ['link', 'one', 'sub', 'sub/deeper', 'sub/deeper/three', 'sub/two']);
		t.deepEqual([...new Set(evs.map((e) => e.operation))].sort(), ['add', 'attrib', 'modify']);
		// the content of each regular file is one modify, after its add; tar sets the times
		// with futimens before closing, so the write is found by the check that precedes it
		const modified = evs.filter((e) => e.operation === 'modify').map((e) => path.relative(out, e.path));
		t.deepEqual(modified.sort(), ['one', 'sub/deeper/three', 'sub/two']);
		// every entry is added before any attrib on it
		for (const e of evs.filter((x) => x.operation !== 'add')) {
			const firstAdd = evs.findIndex((x) => x.operation === 'add' && x.path === e.path);
			t.true(firstAdd >= 0 && firstAdd < evs.indexOf(e), `add before ${e.operation} for ${e.path}`);
		}
		const fileTypes = Object.fromEntries(evs.filter((e) => e.operation === 'add').map((e) => [path.relative(out, e.path), e['file_type']]));
		t.like(fileTypes, { one: 'file', 'sub/two': 'file', sub: 'dir', link: 'symlink' });
	}));

e2e('logrotate-style: rename to .1, create a new file, set its mode', (t) =>
	withLoader(t, {}, async (l) => {
		const log = path.join(l.dir, 'app.log');
		fs.writeFileSync(log, 'old lines\n');
		const m = await l.settle().then(() => l.mark());
		const c1 = await run(bin('mv'), [log, log + '.1']);
		const c2 = await run(bin('sh'), ['-c', ': > "$0" && exec chmod 640 "$0"', log], { comm: bin('chmod') });
		const evs = await l.settle(m);
		show(t, l.base, evs);
		// the ": >" redirection is made by the shell itself, which then becomes chmod: one pid
		const shell = { ...whoRoot(c2), process_name: 'sh', exe: fs.realpathSync(bin('sh')) };
		assertEvents(t, evs, [
			{ operation: 'rename', path: log + '.1', old_path: log, ...whoRoot(c1) },
			{ operation: 'add', path: log, file_type: 'file', ...shell },
			{ operation: 'attrib', path: log, ...whoRoot(c2) },
		]);
	}));

e2e('copytruncate: cp f f.1 && truncate -s0 f, then : > f', (t) =>
	withLoader(t, {}, async (l) => {
		const log = path.join(l.dir, 'app.log');
		fs.writeFileSync(log, 'lines\n'.repeat(50));
		const m = await l.settle().then(() => l.mark());
		const c1 = await run(bin('cp'), [log, log + '.1']);
		const c2 = await run(bin('truncate'), ['-s0', log]);
		fs.writeFileSync(log, 'new line\n'); // the application keeps logging (test process)
		const m2 = await l.settle().then(() => l.mark());
		const c3 = await run(bin('sh'), ['-c', ': > "$0"', log]);
		const evs = await l.settle(m);
		show(t, l.base, evs);
		assertEvents(t, evs.slice(0, 3), [
			{ operation: 'add', path: log + '.1', syscall: 'openat', ...whoRoot(c1) },
			{ operation: 'modify', path: log + '.1', syscall: 'close', ...whoRoot(c1) },
			{ operation: 'modify', path: log, inode: ino(log), syscall: 'ftruncate', ...whoRoot(c2) },
		]);
		assertEvents(t, l.eventsSince(m2), [
			{ operation: 'modify', path: log, inode: ino(log), syscall: 'close', ...whoRoot(c3) },
		]);
	}));
