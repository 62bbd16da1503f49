import {spawn} from 'node:child_process';
import {chmodSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync, appendFileSync, closeSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import test from 'ava';
import {execa} from 'execa';
import {baselineMade, cleanUp, e2e, Fimctl, fimctl, fimctlStatus, killLeftoverLoaders, loader, loaderPid, sleep, supervisorRecords, unreported, workDirectory, Workload, type Json} from './fimctl-harness.js';

/**
 * Nothing lost silently (DESIGN.md §5), on the real kernel: each test breaks something (the
 * loader, the ring buffer, fimctl itself, the reader, the baseline) while files change, and
 * asserts that every change was reported, live or by reconciliation, and each gap said so.
 */

function configFile(yaml: string): string {
	const file = join(mkdtempSync(join(tmpdir(), 'fim-config-')), 'fim.yaml');
	writeFileSync(file, yaml);
	return file;
}


e2e('kill -9 of the loader 20 times under a workload: every change is reported, live or by reconciliation', async t => {
	t.timeout(180_000);
	const directory = workDirectory();
	Workload.premake(directory, 100);
	const config = configFile(`sources:\n  files:\n    type: whodata\n    paths: [${JSON.stringify(directory)}]\n    restart: {initial_ms: 50, max_ms: 100, max_crashes: 1000}\n`);
	const fim = new Fimctl(['--config', config]);
	try {
		await fim.ready();
		await baselineMade(fim);
		const workload = new Workload(directory, 200, 100);
		const gapsMs: number[] = [];
		const began = Date.now();
		for (let kill = 1; kill <= 20; kill++) {
			// eslint-disable-next-line no-await-in-loop
			await sleep(100 + Math.floor(Math.random() * 200));
			const killedAt = Date.now();
			process.kill(loaderPid(fim.process.pid!), 'SIGKILL');
			// eslint-disable-next-line no-await-in-loop
			await fim.until(() => (supervisorRecords(fim, 'restart').length >= kill ? true : undefined), `restart ${kill}`, 30_000);
			gapsMs.push(Date.now() - killedAt);
		}

		const killsMs = Date.now() - began;

		await sleep(300);
		const changes = await workload.stop();
		t.true(changes.length > 1000, `${changes.length} changes`);
		const misses = await fim.until(() => {
			const left = unreported(fim.records, changes);
			return left.length === 0 ? left : undefined;
		}, 'every change reported', 60_000).catch(() => unreported(fim.records, changes));
		t.deepEqual(misses, []);

		const restarts = supervisorRecords(fim, 'restart');
		t.is(restarts.length, 20);
		for (const restart of restarts) {
			t.true((restart['gap_start'] as number) <= (restart['gap_end'] as number));
		}

		t.true(supervisorRecords(fim, 'reconcile').some(record => String(record['trigger']).includes('restart')));
		const reconciled = fim.records.filter(record => record['source'] === 'reconcile');
		gapsMs.sort((a, b) => a - b);
		t.log(`${changes.length} changes; ${fim.records.filter(record => record['source'] === 'kernel').length} kernel events, ${reconciled.length} reconcile events; 20 kills in ${killsMs} ms, kill to restart record: median ${gapsMs[10]} ms, max ${gapsMs.at(-1)} ms`);
		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

e2e('a ring buffer overflow is counted, reported as a gap, and reconciled file by file', async t => {
	t.timeout(120_000);
	const directory = workDirectory();
	const fim = new Fimctl([directory, '--ringbuf-mb', '1']);
	try {
		await fim.ready();
		await baselineMade(fim);
		const pid = loaderPid(fim.process.pid!);
		// The loader stopped: nothing reads the 1 MiB ring buffer while 4,000 files are made.
		process.kill(pid, 'SIGSTOP');
		const made: string[] = [];
		try {
			for (let i = 0; i < 4000; i++) {
				const path = join(directory, `burst-${i}`);
				writeFileSync(path, `burst ${i}\n`);
				made.push(path);
			}
		} finally {
			process.kill(pid, 'SIGCONT');
		}

		const madeAt = Date.now();
		const loss = await fim.until(() => supervisorRecords(fim, 'loss')[0], 'a loss record', 30_000);
		t.true((loss['lost'] as number) > 0);
		t.true((loss['gap_start'] as number) < madeAt * 1e6 && (loss['gap_end'] as number) >= (madeAt - 1000) * 1e6);
		t.deepEqual(loss['paths'], [directory]);
		await fim.until(() => supervisorRecords(fim, 'reconcile').find(record => String(record['trigger']).includes('loss')), 'the reconciliation after the loss', 30_000);
		const reported = new Set(fim.records.filter(record => record['operation'] === 'add' || record['operation'] === 'modify').map(record => record['path']));
		const missing = made.filter(path => !reported.has(path));
		t.deepEqual(missing, [], `${missing.length} of ${made.length} files never reported`);
		const reconciled = fim.records.filter(record => record['source'] === 'reconcile' && record['operation'] === 'add');
		t.true(reconciled.length > 0, 'some files were found only by the reconciliation');
		t.like(reconciled[0], {pid: null, uid: null, process_name: null, exe: null, syscall: null, file_type: 'file'});
		const status = await fimctlStatus(fim.stateDirectory);
		t.true((status['events_lost_total'] as number) >= (loss['lost'] as number));
		t.log(`lost ${String(loss['lost'])} records; ${reconciled.length} files found by reconciliation`);
		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

e2e('changes made while fimctl was stopped are reported at its next start with source reconcile', async t => {
	const directory = workDirectory();
	for (const name of ['modified', 'deleted', 'renamed', 'chmoded', 'hidden', 'kept']) {
		writeFileSync(join(directory, name), `${name}\n`);
	}

	const first = new Fimctl([directory]);
	let second: Fimctl | undefined;
	try {
		await first.ready();
		await baselineMade(first);
		t.is(await first.stop(), 0);

		appendFileSync(join(directory, 'modified'), 'more\n');
		unlinkSync(join(directory, 'deleted'));
		renameSync(join(directory, 'renamed'), join(directory, 'renamed.new'));
		chmodSync(join(directory, 'chmoded'), 0o600);
		writeFileSync(join(directory, 'added'), 'new\n');
		// A same-size write with the mtime put back: only ctime shows it.
		const reference = join(tmpdir(), `fim-reference-${process.pid}`);
		await execa('touch', ['-r', join(directory, 'hidden'), reference]);
		const fd = openSync(join(directory, 'hidden'), 'r+');
		writeFileSync(fd, 'HIDDEN\n');
		closeSync(fd);
		await execa('touch', ['-r', reference, join(directory, 'hidden')]);
		rmSync(reference);

		second = new Fimctl([directory], first.stateDirectory);
		const current = second;
		await current.ready();
		const summary = await current.until(() => supervisorRecords(current, 'reconcile')[0], 'the reconciliation at start');
		const found = current.records.filter(record => record['source'] === 'reconcile').map(record => `${String(record['operation'])} ${String(record['path']).slice(directory.length + 1)}`).sort();
		t.deepEqual(found, ['add added', 'add renamed.new', 'attrib chmoded', 'delete deleted', 'delete renamed', 'modify hidden', 'modify modified']);
		t.like(summary, {trigger: 'start', changes: 7});
		const downtime = supervisorRecords(current, 'downtime')[0];
		t.truthy(downtime, 'the downtime is a record of its own');
		t.true((downtime!['gap_start'] as number) < (downtime!['gap_end'] as number));
		t.regex(String(downtime!['message']), /stopped cleanly/);
		const hidden = current.records.find(record => record['path'] === join(directory, 'hidden'))!;
		t.deepEqual(hidden['changed'], ['ctime']);
		t.is(await current.stop(), 0);
	} finally {
		second?.process.kill('SIGKILL');
		cleanUp(first, directory);
	}
});

e2e('a reader stopped for 10 s under load: nothing lost, order per file kept, memory within its bound', async t => {
	t.timeout(120_000);
	const directory = workDirectory();
	Workload.premake(directory, 50);
	const state = mkdtempSync(join(tmpdir(), 'fim-e2e-state-'));
	const config = configFile(`sources:\n  files:\n    type: whodata\n    paths: [${JSON.stringify(directory)}]\nsinks:\n  out:\n    type: stdout\n    inputs: [files]\n    buffer: {max_events: 500, max_size: 268435456}\n`);
	const output = join(state, 'reader-output.ndjson');
	// The reader is a separate process that can be stopped: cat into a file.
	const reader = spawn('cat', [], {stdio: ['pipe', openSync(output, 'w'), 'inherit']});
	const fim = spawn(fimctl, ['start', '--config', config, '--loader', loader, '--stats-interval', '1', '--state-dir', state], {stdio: ['ignore', reader.stdin!, 'pipe']});
	let stderr = '';
	fim.stderr!.setEncoding('utf8');
	fim.stderr!.on('data', (chunk: string) => {
		stderr += chunk;
	});
	try {
		while (!stderr.includes('baseline of')) {
			// eslint-disable-next-line no-await-in-loop
			await sleep(50);
		}

		const workload = new Workload(directory, 600, 50);
		await sleep(500);
		reader.kill('SIGSTOP');
		let peakMemory = 0;
		let peakSpool = 0;
		let peakRssKb = 0;
		const stoppedAt = Date.now();
		while (Date.now() - stoppedAt < 10_000) {
			// eslint-disable-next-line no-await-in-loop
			const status = await fimctlStatus(state);
			const buffer = (status['sinks'] as Array<{buffer: Json}>)[0]!.buffer;
			peakMemory = Math.max(peakMemory, buffer['memory_events'] as number, buffer['memory_events_peak'] as number);
			peakSpool = Math.max(peakSpool, buffer['spool_bytes'] as number);
			peakRssKb = Math.max(peakRssKb, Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${fim.pid!}/status`, 'latin1'))?.[1]));
			// eslint-disable-next-line no-await-in-loop
			await sleep(500);
		}

		reader.kill('SIGCONT');
		await sleep(500);
		const changes = await workload.stop();
		const status = await fimctlStatus(state);
		t.is(status['events_lost_total'], 0, 'the kernel path was never held up');
		t.true(peakMemory <= 500, `memory held ${peakMemory} records; the bound is 500`);
		t.true(peakSpool > 0, 'the spool took the rest');
		t.true(peakRssKb < 200_000, `fimctl RSS ${peakRssKb} kB`);
		fim.kill('SIGTERM');
		await new Promise(resolve => {
			fim.on('exit', resolve);
		});
		reader.stdin!.end();
		await new Promise(resolve => {
			reader.on('exit', resolve);
		});
		const records = readFileSync(output, 'utf8').trim().split('\n').map(line => JSON.parse(line) as Json);
		t.deepEqual(records.filter(record => record['kind'] === 'discard'), []);
		t.deepEqual(unreported(records, changes), []);
		const lastSeen = new Map<unknown, number>();
		const outOfOrder: string[] = [];
		for (const record of records.filter(record => record['source'] === 'kernel')) {
			const previous = lastSeen.get(record['path']) ?? 0;
			if ((record['timestamp'] as number) < previous) {
				outOfOrder.push(String(record['path']));
			}

			lastSeen.set(record['path'], record['timestamp'] as number);
		}

		t.deepEqual(outOfOrder, [], 'events of one file come in the order they happened');
		t.log(`${changes.length} changes, ${records.length} records; peak memory ${peakMemory} records, peak spool ${peakSpool} bytes, peak RSS ${peakRssKb} kB`);
	} finally {
		fim.kill('SIGKILL');
		reader.kill('SIGKILL');
		rmSync(directory, {recursive: true, force: true});
		rmSync(state, {recursive: true, force: true});
	}
});

e2e('a damaged or deleted baseline: one clear line, a gap record, a fresh baseline, and live events go on', async t => {
	const directory = workDirectory();
	const first = new Fimctl([directory]);
	const runs: Fimctl[] = [first];
	try {
		await first.ready();
		await baselineMade(first);
		t.is(await first.stop(), 0);
		const baseline = join(first.stateDirectory, 'baseline.db');
		t.true(existsSync(baseline));

		for (const [damage, expected] of [
			[() => {
				writeFileSync(baseline, Buffer.alloc(8192, 0x5A));
			}, /warn: the baseline .*baseline\.db cannot be used \(.*\); moved to .*; making a fresh baseline/],
			[() => {
				rmSync(baseline);
			}, /warn: the baseline .*baseline\.db was deleted; making a fresh baseline/],
		] as Array<[() => void, RegExp]>) {
			damage();
			const run = new Fimctl([directory], first.stateDirectory);
			runs.push(run);
			// eslint-disable-next-line no-await-in-loop
			await run.ready();
			t.regex(run.stderr, expected);
			t.false(run.stderr.includes('    at '), 'no stack trace');
			// eslint-disable-next-line no-await-in-loop
			const reset = await run.until(() => supervisorRecords(run, 'state_reset')[0], 'a state_reset record');
			t.regex(String(reset['message']), /fresh baseline/);
			const file = join(directory, `after-${runs.length}`);
			writeFileSync(file, 'x');
			// eslint-disable-next-line no-await-in-loop
			await run.until(() => run.records.find(record => record['path'] === file && record['source'] === 'kernel'), 'a live event');
			// eslint-disable-next-line no-await-in-loop
			t.is(await run.stop(), 0);
		}
	} finally {
		for (const run of runs.slice(1)) {
			run.process.kill('SIGKILL');
		}

		cleanUp(first, directory);
	}
});

test.after.always('no fim-loader left running', () => {
	killLeftoverLoaders();
});
