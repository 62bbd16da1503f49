import {mkdirSync, readdirSync} from 'node:fs';
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
