import {execFileSync} from 'node:child_process';
import {chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {systemClock} from '../../supervisor/src/clock.js';
import {Baseline, byteString, deviceName, reconcileRecord} from '../../supervisor/src/reconcile.js';
import {baselineFileName, StateStore, statPath} from '../../supervisor/src/state-store.js';
import type {FileType, KernelEventFields, ReconcileEvent} from '../../supervisor/src/types.js';
import {temporaryDirectory} from './helpers.js';

type Found = {event: ReconcileEvent; json: string};

function setup(slackNs?: bigint): {root: string; state: string; store: StateStore; baseline: Baseline; found: Found[]} {
	const root = temporaryDirectory('fim-reconcile-');
	const state = temporaryDirectory('fim-state-');
	const {store} = StateStore.open(state);
	const found: Found[] = [];
	const baseline = new Baseline({store, clock: systemClock, scanRate: 0, deliver: events => found.push(...events), progress() {}, slackNs});
	return {root, state, store, baseline, found};
}

function kernelEvent(operation: KernelEventFields['operation'], path: string, timestampMs: number, oldPath?: string): KernelEventFields {
	return {
		timestamp: timestampMs * 1e6, operation, path, old_path: oldPath ?? null, file_type: null, inode: null, dev: null,
		pid: 1, tid: 1, ppid: 0, uid: 0, gid: 0, euid: 0, egid: 0, auid: null, session_id: null,
		process_name: 'test', exe: null, syscall: 'test', cgroup_id: 0, source: 'kernel',
	};
}

function summary(found: Found[]): string[] {
	return found.map(({event}) => `${event.operation} ${event.path.replace(/^.*fim-reconcile-[^/]+/, '')} ${event.changed.join(',')}`.trim()).sort();
}

test('the first scan of a path is a silent baseline; the next reports each kind of change', async t => {
	const {root, store, baseline, found} = setup();
	writeFileSync(join(root, 'kept'), 'same');
	writeFileSync(join(root, 'grows'), 'a');
	writeFileSync(join(root, 'mode'), 'm');
	writeFileSync(join(root, 'hidden'), 'aaaa');
	mkdirSync(join(root, 'tree/deep'), {recursive: true});
	writeFileSync(join(root, 'tree/deep/leaf'), 'x');
	const first = await baseline.reconcile([root], 'start');
	t.deepEqual(found, []);
	t.deepEqual(first.newRoots, [root]);
	t.is(store.fileCount, 8, 'the watched directory and everything in it');
	t.is(first.scanned, 8, 'every entry compared is counted, the watched directory too');

	writeFileSync(join(root, 'grows'), 'abc');
	chmodSync(join(root, 'mode'), 0o600);
	// Same size, and the mtime put back to the nanosecond (touch -r): only ctime tells.
	const reference = join(temporaryDirectory(), 'reference');
	writeFileSync(reference, '');
	execFileSync('touch', ['-r', join(root, 'hidden'), reference]);
	await new Promise(resolve => {
		setTimeout(resolve, 20);
	});
	writeFileSync(join(root, 'hidden'), 'bbbb');
	execFileSync('touch', ['-r', reference, join(root, 'hidden')]);
	writeFileSync(join(root, 'new'), 'n');
	rmSync(join(root, 'tree'), {recursive: true});
	const second = await baseline.reconcile([root], 'start');
	t.deepEqual(summary(found), [
		'add /new',
		'attrib /mode mode,ctime',
		'delete /tree',
		'delete /tree/deep',
		'delete /tree/deep/leaf',
		'modify /grows size,mtime,ctime',
		'modify /hidden ctime',
	]);
	t.deepEqual(second.newRoots, []);
	t.is(second.changes, 7);
	const add = found.find(({event}) => event.operation === 'add')!;
	t.like(add.event, {source: 'reconcile', pid: null, uid: null, process_name: null, exe: null, syscall: null, file_type: 'file', dev: deviceName(BigInt(statSync(join(root, 'new')).dev))});
	const line = JSON.parse(add.json) as Record<string, unknown>;
	t.is(line['path'], join(root, 'new'));
	t.regex(add.json, /^\{"timestamp":\d{19},"operation":"add"/);
	const deleted = found.find(({event}) => event.path.endsWith('/leaf'))!;
	t.is(deleted.event.file_type, 'file', 'a delete says what the baseline knew');

	found.length = 0;
	await baseline.reconcile([root], 'start');
	t.deepEqual(found, [], 'nothing twice');
});

test('a live event stores the state it explains, not a later one', async t => {
	const {root, baseline, found} = setup(0n);
	writeFileSync(join(root, 'a'), '1');
	writeFileSync(join(root, 'b'), '1');
	await baseline.reconcile([root], 'start');
	await new Promise(resolve => {
		setTimeout(resolve, 20);
	});
	const before = Date.now();
	writeFileSync(join(root, 'a'), '22');
	writeFileSync(join(root, 'b'), '22');
	// a's event is after its change: stored. b's event is from before its last change (as if
	// the event of that change were lost): b keeps its old state and shows as a difference.
	baseline.note(kernelEvent('modify', join(root, 'a'), Date.now() + 5));
	baseline.note(kernelEvent('modify', join(root, 'b'), before - 10));
	baseline.flush();
	await baseline.reconcile([root], 'loss');
	t.deepEqual(summary(found), ['modify /b size,mtime,ctime']);
});

test('between batches, a path first noted since the last flush waits for the next one', async t => {
	const {root, store, baseline} = setup();
	await baseline.reconcile([root], 'start');
	const kept = join(root, 'kept');
	const temporary = join(root, 'temporary');
	writeFileSync(kept, 'k');
	writeFileSync(temporary, 't');
	baseline.note(kernelEvent('add', kept, Date.now()));
	baseline.note(kernelEvent('add', temporary, Date.now()));
	t.is(baseline.notedSinceFlush, 2);
	baseline.flush(true);
	t.is(baseline.notedSinceFlush, 0);
	t.is(store.get(kept), undefined, 'not lstat\'ed yet: its delete may be in the next batch');
	// the next batch: the temporary file goes, and is never stored
	unlinkSync(temporary);
	baseline.note(kernelEvent('delete', temporary, Date.now()));
	baseline.flush(true);
	t.like(store.get(kept), {size: 1n});
	t.is(store.get(temporary), undefined);
	// a flush before a scan (or the last one) waits for nothing
	const late = join(root, 'late');
	writeFileSync(late, 'late');
	baseline.note(kernelEvent('add', late, Date.now()));
	baseline.flush();
	t.like(store.get(late), {size: 4n});
});

test('a path that vanished is forgotten only when its event was a delete', async t => {
	const {root, baseline, found} = setup();
	for (const name of ['deleted', 'modified-then-gone']) {
		writeFileSync(join(root, name), 'x');
	}

	await baseline.reconcile([root], 'start');
	unlinkSync(join(root, 'deleted'));
	unlinkSync(join(root, 'modified-then-gone'));
	baseline.note(kernelEvent('delete', join(root, 'deleted'), Date.now()));
	baseline.note(kernelEvent('modify', join(root, 'modified-then-gone'), Date.now()));
	baseline.flush();
	await baseline.reconcile([root], 'loss');
	t.deepEqual(summary(found), ['delete /modified-then-gone']);
});

test('a path whose latest event says it is gone leaves the baseline, even if it is back on disk', async t => {
	const {root, store, baseline, found} = setup();
	writeFileSync(join(root, 'deleted'), 'x');
	writeFileSync(join(root, 'renamed'), 'x');
	await baseline.reconcile([root], 'start');
	// Both come back right after their events, as if the events of that were lost: the baseline
	// keeps what the reported events explain (nothing there), and the scan reports the files.
	unlinkSync(join(root, 'deleted'));
	baseline.note(kernelEvent('delete', join(root, 'deleted'), Date.now()));
	renameSync(join(root, 'renamed'), join(root, 'moved'));
	baseline.note(kernelEvent('rename', join(root, 'moved'), Date.now(), join(root, 'renamed')));
	writeFileSync(join(root, 'deleted'), 'back');
	writeFileSync(join(root, 'renamed'), 'back');
	baseline.flush();
	t.is(store.get(byteString(join(root, 'deleted'))), undefined);
	t.is(store.get(byteString(join(root, 'renamed'))), undefined);
	t.truthy(store.get(byteString(join(root, 'moved'))));
	await baseline.reconcile([root], 'loss');
	t.deepEqual(summary(found), ['add /deleted', 'add /renamed']);
});

test('forgetting a path takes its subtree and leaves its neighbours, whatever their bytes', t => {
	const {root, store} = setup();
	const state = statPath(root)!;
	const neighbours = ['/w/a.r', '/w/a-', '/w/ab', '/w/a0', '/w/b', '/w/\u00e9/x', '/w/a\u00e9', '/'];
	const below = ['/w/a/x', '/w/a/x/y', '/w/a/\u00ff'];
	for (const path of ['/w/a', ...below, ...neighbours]) {
		store.put(path, state);
	}

	store.remove('/w/a');
	t.is(store.get('/w/a'), undefined);
	t.deepEqual(below.map(path => store.get(path)), below.map(() => undefined));
	t.deepEqual(neighbours.filter(path => store.get(path) === undefined), []);
	store.remove('/w/\u00e9/');
	t.is(store.get('/w/\u00e9/x'), undefined, 'a trailing slash names the same subtree');
	t.truthy(store.get('/w/a\u00e9'));
	t.is(store.fileCount, neighbours.length - 1);
});

test('a renamed directory carries its subtree in the baseline, pending notes included', async t => {
	const {root, store, baseline, found} = setup();
	mkdirSync(join(root, 'old/inner'), {recursive: true});
	writeFileSync(join(root, 'old/inner/f'), 'x');
	await baseline.reconcile([root], 'start');
	writeFileSync(join(root, 'old/inner/g'), 'y');
	baseline.note(kernelEvent('add', join(root, 'old/inner/g'), Date.now() + 5));
	renameSync(join(root, 'old'), join(root, 'new'));
	baseline.note(kernelEvent('rename', join(root, 'new'), Date.now() + 5, join(root, 'old')));
	baseline.flush();
	t.truthy(store.get(byteString(join(root, 'new/inner/f'))));
	t.truthy(store.get(byteString(join(root, 'new/inner/g'))));
	t.is(store.get(byteString(join(root, 'old/inner/f'))), undefined);
	t.is(store.children(byteString(join(root, 'new/inner'))).length, 2);
	const odd = byteString('', Buffer.from([0x2F, 0x78, 0xFF]).toString('base64'));
	t.is(odd, '/x\u00FF');
	await baseline.reconcile([root], 'restart');
	t.deepEqual(summary(found), []);
});

/** Counts the store's renames and removals (the flush's statements for paths that are gone). */
function countWrites(store: StateStore): {moves: string[]; removes: string[]} {
	const calls = {moves: [] as string[], removes: [] as string[]};
	const {move, remove} = store;
	store.move = (from, to) => {
		calls.moves.push(`${from} -> ${to}`);
		move.call(store, from, to);
	};

	store.remove = path => {
		calls.removes.push(path);
		remove.call(store, path);
	};

	return calls;
}

function made(path: string, timestampMs: number, fileType: FileType): KernelEventFields {
	return {...kernelEvent('add', path, timestampMs), file_type: fileType};
}

test('a file made, renamed and deleted between two flushes costs the store only the last name', async t => {
	const {root, store, baseline, found} = setup();
	await baseline.reconcile([root], 'start');
	const calls = countWrites(store);
	const now = Date.now();
	baseline.note(made(join(root, 'tmp'), now, 'file'));
	baseline.note(kernelEvent('modify', join(root, 'tmp'), now + 1));
	baseline.note(kernelEvent('rename', join(root, 'final'), now + 2, join(root, 'tmp')));
	baseline.note(kernelEvent('delete', join(root, 'final'), now + 3));
	baseline.flush();
	t.deepEqual(calls.moves, [], 'the store knows nothing by the made name');
	t.deepEqual(calls.removes, [byteString(join(root, 'final'))], 'the new name may have held something before');
	await baseline.reconcile([root], 'loss');
	t.deepEqual(summary(found), []);
});

/**
 * A known file and one made after the baseline; `from` is renamed onto `to` and `to` deleted,
 * all between two flushes. Returns once the flush has run.
 */
async function renameThenDelete(from: 'made' | 'known', to: 'made' | 'known'): Promise<ReturnType<typeof setup>> {
	const context = setup();
	const {root, baseline} = context;
	writeFileSync(join(root, 'known'), 'old');
	await baseline.reconcile([root], 'start');
	const now = Date.now() + 5;
	writeFileSync(join(root, 'made'), 'new');
	baseline.note(made(join(root, 'made'), now, 'file'));
	renameSync(join(root, from), join(root, to));
	baseline.note(kernelEvent('rename', join(root, to), now, join(root, from)));
	unlinkSync(join(root, to));
	baseline.note(kernelEvent('delete', join(root, to), now));
	baseline.flush();
	return context;
}

test('a made file renamed over a known one, then deleted, leaves nothing stale', async t => {
	const {root, store, baseline, found} = await renameThenDelete('made', 'known');
	t.is(store.get(byteString(join(root, 'known'))), undefined);
	await baseline.reconcile([root], 'loss');
	t.deepEqual(summary(found), []);
});

test('a known file renamed onto a made name and deleted there is forgotten by both names', async t => {
	const {root, store, baseline, found} = await renameThenDelete('known', 'made');
	t.is(store.get(byteString(join(root, 'known'))), undefined);
	t.is(store.get(byteString(join(root, 'made'))), undefined);
	await baseline.reconcile([root], 'loss');
	t.deepEqual(summary(found), []);
});

test('a made directory is not new: what moves into it and on with it leaves the baseline with it', async t => {
	const {root, store, baseline, found} = setup();
	writeFileSync(join(root, 'known'), 'x');
	await baseline.reconcile([root], 'start');
	const now = Date.now() + 5;
	mkdirSync(join(root, 'dir'));
	baseline.note(made(join(root, 'dir'), now, 'dir'));
	renameSync(join(root, 'known'), join(root, 'dir/known'));
	baseline.note(kernelEvent('rename', join(root, 'dir/known'), now, join(root, 'known')));
	renameSync(join(root, 'dir'), join(root, 'moved'));
	baseline.note(kernelEvent('rename', join(root, 'moved'), now, join(root, 'dir')));
	rmSync(join(root, 'moved'), {recursive: true});
	baseline.note(kernelEvent('delete', join(root, 'moved'), now));
	baseline.flush();
	t.is(store.fileCount, 1, 'the watched directory alone');
	await baseline.reconcile([root], 'loss');
	t.deepEqual(summary(found), []);
});

test('a directory renamed over one whose file came and went: the moved file is what stays', async t => {
	const {root, store, baseline, found} = setup();
	mkdirSync(join(root, 'from'));
	mkdirSync(join(root, 'to'));
	writeFileSync(join(root, 'from/f'), 'x');
	await baseline.reconcile([root], 'start');
	const now = Date.now() + 5;
	writeFileSync(join(root, 'from/f'), 'xy');
	baseline.note(kernelEvent('modify', join(root, 'from/f'), now));
	writeFileSync(join(root, 'to/f'), 'z');
	baseline.note(made(join(root, 'to/f'), now, 'file'));
	unlinkSync(join(root, 'to/f'));
	baseline.note(kernelEvent('delete', join(root, 'to/f'), now));
	renameSync(join(root, 'from'), join(root, 'to'));
	baseline.note(kernelEvent('rename', join(root, 'to'), now, join(root, 'from')));
	baseline.flush();
	t.truthy(store.get(byteString(join(root, 'to/f'))));
	await baseline.reconcile([root], 'loss');
	t.deepEqual(summary(found), []);
});

test('after a gap, files whose ctime falls inside it are reported even if the baseline matches', async t => {
	const {root, baseline, found} = setup();
	writeFileSync(join(root, 'old'), 'x');
	await new Promise(resolve => {
		setTimeout(resolve, 30);
	});
	const gapStartNs = BigInt(Date.now()) * 1_000_000n;
	// File times come from a clock that ticks every few ms: be past the next tick.
	await new Promise(resolve => {
		setTimeout(resolve, 30);
	});
	writeFileSync(join(root, 'in-gap'), 'x');
	await baseline.reconcile([root], 'start');
	await baseline.reconcile([root], 'restart', gapStartNs);
	t.deepEqual(summary(found), ['modify /in-gap']);
});

test('names that are not UTF-8 keep their bytes, in path_b64', async t => {
	const {root, baseline, found} = setup();
	await baseline.reconcile([root], 'start');
	const name = Buffer.from([0x62, 0xFF, 0x2E]);
	writeFileSync(Buffer.concat([Buffer.from(`${root}/`), name]), 'x');
	await baseline.reconcile([root], 'start');
	t.is(found.length, 1);
	const line = JSON.parse(found[0]!.json) as Record<string, string>;
	t.true(Buffer.from(line['path_b64']!, 'base64').equals(Buffer.concat([Buffer.from(`${root}/`), name])));
	t.is(line['path'], `${root}/b\uFFFD.`);
});

test('the reconcile record gives the bytes of its paths that are not UTF-8 in paths_b64, null for the others', async t => {
	const {root, baseline} = setup();
	await baseline.reconcile([root], 'start');
	const name = Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x62, 0xFF])]);
	writeFileSync(name, 'x');
	writeFileSync(`${root}/ok`, 'x');
	const record = reconcileRecord(await baseline.reconcile([root], 'request'), 'host');
	const paths = record.paths!.map((path, index) => [path, record.paths_b64?.[index]]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
	t.deepEqual(paths, [[`${root}/b\uFFFD`, name.toString('base64')], [`${root}/ok`, null]]);
	t.deepEqual(JSON.parse(JSON.stringify(record)).paths_b64, record.paths_b64);

	writeFileSync(`${root}/ok`, 'changed');
	t.false('paths_b64' in reconcileRecord(await baseline.reconcile([root], 'request'), 'host'), 'none when every path is UTF-8');
});

