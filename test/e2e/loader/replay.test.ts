// The events alone must explain the tree: a random mix of changes is made, the event stream is
// replayed onto an empty model, and the model must be the tree on disk, entry for entry. Each
// change is checked one by one elsewhere; this finds what only a sequence shows (a path
// remembered from before a directory moved, an event in the wrong order, one missing or extra).
// A failure names its seed: FIM_REPLAY_SEED=<seed> makes the same calls again,
// FIM_REPLAY_DUMP=<file> keeps the events of a run (<file>.tmp, <file>.shm) and
// FIM_REPLAY_LOG=<file> the calls that succeeded, for a closer look.
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { randomChanges } from '../random-changes.js';
import { brief, e2e, type FimEvent, withLoader } from './harness.js';

type Tree = Map<string, string | null>; // path -> file_type (null: not known from the event)

function under(tree: Tree, dir: string): string[] {
	return [...tree.keys()].filter((p) => p.startsWith(dir + '/'));
}

/** Moves `from` and everything below it to `to`, replacing what was at `to`. */
function move(tree: Tree, from: string, to: string) {
	const moved = [from, ...under(tree, from)].map((p) => [p, tree.get(p)] as const);
	for (const p of [to, ...under(tree, to)]) tree.delete(p);
	for (const [p] of moved) tree.delete(p);
	for (const [p, type] of moved) tree.set(to + p.slice(from.length), type ?? null);
}

/** Replays the events onto `tree`; returns what did not fit (an event about nothing, ...). */
function replay(tree: Tree, events: FimEvent[]): string[] {
	const misfits: string[] = [];
	for (let i = 0; i < events.length; i++) {
		const e = events[i]!;
		const p = e.path as string;
		const old = e.old_path as string | null;
		const next = events[i + 1];
		switch (e.operation) {
			case 'add':
				if (tree.has(p)) misfits.push(`add of a path already there: ${brief(e)}`);
				tree.set(p, (e['file_type'] as string | null) ?? null);
				break;
			case 'delete':
				if (!tree.has(p)) misfits.push(`delete of a path not there: ${brief(e)}`);
				if (under(tree, p).length) misfits.push(`delete of a directory not empty: ${brief(e)}`);
				tree.delete(p);
				break;
			case 'rename':
				if (!old || !tree.has(old)) {
					misfits.push(`rename from a path not there: ${brief(e)}`);
					break;
				}
				// RENAME_EXCHANGE: two events of one call, one per direction
				if (next !== undefined && next.operation === 'rename' && next.path === old && next.old_path === p &&
					next['tid'] === e['tid'] && next['timestamp'] === e['timestamp']) {
					move(tree, p, `${p}\0swap`);
					move(tree, old, p);
					move(tree, `${p}\0swap`, old);
					i++;
					break;
				}
				move(tree, old, p);
				break;
			default: // modify, attrib: of something there
				if (!tree.has(p)) misfits.push(`${e.operation} of a path not there: ${brief(e)}`);
		}
	}
	return misfits;
}

function disk(dir: string, tree: Tree = new Map()): Tree {
	for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, d.name);
		tree.set(p, d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : d.isFIFO() ? 'fifo' : 'file');
		if (d.isDirectory()) disk(p, tree);
	}
	return tree;
}

function compare(t: ExecutionContext, model: Tree, real: Tree, events: FimEvent[]) {
	const missing = [...real].filter(([p]) => !model.has(p)).map(([p, type]) => `on disk, not in the events: ${p} (${type})`);
	const extra = [...model.keys()].filter((p) => !real.has(p)).map((p) => `in the events, not on disk: ${p}`);
	const wrongType = [...model]
		.filter(([p, type]) => type !== null && real.has(p) && real.get(p) !== type)
		.map(([p, type]) => `type ${String(type)} in the events, ${String(real.get(p))} on disk: ${p}`);
	const differences = [...missing, ...extra, ...wrongType];
	t.deepEqual(differences, [], `${events.length} events replayed; the tree differs:\n${differences.slice(0, 20).join('\n')}`);
}

for (const [fsName, tmpRoot] of [['ext4 or the like (/tmp)', undefined], ['tmpfs (/dev/shm)', '/dev/shm']] as const) {
	e2e(`a random mix of changes by two processes on ${fsName}: replaying the events gives the tree on disk`, (t) =>
		withLoader(t, { tmpRoot }, async (l) => {
			const from = l.mark();
			const roots = ['p0', 'p1'].map((p) => path.join(l.dir, p));
			for (const r of roots) fs.mkdirSync(r);
			const seed = Number(process.env['FIM_REPLAY_SEED'] ?? Date.now() % 100_000);
			// Each process changes its own subtree: across processes the stream's order of two
			// racing changes to one name is not the kernel's (each is stamped at its syscall's
			// exit), and that is not what this checks.
			const made = (await Promise.all(roots.map((r, i) => randomChanges(r, seed + i, 4000)))).reduce((n, m) => n + m, 0);
			const events = await l.settle(from);
			t.log(`seed ${seed}: ${made} calls succeeded, ${events.length} events`);
			t.true(made > 1000, `${made} successful calls`);
			const model: Tree = new Map();
			const misfits = replay(model, events);
			if (process.env['FIM_REPLAY_DUMP']) fs.writeFileSync(`${process.env['FIM_REPLAY_DUMP']}.${tmpRoot === undefined ? 'tmp' : 'shm'}`, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
			t.deepEqual(misfits.slice(0, 20), [], `seed ${seed}`);
			compare(t, model, disk(l.dir), events);
		}));
}
