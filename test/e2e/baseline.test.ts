import {mkdirSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {randomChanges} from './random-changes.js';
import {baselineMade, cleanUp, e2e, Fimctl, loaderPid, supervisorRecords, workDirectory} from './fimctl-harness.js';

/**
 * fimctl keeps its baseline current from the live events alone (supervisor/src/reconcile.ts):
 * after a random mix of changes, stopped cleanly and started again, its scan at start must find
 * the disk exactly as the baseline has it. Anything it reports is a change the live events got
 * wrong, or one the baseline applied wrong.
 *
 * Without the two cases where the baseline knowingly lags and the next scan reports the file
 * again (docs/records.md): directories moved while a flush looks below them, and hard links.
 * A failure names its seed: FIM_REPLAY_SEED=<seed> makes the same calls again (how they
 * interleave with the flushes differs), FIM_REPLAY_CALLS=<n> fewer of them, and
 * FIM_REPLAY_DUMP=<file> keeps the first run's records.
 */
e2e('after a random mix of changes, the baseline is the disk: the next start finds nothing to report', async t => {
	t.timeout(120_000);
	const directory = workDirectory();
	const first = new Fimctl([directory]);
	let second: Fimctl | undefined;
	try {
		await first.ready();
		await baselineMade(first);
		const roots = ['p0', 'p1'].map(name => join(directory, name));
		for (const root of roots) {
			mkdirSync(root);
		}

		const seed = Number(process.env['FIM_REPLAY_SEED'] ?? Date.now() % 100_000);
		const calls = Number(process.env['FIM_REPLAY_CALLS'] ?? 4000);
		const made = (await Promise.all(roots.map(async (root, i) => randomChanges(root, seed + i, calls, {directoriesStay: true, noHardLinks: true})))).reduce((n, m) => n + m, 0);
		t.log(`seed ${seed}: ${made} calls succeeded`);
		t.true(made > calls / 8, `${made} successful calls`);
		// Every change is out once the fence's event is.
		const fence = join(directory, 'fence');
		writeFileSync(fence, '');
		await first.until(() => first.records.find(record => record['path'] === fence), 'the fence');
		t.is(await first.stop(), 0);
		if (process.env['FIM_REPLAY_DUMP']) {
			writeFileSync(process.env['FIM_REPLAY_DUMP'], first.records.map(record => JSON.stringify(record)).join('\n') + '\n');
		}

		second = new Fimctl([directory], first.stateDirectory);
		const current = second;
		await current.ready();
		const summary = await current.until(() => supervisorRecords(current, 'reconcile')[0], 'the scan at start');
		const found = current.records.filter(record => record['source'] === 'reconcile').map(record => `${String(record['operation'])} ${String(record['path']).slice(directory.length + 1)} ${JSON.stringify(record['changed'])}`);
		t.deepEqual(found, [], `seed ${seed}`);
		t.like(summary, {trigger: 'start', changes: 0});
		t.is(await current.stop(), 0);
	} finally {
		second?.process.kill('SIGKILL');
		cleanUp(first, directory);
	}
});

e2e('a watched directory deleted and made again: what was made in it before the loader read its add is found on disk', async t => {
	const directory = workDirectory();
	const watched = join(directory, 'w');
	mkdirSync(watched);
	writeFileSync(join(watched, 'old'), 'x');
	const fim = new Fimctl([watched]);
	try {
		await fim.ready();
		await baselineMade(fim);
		// Stopped, the loader reads the directory's add only after a file was made two levels
		// down: the kernel sends what is made right in a directory made again (the sub
		// directory), not deeper, until the loader has registered it.
		const pid = loaderPid(fim.process.pid!);
		const early = join(watched, 'sub', 'early');
		process.kill(pid, 'SIGSTOP');
		try {
			rmSync(watched, {recursive: true});
			mkdirSync(join(watched, 'sub'), {recursive: true});
			writeFileSync(early, 'made before the loader read the add');
		} finally {
			process.kill(pid, 'SIGCONT');
		}

		t.like(await fim.until(() => fim.records.find(record => record['path'] === early), 'the early file'), {operation: 'add', source: 'reconcile'});
		t.like(await fim.until(() => supervisorRecords(fim, 'reconcile').find(record => record['trigger'] === 'made_again'), 'the scan'), {changes: 1});
		const late = join(watched, 'late');
		writeFileSync(late, '');
		t.like(await fim.until(() => fim.records.find(record => record['path'] === late), 'the late file'), {operation: 'add', source: 'kernel'});
		const events = fim.records.filter(record => record['type'] !== 'supervisor').map(record => `${String(record['operation'])} ${String(record['path']).slice(directory.length)} ${String(record['source'])}`);
		t.deepEqual(events.slice(0, events.indexOf('add /w/late kernel') + 1), [
			'delete /w/old kernel',
			'delete /w kernel',
			'add /w kernel',
			'add /w/sub kernel',
			'add /w/sub/early reconcile',
			'add /w/late kernel',
		]);
		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

e2e('a directory above a watched one moved aside and a new tree put in its place: the new tree is scanned and watched', async t => {
	const directory = workDirectory();
	const app = join(directory, 'app');
	const watched = join(app, 'config');
	mkdirSync(watched, {recursive: true});
	writeFileSync(join(watched, 'old'), 'x');
	const fim = new Fimctl([watched]);
	try {
		await fim.ready();
		await baselineMade(fim);
		// No event names the watched path here (the rename is of a directory above it): the
		// loader finds the new tree at its next look, and fimctl scans it.
		renameSync(app, join(directory, 'app.old'));
		mkdirSync(watched, {recursive: true});
		writeFileSync(join(watched, 'new'), 'y');
		t.like(await fim.until(() => supervisorRecords(fim, 'reconcile').find(record => record['trigger'] === 'made_again'), 'the scan'), {changes: 3});
		const late = join(watched, 'late');
		writeFileSync(late, '');
		t.like(await fim.until(() => fim.records.find(record => record['path'] === late), 'the late file'), {operation: 'add', source: 'kernel', pid: process.pid});
		const events = fim.records.filter(record => record['type'] !== 'supervisor').map(record => `${String(record['operation'])} ${String(record['path']).slice(directory.length)} ${String(record['source'])}`);
		// the directory at the watched path is another one: a modify of it (its inode, times)
		t.deepEqual(events.sort(), ['add /app/config/late kernel', 'add /app/config/new reconcile', 'delete /app/config/old reconcile', 'modify /app/config reconcile']);
		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});
