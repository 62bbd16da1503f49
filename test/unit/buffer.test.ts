import {EventEmitter} from 'node:events';
import {readdirSync, readFileSync, truncateSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {PassThrough} from 'node:stream';
import test, {type ExecutionContext} from 'ava';
import {parseBufferConfig, SinkBuffer, SpoolQueue, type BufferEntry, type SinkBufferOptions} from '../../supervisor/src/buffer.js';
import {ManualClock} from '../../supervisor/src/clock.js';
import {ConfigError} from '../../supervisor/src/errors.js';
import {bufferEntryOf, WhoDataMonitor, type MonitorBatchItem} from '../../supervisor/src/monitor.js';
import {createStreamSink, type StreamSink as Sink} from '../../supervisor/src/stream-sink.js';
import {fixture, temporaryDirectory, waitUntil} from './helpers.js';

/** A sink that takes what it is told to, and remembers every write (as text). */
class FakeSink extends EventEmitter {
	accepting = true;
	readonly writes: string[] = [];

	write(bytes: Uint8Array): boolean {
		this.writes.push(Buffer.from(bytes).toString('utf8'));
		return this.accepting;
	}

	async end(): Promise<void> {}

	drain(): void {
		this.accepting = true;
		this.emit('drain');
	}

	lines(): string[] {
		return this.writes.join('').split('\n').filter(line => line.length > 0);
	}

	records(): Array<Record<string, unknown>> {
		return this.lines().map(line => JSON.parse(line) as Record<string, unknown>);
	}
}

function entries(from: number, to: number): BufferEntry[] {
	const made: BufferEntry[] = [];
	for (let n = from; n < to; n++) {
		made.push({line: `${JSON.stringify({n, path: `/w/f${n}`})}\n`, path: `/w/f${n}`});
	}

	return made;
}

function numbers(sink: FakeSink): number[] {
	return sink.records().filter(record => typeof record['n'] === 'number').map(record => record['n'] as number);
}

function range(from: number, to: number): number[] {
	return Array.from({length: to - from}, (_, index) => from + index);
}

function open(sink: FakeSink | Sink, options: Partial<SinkBufferOptions> = {}): SinkBuffer {
	return SinkBuffer.open(sink as Sink, {
		id: 'out',
		type: 'disk',
		max_events: 100,
		max_size: 1024 * 1024,
		when_full: 'drop_newest',
		renderGap: record => `${JSON.stringify(record)}\n`,
		writeBytes: 1000,
		...options,
	});
}

/**
 * A buffer whose sink took the first of `count` records and then asked to wait: the others
 * are held, or discarded past the bounds in `options`.
 */
function behindBuffer(options: Partial<SinkBufferOptions>, count: number): {sink: FakeSink; buffer: SinkBuffer} {
	const sink = new FakeSink();
	sink.accepting = false;
	const buffer = open(sink, options);
	buffer.push(entries(0, 1));
	buffer.push(entries(1, count));
	return {sink, buffer};
}

/**
 * Lets a sink that fell behind with `total` records take what was kept: the first ones in
 * order, then the gap record of the `discarded` others.
 */
async function drainKeptThenGap(t: ExecutionContext, sink: FakeSink, total: number, discarded: number): Promise<{records: Array<Record<string, unknown>>; kept: number}> {
	sink.drain();
	await settle();
	const records = sink.records();
	const kept = total - discarded;
	t.deepEqual(numbers(sink), range(0, kept));
	t.like(records[kept], {kind: 'discard', discarded});
	return {records, kept};
}

/** Lets scheduled pumps run. */
async function settle(): Promise<void> {
	for (let round = 0; round < 50; round++) {
		// eslint-disable-next-line no-await-in-loop
		await new Promise(resolve => {
			setImmediate(resolve);
		});
	}
}

test('a sink that keeps up gets each batch in one write, in order', t => {
	const sink = new FakeSink();
	const buffer = open(sink, {writeBytes: 1_000_000});
	t.true(buffer.push(entries(0, 50)));
	t.true(buffer.push(entries(50, 60)));
	t.is(sink.writes.length, 2);
	t.deepEqual(numbers(sink), range(0, 60));
	t.like(buffer.stats(), {memory_events: 0, spool_bytes: 0, sent_total: 60, discarded_total: 0});
});

test('lines beyond ASCII reach a real stream as their exact UTF-8 bytes', async t => {
	const stream = new PassThrough();
	const sink = createStreamSink(stream, 'pipe');
	const buffer = open(sink, {spoolDirectory: temporaryDirectory()});
	const lines = ['{"path":"/w/caf\u00e9"}\n', '{"path":"/w/\u{1f600}\u6587"}\n', '{"path":"/w/plain"}\n'];
	buffer.push(lines.map(line => ({line})));
	const chunks: Buffer[] = [];
	stream.on('data', (chunk: Buffer) => chunks.push(chunk));
	await settle();
	t.is(Buffer.concat(chunks).toString('utf8'), lines.join(''));
	t.deepEqual(Buffer.concat(chunks), Buffer.from(lines.join(''), 'utf8'));
});

test('a stopped sink: memory up to max_events, then the spool, then everything in order on drain', async t => {
	const directory = temporaryDirectory();
	const sink = new FakeSink();
	sink.accepting = false;
	const buffer = open(sink, {spoolDirectory: directory});
	t.true(buffer.push(entries(0, 10)));
	for (let n = 10; n < 5000; n += 70) {
		t.true(buffer.push(entries(n, Math.min(n + 70, 5000))));
	}

	const stats = buffer.stats();
	t.is(stats.memory_events, 100);
	t.true(stats.spool_bytes > 0);
	t.true(stats.spool_files >= 1);
	t.is(stats.discarded_total, 0);
	t.true(readdirSync(directory).some(name => name.endsWith('.spool')));
	sink.drain();
	await settle();
	t.deepEqual(numbers(sink), range(0, 5000));
	t.like(buffer.stats(), {memory_events: 0, spool_bytes: 0, spool_files: 0, sent_total: 5000, discarded_total: 0});
	t.true(buffer.stats().memory_events_peak <= 100);
	t.deepEqual(readdirSync(directory), [], 'read segments are deleted');
});

test('records longer than a read of the spool come back whole and in order', async t => {
	const directory = temporaryDirectory();
	const sink = new FakeSink();
	sink.accepting = false;
	const buffer = open(sink, {spoolDirectory: directory, max_events: 2, max_size: 8 * 1024 * 1024});
	const long = (n: number, kib: number): BufferEntry => {
		const path = `/w/${'x'.repeat(kib * 1024)}${n}`;
		return {line: `${JSON.stringify({n, path})}\n`, path};
	};

	// Around the spool's read size (256 KiB): below, across and well past it, between short ones.
	buffer.push([...entries(0, 3), long(3, 200), long(4, 300), ...entries(5, 7), long(7, 700), long(8, 255), ...entries(9, 12)]);
	t.true(buffer.stats().spool_bytes > 900 * 1024, "the long ones are in the spool");
	sink.drain();
	await settle();
	t.deepEqual(numbers(sink), range(0, 12));
	t.is(sink.records().find(record => record['n'] === 7)?.['path'], `/w/${'x'.repeat(700 * 1024)}7`);
	t.like(buffer.stats(), {spool_bytes: 0, discarded_total: 0});
});

test('records pushed while the spool drains still come after it', async t => {
	const sink = new FakeSink();
	sink.accepting = false;
	const buffer = open(sink, {spoolDirectory: temporaryDirectory(), max_events: 10});
	buffer.push(entries(0, 200));
	// The sink takes one write, then stops again: part of the spool is in memory, part on disk.
	sink.write = function (bytes: Uint8Array) {
		this.writes.push(Buffer.from(bytes).toString('utf8'));
		return false;
	};

	sink.emit('drain');
	buffer.push(entries(200, 210));
	sink.write = FakeSink.prototype.write;
	sink.drain();
	await settle();
	t.deepEqual(numbers(sink), range(0, 210));
});

test('memory only, full: newest records are discarded, counted, and a gap record names them', async t => {
	const sink = new FakeSink();
	sink.accepting = false;
	const warnings: string[] = [];
	const buffer = open(sink, {type: 'memory', max_events: 20, onWarning: message => warnings.push(message)});
	const discards: unknown[] = [];
	buffer.on('discard', info => discards.push(info));
	buffer.push(entries(0, 1));
	buffer.push(entries(1, 30));
	t.like(buffer.stats(), {memory_events: 20, discarded_total: 9});
	t.is(discards.length, 1);
	t.is(warnings.length, 1);
	t.regex(warnings[0]!, /sink out: buffer full \(memory full\)/);
	sink.drain();
	buffer.push(entries(30, 35));
	await settle();
	const records = sink.records();
	t.deepEqual(numbers(sink), [...range(0, 21), ...range(30, 35)]);
	const gapIndex = records.findIndex(record => record['type'] === 'supervisor');
	t.is(gapIndex, 21, 'the gap record stands where the discarded records were');
	t.like(records[gapIndex], {kind: 'discard', sink: 'out', discarded: 9, paths: range(21, 30).map(n => `/w/f${n}`)});
	t.true((records[gapIndex]!['gap_start'] as number) <= (records[gapIndex]!['gap_end'] as number));
});

test('a sink that keeps falling behind: every discard run is counted, the warning comes once a minute', t => {
	const sink = new FakeSink();
	sink.accepting = false;
	const clock = new ManualClock(0);
	const warnings: string[] = [];
	const buffer = open(sink, {type: 'memory', max_events: 5, clock, onWarning: message => warnings.push(message)});
	const discards: unknown[] = [];
	buffer.on('discard', info => discards.push(info));
	const fallBehindOnce = (from: number) => {
		buffer.push(entries(from, from + 1)); // the sink takes it, then wants to wait
		buffer.push(entries(from + 1, from + 11)); // 5 kept, 5 discarded
		sink.drain();
		sink.accepting = false;
		clock.advance(20_000);
	};

	fallBehindOnce(0);
	fallBehindOnce(11);
	fallBehindOnce(22);
	t.is(discards.length, 3, 'three runs of discards');
	t.is(warnings.length, 1);
	fallBehindOnce(33);
	t.is(discards.length, 4);
	t.is(warnings.length, 2, 'a minute later');
	t.regex(warnings[1]!, /sink out: buffer full \(memory full\).*\(2 similar message\(s\) suppressed\)/);
	t.is(buffer.stats().discarded_total, 20);
});

test('memory and spool full: counted discards, and the gap record follows what was kept', async t => {
	const {sink, buffer} = behindBuffer({spoolDirectory: temporaryDirectory(), max_events: 10, max_size: 2000}, 200);
	const {discarded_total: discarded, spool_bytes: spoolBytes} = buffer.stats();
	t.true(discarded > 100);
	t.true(spoolBytes <= 2000);
	const {records, kept} = await drainKeptThenGap(t, sink, 200, discarded);
	t.is((records[kept]!['paths'] as string[]).length, 100, 'at most 100 paths');
	t.is(records[kept]!['paths_omitted'], discarded - 100);
});

test('when_full block: push says stop when full, keeps what comes anyway, and drains', async t => {
	const sink = new FakeSink();
	sink.accepting = false;
	const buffer = open(sink, {type: 'memory', max_events: 20, when_full: 'block'});
	t.true(buffer.push(entries(0, 10)));
	t.true(buffer.push(entries(10, 30)), 'memory holds 20');
	t.false(buffer.push(entries(30, 35)));
	t.false(buffer.push(entries(35, 40)), 'batches read before the source paused are kept');
	t.is(buffer.stats().discarded_total, 0);
	const drained = new Promise(resolve => buffer.once('drain', resolve));
	sink.drain();
	await drained;
	await settle();
	t.deepEqual(numbers(sink), range(0, 40));
});

test('when_full block with a full spool: what comes anyway leaves after the spool, in order', async t => {
	const sink = new FakeSink();
	sink.accepting = false;
	const buffer = open(sink, {spoolDirectory: temporaryDirectory(), max_events: 20, max_size: 2000, when_full: 'block'});
	let pushed = 0;
	while (buffer.push(entries(pushed, pushed + 5))) {
		pushed += 5;
	}

	pushed += 5;
	t.true(buffer.stats().spooled_total > 0, 'memory, then the spool, filled up');
	t.false(buffer.push(entries(pushed, pushed + 5)), 'a batch read before the source paused');
	pushed += 5;
	const drained = new Promise(resolve => buffer.once('drain', resolve));
	sink.drain();
	await drained;
	await waitUntil(() => numbers(sink).length >= pushed);
	t.deepEqual(numbers(sink), range(0, pushed));
	t.is(buffer.stats().discarded_total, 0);
});

test('close with a stuck sink keeps memory and spool for the next start, which delivers them first', async t => {
	const directory = temporaryDirectory();
	const first = new FakeSink();
	first.accepting = false;
	const before = open(first, {spoolDirectory: directory, max_events: 50});
	before.push(entries(0, 1));
	before.push(entries(1, 300));
	t.deepEqual(await before.close(100), {spooled: 50, discarded: 0});

	const second = new FakeSink();
	const after = open(second, {spoolDirectory: directory, max_events: 50});
	after.push(entries(300, 310));
	await settle();
	t.deepEqual(numbers(first), [0], 'the first batch went straight to the sink');
	t.deepEqual(numbers(second), range(1, 310));
	t.deepEqual(readdirSync(directory), []);
	t.deepEqual(await after.close(100), {spooled: 0, discarded: 0});
});

test('a spool read halfway at close resumes where it stopped', async t => {
	const directory = temporaryDirectory();
	const first = new FakeSink();
	first.accepting = false;
	const before = open(first, {spoolDirectory: directory, max_events: 10});
	before.push(entries(0, 100));
	// One write of 10 records is taken, then the sink stops again.
	first.write = function (bytes: Uint8Array) {
		this.writes.push(Buffer.from(bytes).toString('utf8'));
		return false;
	};

	first.emit('drain');
	const delivered = numbers(first);
	t.true(delivered.length > 0 && delivered.length < 100);
	await before.close(50);

	const second = new FakeSink();
	open(second, {spoolDirectory: directory, max_events: 10});
	await settle();
	t.deepEqual([...delivered, ...numbers(second)], range(0, 100), 'no record twice, none missing');
});

test('without a spool, close counts what the sink never took as discarded', async t => {
	const {buffer} = behindBuffer({type: 'memory'}, 40);
	t.deepEqual(await buffer.close(20), {spooled: 0, discarded: 39});
	t.is(buffer.stats().discarded_total, 39);
});

test('a damaged spool segment: the readable part is delivered, the rest is a gap record', async t => {
	const directory = temporaryDirectory();
	const first = new FakeSink();
	first.accepting = false;
	const before = open(first, {spoolDirectory: directory, max_events: 5});
	before.push(entries(0, 1));
	before.push(entries(1, 30));
	await before.close(10);
	const [segment] = readdirSync(directory).filter(name => name.endsWith('.spool')).sort().slice(-1);
	const path = join(directory, segment!);
	truncateSync(path, readFileSync(path).length - 3);

	const warnings: string[] = [];
	const second = new FakeSink();
	open(second, {spoolDirectory: directory, max_events: 5, onWarning: message => warnings.push(message)});
	await settle();
	const records = second.records();
	t.deepEqual([...numbers(first), ...numbers(second)], range(0, 29));
	t.like(records.at(-1), {type: 'supervisor', kind: 'discard', sink: 'out'});
	t.true((records.at(-1)!['discarded_bytes'] as number) > 0);
	t.regex(warnings.join('\n'), /is damaged \(it ends inside a record/);
});

test('a spool directory that cannot be made: memory only, said once', t => {
	const file = join(temporaryDirectory(), 'a-file');
	writeFileSync(file, '');
	const warnings: string[] = [];
	const {buffer} = behindBuffer({spoolDirectory: join(file, 'spool'), max_events: 5, onWarning: message => warnings.push(message)}, 20);
	t.is(buffer.stats().discarded_total, 14);
	t.is(warnings.length, 2);
	t.regex(warnings[0]!, /cannot use the spool directory/);
});

test('through a real stream: bounded memory while the reader is stopped, all lines in order after', async t => {
	const stream = new PassThrough({highWaterMark: 4096});
	const sink = createStreamSink(stream, 'pipe');
	const buffer = open(sink, {spoolDirectory: temporaryDirectory(), max_events: 50, writeBytes: 8192});
	for (let n = 0; n < 20_000; n += 100) {
		buffer.push(entries(n, n + 100));
	}

	t.true(stream.writableLength < 4096 + 8192, 'the stream holds at most its mark and one write');
	t.true(buffer.stats().memory_events <= 50);
	let text = '';
	stream.setEncoding('utf8');
	stream.on('data', (chunk: string) => {
		text += chunk;
	});
	await new Promise<void>(resolve => {
		const check = (): void => {
			if (buffer.stats().sent_total === 20_000 && stream.readableLength === 0) {
				resolve();
			} else {
				setTimeout(check, 5);
			}
		};

		check();
	});
	const got = text.split('\n').filter(line => line.length > 0).map(line => (JSON.parse(line) as {n: number}).n);
	t.deepEqual(got, range(0, 20_000));
});

test('SpoolQueue, pulled by a sink loop: batches in order, timestamps kept through the spool', t => {
	const queue = SpoolQueue.open({
		id: 'http', type: 'disk', max_events: 3, max_size: 1 << 20, when_full: 'drop_newest',
		spoolDirectory: temporaryDirectory(), renderGap: record => JSON.stringify(record),
	});
	const readable: number[] = [];
	queue.on('readable', () => readable.push(1));
	queue.push([0, 1, 2, 3, 4, 5, 6].map(n => ({line: `line ${n}`, timestamp: 1_764_000_000_000_000_000 + n})));
	t.is(readable.length, 1);
	t.like(queue.stats(), {memory_events: 3, spool_files: 1});
	const first = queue.shift(2);
	t.deepEqual(first.map(entry => entry.line), ['line 0', 'line 1']);
	t.is(first[0]!.timestamp, 1_764_000_000_000_000_000);
	const rest = queue.shift(100, 16);
	t.deepEqual(rest.map(entry => entry.line), ['line 2', 'line 3', 'line 4'], 'stops once maxBytes is reached');
	t.deepEqual(queue.shift(100).map(entry => [entry.line, entry.timestamp]), [['line 5', 1_764_000_000_000_000_005], ['line 6', 1_764_000_000_000_000_006]]);
	t.true(queue.empty);
	t.deepEqual(queue.shift(10), []);
	t.deepEqual(queue.close(), {spooled: 0, discarded: 0});
});

test('buffer config: Vector words, checked', t => {
	t.like(parseBufferConfig(undefined, 'sinks.out.buffer'), {type: 'disk', max_events: 10_000, when_full: 'drop_newest'});
	t.like(parseBufferConfig({max_events: 5, when_full: 'block', type: 'memory'}, 'sinks.out.buffer'), {type: 'memory', max_events: 5, when_full: 'block'});
	t.throws(() => parseBufferConfig({max_event: 5}, 'sinks.out.buffer'), {instanceOf: ConfigError, message: /unknown key 'sinks.out.buffer.max_event'/});
	t.throws(() => parseBufferConfig({when_full: 'drop_oldest'}, 'sinks.out.buffer'), {message: /when_full: expected block or drop_newest/});
	t.throws(() => parseBufferConfig({max_size: 0}, 'sinks.out.buffer'), {message: /max_size: expected a positive integer/});
	t.throws(() => parseBufferConfig('big', 'sinks.out.buffer'), {message: /expected a map/});
});

test('a full buffer never discards a supervisor record: it follows the gap record of what went before it, uncounted', async t => {
	const {sink, buffer} = behindBuffer({type: 'memory', max_events: 20}, 30);
	const loss = {type: 'supervisor', kind: 'loss', lost: 7};
	buffer.push([{line: `${JSON.stringify(loss)}\n`, origin: 'supervisor'}]);
	buffer.push(entries(30, 35));
	t.like(buffer.stats(), {discarded_total: 14});
	sink.drain();
	await settle();
	const records = sink.records();
	t.deepEqual(numbers(sink), range(0, 21));
	t.like(records[21], {kind: 'discard', discarded: 9});
	t.deepEqual(records[22], loss);
	t.like(records[23], {kind: 'discard', discarded: 5});
	t.is(records.length, 24);
});

test('with the spool full, a supervisor record goes to the spool past its bound, in its place', async t => {
	const {sink, buffer} = behindBuffer({spoolDirectory: temporaryDirectory(), max_events: 10, max_size: 2000}, 200);
	const discarded = buffer.stats().discarded_total;
	buffer.push([{line: '{"type":"supervisor","kind":"restart"}\n', origin: 'supervisor'}]);
	t.is(buffer.stats().discarded_total, discarded);
	const {records, kept} = await drainKeptThenGap(t, sink, 200, discarded);
	t.like(records[kept + 1], {type: 'supervisor', kind: 'restart'});
});

test('discarded changes found by reconciliation are counted apart from the kernel\'s events', async t => {
	const {sink, buffer} = behindBuffer({type: 'memory', max_events: 5}, 6);
	buffer.push(entries(6, 9).map(entry => ({...entry, origin: 'reconcile' as const})));
	buffer.push(entries(9, 10));
	t.like(buffer.stats(), {discarded_total: 4, discarded_reconciled_total: 3});
	sink.drain();
	await settle();
	const gap = sink.records().find(record => record['kind'] === 'discard');
	t.like(gap, {discarded: 4, discarded_reconciled: 3});
	t.regex(gap!['message'] as string, /4 record\(s\) discarded .*, 3 of them found by reconciliation/);
});

test('a discard record gives the bytes of the paths that are not UTF-8 in paths_b64, and tells apart names that read alike', async t => {
	const {sink, buffer} = behindBuffer({type: 'memory', max_events: 5}, 6);
	const names = [Buffer.from('/w/b\xFF', 'latin1'), Buffer.from('/w/b\xFE', 'latin1')];
	const items: MonitorBatchItem[] = [
		...names.map(name => ({record: {} as MonitorBatchItem['record'], json: '{}', path: name.toString('utf8'), old_path: null, path_b64: name.toString('base64')})),
		{record: {} as MonitorBatchItem['record'], json: '{}', path: '/w/ok', old_path: null},
	];
	buffer.push(items.map(item => bufferEntryOf(item, `${JSON.stringify({path: item.path})}\n`)));
	sink.drain();
	await settle();
	const gap = sink.records().find(record => record['kind'] === 'discard');
	t.deepEqual(gap?.['paths'], ['/w/b\uFFFD', '/w/b\uFFFD', '/w/ok']);
	t.deepEqual(gap?.['paths_b64'], [...names.map(name => name.toString('base64')), null]);
});

test('a discard record of UTF-8 paths only has no paths_b64', async t => {
	const {sink, buffer} = behindBuffer({type: 'memory', max_events: 5}, 6);
	buffer.push(entries(6, 8));
	sink.drain();
	await settle();
	const gap = sink.records().find(record => record['kind'] === 'discard');
	t.deepEqual(gap?.['paths'], ['/w/f6', '/w/f7']);
	t.false('paths_b64' in gap!);
});

test('a monitor feeding a full buffer: the loss record gets through, and every event is delivered or counted once', async t => {
	// A reader already behind: the buffer is full before the monitor starts.
	const {sink, buffer} = behindBuffer({type: 'memory', max_events: 5}, 6);
	const monitor = await WhoDataMonitor.create({paths: [temporaryDirectory()], loaderPath: fixture('canned-loader.mjs'), env: {...process.env, FAKE_EVENTS: '30', FAKE_LOST: '7'}, enrich: false});
	// As `fimctl start` feeds its stdout.
	monitor.on('batch', (items: MonitorBatchItem[]) => buffer.push(items.map(item => bufferEntryOf(item, `${item.json}\n`))));
	await waitUntil(() => monitor.counters.events_lost_total === 7);
	await monitor.close();
	sink.drain();
	await settle();
	const records = sink.records();
	const delivered = records.filter(record => typeof record['operation'] === 'string').length;
	const sum = (kind: string, field: string): number => records.filter(record => record['kind'] === kind).reduce((total, record) => total + (record[field] as number), 0);
	t.deepEqual(numbers(sink), range(0, 6));
	t.is(sum('loss', 'lost'), 7);
	t.is(delivered + sum('discard', 'discarded') + sum('loss', 'lost'), 30 + 7);
});
