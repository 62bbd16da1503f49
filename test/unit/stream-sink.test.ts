import {spawn} from 'node:child_process';
import {Writable} from 'node:stream';
import test from 'ava';
import {createStreamSink} from '../../supervisor/src/stream-sink.js';
import {fixture} from './helpers.js';

/** Runs the writer with its stdout on a pipe; the reader starts reading after `stallMs`. */
async function runWriter(lines: number, stallMs: number, {stopAfterBytes = Number.POSITIVE_INFINITY, ignoreDrain = false} = {}): Promise<{text: string; stderr: string; code: number | null}> {
	const env = {...process.env, LINES: String(lines), ...(ignoreDrain ? {IGNORE_DRAIN: '1'} : {})};
	const child = spawn(process.execPath, [fixture('stdout-writer.mjs')], {env, stdio: ['ignore', 'pipe', 'pipe']});
	let stderr = '';
	child.stderr.setEncoding('utf8');
	child.stderr.on('data', (chunk: string) => {
		stderr += chunk;
	});
	const chunks: Buffer[] = [];
	let bytes = 0;
	child.stdout.pause();
	setTimeout(() => {
		child.stdout.on('data', (chunk: Buffer) => {
			chunks.push(chunk);
			bytes += chunk.length;
			if (bytes >= stopAfterBytes) {
				child.stdout.destroy();
			}
		});
		child.stdout.resume();
	}, stallMs);
	const code = await new Promise<number | null>(resolve => child.on('close', resolve));
	return {text: Buffer.concat(chunks).toString('utf8'), stderr, code};
}

for (const ignoreDrain of [false, true]) {
	test(`stdout on a pipe: every line in order, through a reader that stalls and then catches up${ignoreDrain ? ', from a writer that does not wait for drain' : ''}`, async t => {
		// 2 MB: far more than a pipe holds, so that writes find it full, partly full, then empty
		// again; without waiting for drain, writes come while the stream still holds earlier ones.
		const {text, stderr, code} = await runWriter(2000, 300, {ignoreDrain});
		t.is(code, 0);
		t.is(stderr, 'done\n');
		const numbers = text.split('\n').filter(line => line.length > 0).map(line => Number(line.split(' ')[0]));
		t.is(numbers.length, 2000);
		t.true(numbers.every((n, index) => n === index), 'in order, none twice');
	});
}

test('stdout on a pipe whose reader goes away: closed, not an error', async t => {
	const {stderr, code} = await runWriter(100_000, 100, {stopAfterBytes: 200_000});
	t.is(code, 0);
	t.is(stderr, 'closed\n');
});

test('end() waits for what the stream still holds after a write that did not ask for a drain', async t => {
	const written: string[] = [];
	let complete: (() => void) | undefined;
	// The first write completes when the test says so, later ones at once.
	const stream = new Writable({
		highWaterMark: 1024,
		write(chunk: Buffer, _encoding, callback) {
			const done = () => {
				written.push(chunk.toString());
				callback();
			};

			if (complete) {
				done();
			} else {
				complete = done;
			}
		},
	});
	const sink = createStreamSink(stream, 'test');
	t.true(sink.write(Buffer.from('short\n')), 'below the high-water mark: no drain will come');
	let ended = false;
	const end = sink.end().then(() => {
		ended = true;
	});
	await new Promise(resolve => setImmediate(resolve));
	t.false(ended, 'the line is still in the stream');
	complete!();
	await Promise.race([end, new Promise(resolve => setTimeout(resolve, 2000))]);
	t.true(ended);
	t.is(written.join(''), 'short\n');
});
