import {appendFileSync, chmodSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, symlinkSync, truncateSync, unlinkSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {systemClock} from '../../supervisor/src/clock.js';
import {Baseline} from '../../supervisor/src/reconcile.js';
import {StateStore} from '../../supervisor/src/state-store.js';
import type {KernelEventFields} from '../../supervisor/src/types.js';
import {temporaryDirectory} from './helpers.js';

/**
 * The live baseline against the disk, change by change: random changes are made on a real
 * directory, each followed by the events the loader reports for it, with flushes at random
 * points between them. After a last flush the store must hold exactly what is on disk. The
 * sequences that broke it were a rename of a directory once a file's name (its notes), a
 * rename of a directory not yet stored with a stored one moved into it, RENAME_EXCHANGE (also
 * split by a flush), and a directory renamed onto a path below which a delete was pending.
 * No hard links: linking or unlinking one name changes the ctime of the others, which have no
 * event, and the baseline keeps their state until the next scan reports them (docs/records.md);
 * whether that shows depends on how long the calls take.
 */

function random(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6D_2B_79_F5) >>> 0;
		let x = state;
		x = Math.imul(x ^ (x >>> 15), x | 1);
		x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
		return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
	};
}

let lastTimestamp = 0;

function event(operation: KernelEventFields['operation'], path: string, fileType: KernelEventFields['file_type'], oldPath?: string, syscall = 'test'): KernelEventFields {
	// the kernel's nanoseconds: no two calls of a thread share one (as two renames of one
	// RENAME_EXCHANGE do), however fast
	lastTimestamp = Math.max(Date.now() * 1e6, lastTimestamp + 1000);
	return {
		timestamp: lastTimestamp, operation, path, old_path: oldPath ?? null, file_type: fileType, inode: null, dev: null,
		pid: 1, tid: 1, ppid: 0, uid: 0, gid: 0, euid: 0, egid: 0, auid: null, session_id: null,
		process_name: 'test', exe: null, syscall, cgroup_id: 0, source: 'kernel',
	};
}

function walk(directory: string, into = new Map<string, string>()): Map<string, string> {
	for (const entry of readdirSync(directory, {withFileTypes: true})) {
		const path = join(directory, entry.name);
		into.set(path, entry.isDirectory() ? 'dir' : (entry.isSymbolicLink() ? 'symlink' : 'file'));
		if (entry.isDirectory()) {
			walk(path, into);
		}
	}

	return into;
}

/** rename(2) between two links of one file changes nothing, and the sensor does not report it. */
function rename(p: string, q: string): KernelEventFields[] {
	const before = lstatSync(q, {throwIfNoEntry: false});
	const same = before !== undefined && before.ino === lstatSync(p).ino;
	renameSync(p, q);
	return same ? [] : [event('rename', q, null, p)];
}

/**
 * renameat2(RENAME_EXCHANGE), which node cannot call: the same result on disk in three renames
 * through a name outside the tree, and the two events the loader reports for it.
 */
function exchange(p: string, q: string, aside: string): KernelEventFields[] {
	lstatSync(p);
	lstatSync(q);
	if (p === q || p.startsWith(`${q}/`) || q.startsWith(`${p}/`)) {
		throw new Error('EINVAL');
	}

	renameSync(p, aside);
	renameSync(q, p);
	renameSync(aside, q);
	const there = event('rename', q, null, p, 'renameat2');
	return [there, {...there, path: p, old_path: q}];
}

// 130, 144 and 246: a directory renamed onto a path whose old entries had pending deletes
for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 130, 144, 246]) {
	test(`random changes, flushed at random points: the baseline ends up as the disk (seed ${seed})`, async t => {
		const root = temporaryDirectory('fim-replay-');
		const {store} = StateStore.open(temporaryDirectory('fim-state-'));
		const baseline = new Baseline({store, clock: systemClock, scanRate: 0, deliver() {}, progress() {}});
		await baseline.reconcile([root], 'start');
		const next = random(seed);
		const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
		const where = () => join(root, ...Array.from({length: Math.floor(next() * 3)}, () => pick(['a', 'b', 'x'])), pick(['a', 'b', 'c', 'x', 'y']));
		const changes: Array<(p: string, q: string) => KernelEventFields[]> = [
			p => {
				writeFileSync(p, 'new', {flag: 'wx'});
				return [event('add', p, 'file'), event('modify', p, 'file')];
			},
			p => {
				appendFileSync(p, 'more', {flag: 'r+'});
				return [event('modify', p, 'file')];
			},
			p => {
				truncateSync(p, 1);
				return [event('modify', p, null)];
			},
			p => {
				mkdirSync(p);
				return [event('add', p, 'dir')];
			},
			p => {
				mkdirSync(p);
				return [event('add', p, 'dir')];
			},
			p => {
				rmdirSync(p);
				return [event('delete', p, 'dir')];
			},
			p => {
				unlinkSync(p);
				return [event('delete', p, null)];
			},
			rename,
			rename,
			(p, q) => exchange(p, q, `${root}.aside`),
			p => {
				symlinkSync('/nonexistent', p);
				return [event('add', p, 'symlink')];
			},
			p => {
				chmodSync(p, pick([0o600, 0o644]));
				return [event('attrib', p, null)];
			},
		];
		let made = 0;
		for (let i = 0; i < 3000; i++) {
			const p = where();
			const q = where();
			let events: KernelEventFields[];
			try {
				events = pick(changes)(p, q);
			} catch {
				continue; // the call failed: nothing changed
			}

			made++;
			for (const e of events) {
				baseline.note(e);
				// between two batches of events (monitor.ts), which may split an exchange's two
				if (next() < 0.03) {
					baseline.flush(true);
				}
			}

			if (next() < 0.03) {
				baseline.flush(); // as before a scan
			}
		}

		baseline.flush();
		const disk = walk(root);
		const stored = new Map(store.subtree(root).map(row => [row.path, row.type]));
		const missing = [...disk].filter(([path]) => !stored.has(path)).map(([path]) => `missing: ${path.slice(root.length)}`);
		const extra = [...stored].filter(([path]) => !disk.has(path)).map(([path]) => `extra: ${path.slice(root.length)}`);
		const wrong = [...stored].filter(([path, kind]) => disk.has(path) && disk.get(path) !== (kind === 'dir' ? 'dir' : (kind === 'symlink' ? 'symlink' : 'file'))).map(([path]) => `type: ${path.slice(root.length)}`);
		t.true(made > 300, `${made} changes made`);
		t.deepEqual([...missing, ...extra, ...wrong].slice(0, 20), []);
	});
}
