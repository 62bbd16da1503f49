import test from 'ava';
import {ManualClock} from '../../supervisor/src/clock.js';
import type {DeliveryQueue, DeliveryQueueOptions} from '../../supervisor/src/delivery-queue.js';
import type {WhenFull} from '../../supervisor/src/buffer.js';
import {SinkError, type SendOutcome, type Sink, type SinkEntry} from '../../supervisor/src/sinks.js';
import {memoryDeliveryQueue} from './helpers.js';

/** A sink whose sends stay open until the test settles them. */
class ScriptedSink implements Sink {
	readonly id = 'scripted';
	readonly type = 'test';
	readonly target = 'memory';
	readonly batches: string[][] = [];
	private settle: Array<{resolve: (outcome?: SendOutcome) => void; reject: (error: Error) => void}> = [];

	async send(entries: readonly SinkEntry[]): Promise<SendOutcome | void> {
		this.batches.push(entries.map(entry => entry.line));
		return new Promise((resolve, reject) => {
			this.settle.push({resolve, reject});
		});
	}

	async close(): Promise<void> {}

	succeed(outcome?: SendOutcome): void {
		this.settle.shift()!.resolve(outcome);
	}

	fail(retryable = true): void {
		this.settle.shift()!.reject(new SinkError('receiver down', {retryable}));
	}

	get waiting(): number {
		return this.settle.length;
	}
}

const lines = (...names: string[]): SinkEntry[] => names.map(line => ({line}));
const tick = async (): Promise<void> => new Promise(resolve => {
	setImmediate(resolve);
});

function setup(options: Partial<DeliveryQueueOptions> & {maxEvents?: number; whenFull?: WhenFull} = {}): {clock: ManualClock; sink: ScriptedSink; queue: DeliveryQueue} {
	const clock = new ManualClock();
	const sink = new ScriptedSink();
	const queue = memoryDeliveryQueue(sink, {maxEvents: 100, batchMaxEvents: 3, retryInitialMs: 100, retryMaxMs: 400, clock, ...options});
	return {clock, sink, queue};
}

test('one batch in flight at a time, in order, at most batchMaxEvents each', async t => {
	const {sink, queue} = setup();
	queue.enqueue(lines('a', 'b', 'c', 'd', 'e'));
	t.deepEqual(sink.batches, [['a', 'b', 'c']]);
	queue.enqueue(lines('f'));
	t.is(sink.batches.length, 1);
	sink.succeed();
	await tick();
	t.deepEqual(sink.batches[1], ['d', 'e', 'f']);
	sink.succeed();
	await tick();
	t.is(queue.size, 0);
	t.like(queue.counters, {events_received_total: 6, events_sent_total: 6, events_discarded_total: 0});
});

test('a failed batch is sent again, whole and first, after a doubling backoff', async t => {
	const {clock, sink, queue} = setup();
	const failing: string[] = [];
	queue.on('failing', (message: string) => failing.push(message));
	let recovered = 0;
	queue.on('recovered', (failures: number) => {
		recovered = failures;
	});
	queue.enqueue(lines('a', 'b'));
	sink.fail();
	await tick();
	queue.enqueue(lines('c'));
	t.is(sink.batches.length, 1, 'nothing is sent during the backoff');
	t.deepEqual(clock.pending(), [100]);
	clock.advance(100);
	t.deepEqual(sink.batches[1], ['a', 'b']);
	sink.fail();
	await tick();
	t.deepEqual(clock.pending(), [200]);
	clock.advance(200);
	sink.fail();
	await tick();
	clock.advance(400);
	sink.fail();
	await tick();
	t.deepEqual(clock.pending(), [400], 'capped at retryMaxMs');
	clock.advance(400);
	sink.succeed();
	await tick();
	t.deepEqual(sink.batches.at(-1), ['c']);
	t.deepEqual(failing, ['receiver down']);
	t.is(recovered, 4);
	t.is(queue.counters.retries_total, 4);
});

test('drop_newest: past the bound new entries are counted and discarded, and a gap record takes their place', async t => {
	const {sink, queue} = setup({maxEvents: 4, batchMaxEvents: 2});
	queue.enqueue(lines('a', 'b', 'c', 'd', 'e', 'f'));
	t.is(queue.counters.events_discarded_total, 2);
	sink.succeed();
	await tick();
	sink.succeed();
	await tick();
	sink.succeed();
	await tick();
	t.deepEqual(sink.batches.slice(0, 2), [['a', 'b'], ['c', 'd']]);
	const gap = JSON.parse(sink.batches[2]![0]!) as {type: string; kind: string; sink: string; discarded: number};
	t.like(gap, {type: 'supervisor', kind: 'discard', sink: 'scripted', discarded: 2});
});

test('block: full and space events, nothing dropped', async t => {
	const {sink, queue} = setup({maxEvents: 4, whenFull: 'block', batchMaxEvents: 1});
	const events: string[] = [];
	queue.on('full', () => events.push('full'));
	queue.on('space', () => events.push('space'));
	queue.enqueue(lines('a', 'b', 'c', 'd', 'e', 'f'));
	t.deepEqual(events, ['full']);
	t.is(queue.size, 6);
	for (let i = 0; i < 5; i++) {
		sink.succeed();
		// eslint-disable-next-line no-await-in-loop
		await tick();
	}

	t.deepEqual(events, ['full', 'space']);
	t.is(queue.counters.events_discarded_total, 0);
});

test('a batch waits for batchTimeoutMs or batchMaxEvents, and drain() sends it at once', async t => {
	const {clock, sink, queue} = setup({batchTimeoutMs: 1000});
	queue.enqueue(lines('a'));
	t.is(sink.batches.length, 0);
	clock.advance(999);
	t.is(sink.batches.length, 0);
	clock.advance(1);
	t.deepEqual(sink.batches, [['a']]);
	sink.succeed();
	await tick();
	queue.enqueue(lines('b', 'c', 'd'));
	t.deepEqual(sink.batches[1], ['b', 'c', 'd'], 'a full batch does not wait');
	sink.succeed();
	await tick();
	queue.enqueue(lines('e'));
	const drained = queue.drain(5000);
	await tick();
	t.deepEqual(sink.batches[2], ['e']);
	sink.succeed();
	await drained;
	t.is(queue.size, 0);
});

test('partial outcomes: refused entries are discarded, the rest retried; a fatal error is reported', async t => {
	const {clock, sink, queue} = setup();
	const rejected: number[] = [];
	queue.on('rejected', (count: number) => rejected.push(count));
	queue.enqueue(lines('a', 'b', 'c'));
	sink.succeed({rejected: 1, retry: [{line: 'c'}]});
	await tick();
	clock.advance(100);
	t.deepEqual(sink.batches[1], ['c']);
	sink.succeed();
	await tick();
	t.deepEqual(rejected, [1]);
	t.like(queue.counters, {events_sent_total: 2, events_discarded_total: 1});

	const fatal: SinkError[] = [];
	queue.on('fatal', (error: SinkError) => fatal.push(error));
	queue.enqueue(lines('d', 'e'));
	sink.fail(false);
	await tick();
	t.is(fatal.length, 1);
	t.is(queue.size, 0, 'a sink that cannot go on holds nothing');
	t.is(queue.counters.events_discarded_total, 3, 'the refused one, then the two held');
	await queue.drain(5000);
	t.true(queue.idle);
});
