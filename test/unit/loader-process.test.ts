import {existsSync, mkdirSync, readdirSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {LoaderProcess, type LoaderProcessOptions} from '../../supervisor/src/loader-process.js';
import type {ParsedLine} from '../../supervisor/src/ndjson-parse.js';
import {fixture, temporaryDirectory} from './helpers.js';

/** Runs test/fixtures/stdout-kind.sh to its exit: what its stdout was, and every path it sent. */
async function runStdoutKind(options: Partial<LoaderProcessOptions>, lines: number, pauseFirst = false) {
	const records: Array<Record<string, unknown>> = [];
	const loader = new LoaderProcess({
		loaderPath: fixture('stdout-kind.sh'),
		args: [],
		env: {...process.env, FAKE_LINES: String(lines)},
		onBatch(batch: ParsedLine[]) {
			records.push(...batch.map(line => line.value));
		},
		onMalformed() {},
		onStderrLine() {},
		...options,
	});
	if (pauseFirst) {
		loader.pause();
	}

	const exit = await loader.exited;
	return {exit, kind: records[0]?.['kind'], paths: records.slice(1).map(record => record['path'])};
}

test('the loader writes into a FIFO, read to its last line, and nothing of the FIFO stays on disk', async t => {
	const directory = temporaryDirectory();
	const {exit, kind, paths} = await runStdoutKind({fifoDirectory: directory}, 5000);
	t.is(exit.code, 0);
	t.is(kind, 'fifo');
	t.is(paths.length, 5000);
	t.is(paths.at(-1), '/line-4999');
	t.deepEqual(readdirSync(directory), []);
});

test('without a directory to make the FIFO in, the loader gets a plain pipe and every line still arrives', async t => {
	const {exit, kind, paths} = await runStdoutKind({fifoDirectory: join(temporaryDirectory(), 'missing')}, 5000);
	t.is(exit.code, 0);
	t.is(kind, 'other');
	t.is(paths.length, 5000);
});

test('a loader that exits while its reader is paused is read to the end, so its exit is seen', async t => {
	const directory = temporaryDirectory();
	mkdirSync(join(directory, 'fifo'));
	const {exit, kind, paths} = await runStdoutKind({fifoDirectory: join(directory, 'fifo')}, 50, true);
	t.is(exit.code, 0);
	t.is(kind, 'fifo');
	t.is(paths.length, 50);
});

/** Starts test/fixtures/slow-teardown.sh and waits for its hello; resolves with it and its marker. */
async function startSlowTeardown(env: Record<string, string>) {
	const marker = join(temporaryDirectory(), 'exited');
	let sawHello!: () => void;
	const hello = new Promise<void>(resolve => {
		sawHello = resolve;
	});
	const loader = new LoaderProcess({
		loaderPath: fixture('slow-teardown.sh'),
		args: [],
		env: {...process.env, FAKE_MARKER: marker, ...env},
		onBatch(batch: ParsedLine[]) {
			if (batch.some(line => line.value['type'] === 'hello')) {
				sawHello();
			}
		},
		onMalformed() {},
		onStderrLine() {},
	});
	await hello;
	return {loader, marker};
}

const realTimer = (callback: () => void, ms: number) => {
	const handle = setTimeout(callback, ms);
	return () => {
		clearTimeout(handle);
	};
};

test('stopping a loader that said bye and closed its stdout does not wait out its teardown', async t => {
	const {loader, marker} = await startSlowTeardown({FAKE_TEARDOWN_S: '4'});
	const exit = await loader.stop(10_000, realTimer);
	t.false(existsSync(marker), 'stop() returned before the loader exited');
	t.like(exit, {saidBye: true, exiting: true});
	const real = await loader.exited;
	t.true(existsSync(marker));
	t.like(real, {code: 0, saidBye: true});
});

test('stopping a loader that closed its stdout without a bye waits for its exit', async t => {
	const {loader, marker} = await startSlowTeardown({FAKE_TEARDOWN_S: '1', FAKE_NO_BYE: '1'});
	const exit = await loader.stop(10_000, realTimer);
	t.true(existsSync(marker), 'stop() returned after the loader exited');
	t.like(exit, {code: 0, saidBye: false});
});
