import {mkdirSync, readFileSync, rmSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {ManualClock} from '../../supervisor/src/clock.js';
import {CrashLoopError, LoaderRefusedError, RuntimeError} from '../../supervisor/src/errors.js';
import type {ParsedLine} from '../../supervisor/src/ndjson-parse.js';
import {Supervisor} from '../../supervisor/src/supervise.js';
import type {HelloRecord, SupervisorRecord} from '../../supervisor/src/types.js';
import {fixture, nextEvent, temporaryDirectory, waitUntil} from './helpers.js';

type Scheduled = {delayMs: number; exit: string};

test('a crashing loader is restarted with doubling delays, and each restart reports its gap', async t => {
	const clock = new ManualClock();
	const directory = temporaryDirectory();
	const argvLog = join(directory, 'argv.log');
	const supervisor = new Supervisor({
		loaderPath: fixture('crash-after-lines.sh'),
		paths: [directory],
		clock,
		env: {...process.env, FAKE_LINES: '2', FAKE_ARGV_LOG: argvLog},
		restart: {maxCrashes: 10},
	});
	const events: string[] = [];
	supervisor.on('batch', (lines: ParsedLine[]) => {
		for (const line of lines) {
			if (line.value['type'] === 'event') {
				events.push(line.value['path'] as string);
			}
		}
	});
	const records: SupervisorRecord[] = [];
	supervisor.on('supervisor', (record: SupervisorRecord) => records.push(record));

	await supervisor.start();
	const first = await nextEvent<Scheduled>(supervisor, 'restart-scheduled');
	t.is(first.delayMs, 100);
	t.is(first.exit, 'exit code 1 without bye');
	t.deepEqual(clock.pending(), [100]);

	const crashedAt = clock.now();
	clock.advance(100);
	const second = await nextEvent<Scheduled>(supervisor, 'restart-scheduled');
	t.is(second.delayMs, 200);
	const restart = records.find(record => record.kind === 'restart');
	t.truthy(restart);
	t.is(restart?.restarts, 1);
	t.true(restart!.gap_start! <= crashedAt * 1e6);
	t.is(restart?.gap_end, (crashedAt + 100) * 1e6);
	t.deepEqual(events, ['/fake/crash-0', '/fake/crash-1', '/fake/crash-0', '/fake/crash-1']);

	clock.advance(200);
	t.is((await nextEvent<Scheduled>(supervisor, 'restart-scheduled')).delayMs, 400);
	t.deepEqual(readFileSync(argvLog, 'utf8').trim().split('\n'), Array.from({length: 3}, () => `--path ${directory}`));
	await supervisor.stop();
	t.deepEqual(clock.pending(), []);
});

test('a loader that exits at once is a crash loop: give up with its stderr lines', async t => {
	const clock = new ManualClock();
	const supervisor = new Supervisor({loaderPath: fixture('exit-at-once.sh'), paths: ['/w'], clock});
	const delays: number[] = [];
	supervisor.on('restart-scheduled', ({delayMs}: Scheduled) => {
		delays.push(delayMs);
		// Let the manual clock fire each restart as soon as it is scheduled.
		setImmediate(() => {
			clock.advance(delayMs);
		});
	});
	const records: SupervisorRecord[] = [];
	supervisor.on('supervisor', (record: SupervisorRecord) => records.push(record));
	const error = await t.throwsAsync(supervisor.start(), {instanceOf: CrashLoopError});
	t.deepEqual(delays, [100, 200, 400, 800]);
	t.is(error?.exitCode, 1);
	t.regex(error!.message, /5 crashes within 60 s/);
	t.regex(error!.message, /simulated verifier rejection/);
	t.deepEqual(error?.stderrTail, ['fim-loader: info: starting', 'fim-loader: error: bpf: load failed: simulated verifier rejection']);
	t.is(records.at(-1)?.kind, 'give_up');
});

test('a loader that refuses to start is not retried; its exit code is kept', async t => {
	for (const [code, exitCode, pattern] of [[2, 2, /No such file/], [3, 3, /unsupported system: BTF/], [4, 1, /permission denied/]] as const) {
		const supervisor = new Supervisor({loaderPath: fixture('refuse.sh'), paths: ['/w'], env: {...process.env, FAKE_EXIT: String(code)}});
		let scheduled = false;
		supervisor.on('restart-scheduled', () => {
			scheduled = true;
		});
		// eslint-disable-next-line no-await-in-loop
		const error = await t.throwsAsync(supervisor.start(), {instanceOf: LoaderRefusedError});
		t.is(error?.exitCode, exitCode);
		t.regex(error!.message, pattern);
		t.false(error!.message.includes('\n'));
		t.false(scheduled);
	}
});

test('a loader refused for want of privileges: what is needed is said once', async t => {
	for (const [detail, expected] of [
		['bpf: Operation not permitted', 'permission denied (run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): bpf: Operation not permitted'],
		['must run as root: loading BPF needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN', 'permission denied: must run as root: loading BPF needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN'],
	] as const) {
		const supervisor = new Supervisor({loaderPath: fixture('refuse.sh'), paths: ['/w'], env: {...process.env, FAKE_EXIT: '4', FAKE_DETAIL: detail}});
		// eslint-disable-next-line no-await-in-loop
		const error = await t.throwsAsync(supervisor.start(), {instanceOf: LoaderRefusedError});
		t.is(error?.message, expected);
	}
});

test('a missing loader binary fails at once', async t => {
	const supervisor = new Supervisor({loaderPath: '/nonexistent/fim-loader', paths: ['/w']});
	await t.throwsAsync(supervisor.start(), {instanceOf: RuntimeError, message: /cannot start the loader \/nonexistent\/fim-loader: ENOENT/});
});

test('paths added at runtime survive a restart; a vanished one, its directory gone or not, waits to be made again', async t => {
	const clock = new ManualClock();
	const directory = temporaryDirectory();
	const argvLog = join(directory, 'argv.log');
	const supervisor = new Supervisor({
		loaderPath: fixture('canned-loader.mjs'),
		paths: [directory],
		clock,
		env: {...process.env, FAKE_ARGV_LOG: argvLog, FAKE_EVENTS: '0'},
	});
	const hello = await supervisor.start();
	t.is(hello.backend, 'fake');
	const deleted = join(directory, 'deleted');
	const goneParent = join(directory, 'parent');
	const withParent = join(goneParent, 'below');
	mkdirSync(deleted);
	mkdirSync(withParent, {recursive: true});
	await supervisor.addPath('/tmp');
	await supervisor.addPath(deleted);
	await supervisor.addPath(withParent);
	await t.throwsAsync(supervisor.addPath('/definitely/not/here'), {message: /cannot watch \/definitely\/not\/here: \/definitely\/not\/here: No such file/});
	t.deepEqual(supervisor.paths, [directory, '/tmp', deleted, withParent]);
	rmSync(deleted, {recursive: true});
	rmSync(goneParent, {recursive: true});

	// Kill the loader behind the supervisor's back.
	const records: SupervisorRecord[] = [];
	supervisor.on('supervisor', (record: SupervisorRecord) => records.push(record));
	process.kill(hello.pid!, 'SIGKILL');
	const scheduled = await nextEvent<Scheduled>(supervisor, 'restart-scheduled');
	t.is(scheduled.exit, 'killed by SIGKILL');
	clock.advance(scheduled.delayMs);
	const second = await nextEvent<HelloRecord>(supervisor, 'hello');
	const runs = readFileSync(argvLog, 'utf8').trim().split('\n').map(line => JSON.parse(line) as string[]);
	t.deepEqual(runs[1], ['--path', directory, '--path', '/tmp', '--absent-path', deleted, '--absent-path', withParent]);
	t.deepEqual(records.map(record => record.kind), ['restart']);
	t.like(records[0], {kind: 'restart', paths: [directory, '/tmp', deleted, withParent]});

	// made again before the next restart: a path as any other
	mkdirSync(deleted);
	process.kill(second.pid!, 'SIGKILL');
	clock.advance((await nextEvent<Scheduled>(supervisor, 'restart-scheduled')).delayMs);
	await nextEvent(supervisor, 'hello');
	const again = readFileSync(argvLog, 'utf8').trim().split('\n').map(line => JSON.parse(line) as string[]);
	t.deepEqual(again[2], ['--path', directory, '--path', '/tmp', '--path', deleted, '--absent-path', withParent]);

	await supervisor.removePath('/tmp');
	t.deepEqual(supervisor.paths, [directory, deleted, withParent]);
	await supervisor.stop();
});

test('the tuning reaches the loader as its options', async t => {
	const directory = temporaryDirectory();
	const argvLog = join(directory, 'argv.log');
	const supervisor = new Supervisor({
		loaderPath: fixture('canned-loader.mjs'),
		paths: [directory],
		tuning: {coalesceMs: 500, maxDelayUs: 1000, busyDelayUs: 3000, ringbufMb: 32, statsInterval: 2, schedPolicy: 'keep'},
		env: {...process.env, FAKE_ARGV_LOG: argvLog, FAKE_EVENTS: '0'},
	});
	await supervisor.start();
	await supervisor.stop();
	const [argv] = readFileSync(argvLog, 'utf8').trim().split('\n').map(line => JSON.parse(line) as string[]);
	t.deepEqual(argv, ['--path', directory, '--coalesce-ms', '500', '--max-delay-us', '1000', '--busy-delay-us', '3000', '--ringbuf-mb', '32', '--stats-interval', '2', '--sched-policy', 'keep']);
});

test('kernel losses become supervisor records', async t => {
	const supervisor = new Supervisor({loaderPath: fixture('canned-loader.mjs'), paths: ['/w'], env: {...process.env, FAKE_EVENTS: '1', FAKE_LOST: '7'}});
	const record = nextEvent<SupervisorRecord>(supervisor, 'supervisor');
	await supervisor.start();
	t.like(await record, {type: 'supervisor', kind: 'loss', lost: 7});
	await supervisor.stop();
});

test('stopping a loader that ignores SIGTERM ends with SIGKILL after the grace period', async t => {
	const supervisor = new Supervisor({loaderPath: fixture('ignore-sigterm.sh'), paths: ['/w'], stopGraceMs: 300});
	await supervisor.start();
	const started = Date.now();
	let scheduled = false;
	supervisor.on('restart-scheduled', () => {
		scheduled = true;
	});
	await supervisor.stop();
	const elapsed = Date.now() - started;
	t.true(elapsed >= 250, `stopped after ${elapsed} ms`);
	t.true(elapsed < 5000);
	t.false(scheduled);
});

test('a loader stopped cleanly exits 0 with bye and is not restarted', async t => {
	const supervisor = new Supervisor({loaderPath: fixture('canned-loader.mjs'), paths: ['/w']});
	const lines: string[] = [];
	supervisor.on('batch', (batch: ParsedLine[]) => lines.push(...batch.map(line => line.value['type'] as string)));
	await supervisor.start();
	await supervisor.stop();
	await waitUntil(() => lines.includes('bye'));
	t.is(lines.at(-1), 'bye');
});

test('a loader speaking another protocol version is refused', async t => {
	const supervisor = new Supervisor({loaderPath: fixture('canned-loader.mjs'), paths: ['/w'], env: {...process.env, FAKE_PROTOCOL: '2'}});
	await t.throwsAsync(supervisor.start(), {instanceOf: RuntimeError, message: /speaks protocol 2; this fimctl understands protocol 1/});
});

test('a loader that never says hello is killed and restarted', async t => {
	const clock = new ManualClock();
	const supervisor = new Supervisor({loaderPath: fixture('silent.sh'), paths: ['/w'], clock, helloTimeoutMs: 5000});
	const stderr: string[] = [];
	supervisor.on('stderr', (line: string) => stderr.push(line));
	void supervisor.start().catch(() => {});
	t.deepEqual(clock.pending(), [5000]);
	clock.advance(5000);
	const scheduled = await nextEvent<Scheduled>(supervisor, 'restart-scheduled');
	t.is(scheduled.exit, 'killed by SIGKILL');
	t.regex(stderr[0]!, /no hello within 5000 ms/);
	await supervisor.stop();
});