test('a single watched file is compared by itself', async t => {
	const {root, baseline, found} = setup();
	const file = join(root, 'alone');
	writeFileSync(file, 'x');
	t.is((await baseline.reconcile([file], 'start')).scanned, 1, 'the file is the one entry scanned');
	writeFileSync(file, 'xy');
	await baseline.reconcile([file], 'start');
	t.deepEqual(summary(found), ['modify /alone size,mtime,ctime']);
});

test('the store remembers a clean stop and the last sign of life', t => {
	const state = temporaryDirectory('fim-state-');
	const first = StateStore.open(state);
	t.is(first.previous, undefined);
	t.is(first.reset, undefined);
	first.store.heartbeat(1000n);
	first.store.close(2000n);
	const second = StateStore.open(state);
	t.deepEqual(second.previous, {lastAliveNs: 2000n, cleanStop: true});
	second.store.heartbeat(3000n);
	// No close: the run ended without a clean stop.
	const third = StateStore.open(state);
	t.deepEqual(third.previous, {lastAliveNs: 3000n, cleanStop: false});
	third.store.close(4000n);
});

test('a damaged or deleted baseline: moved aside, said why, and a fresh one works', t => {
	const state = temporaryDirectory('fim-state-');
	StateStore.open(state).store.close(1n);
	writeFileSync(join(state, baselineFileName), 'this is not a database, it only says so'.repeat(200));
	const damaged = StateStore.open(state);
	t.regex(damaged.reset?.reason ?? '', /baseline .*baseline\.db cannot be used \(.*(not a database|malformed)/);
	t.true(readFileSync(damaged.reset!.movedTo!, 'utf8').startsWith('this is not'));
	t.is(damaged.previous, undefined);
	damaged.store.put('/x', {type: 'file', inode: 1n, dev: 2n, size: 3n, mode: 0o644, uid: 0, gid: 0, mtimeNs: 4n, ctimeNs: 5n});
	t.is(damaged.store.fileCount, 1);
	damaged.store.close(2n);
	rmSync(join(state, baselineFileName));
	const deleted = StateStore.open(state);
	t.regex(deleted.reset?.reason ?? '', /was deleted/);
	t.is(deleted.store.fileCount, 0);
	deleted.store.close(3n);
});

test('a path gone from the disk before its event came is stored where that event takes it', async t => {
	const {root, store, baseline} = setup();
	await baseline.reconcile([root], 'start');
	mkdirSync(join(root, 'd'));
	writeFileSync(join(root, 'd', 'x'), 'x');
	baseline.note(kernelEvent('add', join(root, 'd'), Date.now()));
	baseline.note({...kernelEvent('add', join(root, 'd', 'x'), Date.now()), file_type: 'file'});
	// The directory moves; the flush comes before the event that says so.
	renameSync(join(root, 'd'), join(root, 'e'));
	baseline.flush();
	t.is(store.get(join(root, 'd', 'x')), undefined);
	baseline.note(kernelEvent('rename', join(root, 'e'), Date.now(), join(root, 'd')));
	baseline.flush();
	t.like(store.get(join(root, 'e', 'x')), {type: 'file', size: 1n});
	t.is(store.get(join(root, 'd')), undefined);
	t.like(store.get(join(root, 'e')), {type: 'dir'});
});

test('a path found gone waits for its event without another lookup; an event for it looks again', async t => {
	const {root, store, baseline} = setup();
	await baseline.reconcile([root], 'start');
	const file = join(root, 'f');
	writeFileSync(file, 'f');
	baseline.note(kernelEvent('modify', file, Date.now()));
	unlinkSync(file); // its delete event lost, or still to come
	baseline.flush();
	t.is(baseline.lookups, 1);
	for (let flush = 0; flush < 3; flush++) {
		baseline.note({...kernelEvent('add', join(root, `other-${flush}`), Date.now()), file_type: 'file'});
		baseline.flush();
	}

	t.is(baseline.lookups, 4, 'each other path once, the gone one not again');
	writeFileSync(file, 'back');
	baseline.note(kernelEvent('modify', file, Date.now() + 1000));
	baseline.flush();
	t.is(baseline.lookups, 5);
	t.like(store.get(file), {size: 4n});
});

test('the two renames of an exchange are one change, even with a flush between batches between them', async t => {
	const {root, store, baseline} = setup();
	mkdirSync(join(root, 'a'));
	writeFileSync(join(root, 'a', 'in-a'), 'a');
	mkdirSync(join(root, 'b'));
	writeFileSync(join(root, 'b', 'in-b'), 'b');
	await baseline.reconcile([root], 'start');
	// renameat2(RENAME_EXCHANGE) of a and b, as the loader reports it
	renameSync(join(root, 'a'), join(root, 'aside'));
	renameSync(join(root, 'b'), join(root, 'a'));
	renameSync(join(root, 'aside'), join(root, 'b'));
	const first = {...kernelEvent('rename', join(root, 'b'), Date.now(), join(root, 'a')), syscall: 'renameat2'};
	baseline.note(first);
	baseline.flush(true);
	baseline.note({...first, path: join(root, 'a'), old_path: join(root, 'b')});
	baseline.flush();
	t.like(store.get(join(root, 'a', 'in-b')), {size: 1n});
	t.like(store.get(join(root, 'b', 'in-a')), {size: 1n});
	t.is(store.get(join(root, 'a', 'in-a')), undefined);
	t.is(store.get(join(root, 'b', 'in-b')), undefined);
});
