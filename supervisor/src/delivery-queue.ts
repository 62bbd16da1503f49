import {EventEmitter} from 'node:events';
import {systemClock, type Clock, type TimerHandle} from './clock.js';
import {errorText, SinkError, type SendOutcome, type Sink, type SinkEntry} from './sinks.js';

/**
 * The bounded buffer in front of one sink, and the loop that feeds it.
 *
 *   enqueue ─► [ pending ............ ] ─► [ in flight ] ─► sink.send()
 *              └──────── max_events bounds both ────────┘       │
 *                                   retry after backoff ◄───────┘ (retryable failure)
 *
 * - One batch is in flight at a time, so entries reach the sink in the order they came.
 * - A batch leaves when it has `batchMaxEvents` entries or `batchMaxBytes`, or `batchTimeoutMs`
 *   after its first entry came (0: as soon as the sink is free).
 * - A retryable failure sends the same batch again after a backoff (doubling up to a maximum):
 *   nothing is dropped for a receiver that is down, only delayed, until the buffer is full.
 * - Full: `block` says so ('full', then 'space'), and the pipeline pauses the loader; for
 *   `drop_newest` the new entries are discarded and counted, and once there is room again the
 *   owner is told how many and when ('dropped'), so that it can say so downstream.
 *
 * Events: 'full', 'space', 'dropped' ({count, firstMs, lastMs}), 'delivered' (entries),
 * 'failing' (message: first failure of a run), 'recovered' (failures: number), 'fatal' (SinkError).
 */

export type WhenFull = 'block' | 'drop_newest';

export type DeliveryQueueOptions = {
	maxEvents: number;
	whenFull: WhenFull;
	batchMaxEvents: number;
	batchMaxBytes: number;
	batchTimeoutMs: number;
	retryInitialMs: number;
	retryMaxMs: number;
	clock?: Clock;
};

export type DeliveryCounters = {
	events_received_total: number;
	events_sent_total: number;
	events_discarded_total: number;
	errors_total: number;
	retries_total: number;
};

export class DeliveryQueue extends EventEmitter {
	readonly counters: DeliveryCounters = {events_received_total: 0, events_sent_total: 0, events_discarded_total: 0, errors_total: 0, retries_total: 0};
	private pending: SinkEntry[] = [];
	private head = 0;
	private pendingBytes = 0;
	private inFlight: readonly SinkEntry[] = [];
	private inFlightBytes = 0;
	private sending = false;
	private timer: TimerHandle | undefined;
	private timerIsRetry = false;
	private backoffMs: number;
	private failures = 0;
	private isFull = false;
	private drops: {count: number; firstMs: number; lastMs: number} | undefined;
	private stopped = false;
	/** Draining for shutdown: batches leave without waiting for their timeout. */
	private flushing = false;
	private readonly clock: Clock;
	private readonly idleWaiters: Array<() => void> = [];

	constructor(private readonly sink: Sink, private readonly options: DeliveryQueueOptions) {
		super();
		this.clock = options.clock ?? systemClock;
		this.backoffMs = options.retryInitialMs;
	}

	/** Entries held: waiting and in flight. */
	get size(): number {
		return this.pending.length - this.head + this.inFlight.length;
	}

	get bytes(): number {
		return this.pendingBytes + this.inFlightBytes;
	}

	get full(): boolean {
		return this.isFull;
	}

	/**
	 * Takes entries. With `block` they are always kept (the caller pauses the source on 'full';
	 * what it had already read still fits); with `drop_newest` those past the bound are counted
	 * and dropped. `force` is for the notice about drops, which must not be dropped itself.
	 */
	enqueue(entries: readonly SinkEntry[], force = false): void {
		if (this.stopped) {
			return;
		}

		for (const entry of entries) {
			this.counters.events_received_total++;
			if (!force && this.options.whenFull === 'drop_newest' && this.size >= this.options.maxEvents) {
				this.counters.events_discarded_total++;
				const now = this.clock.now();
				this.drops ??= {count: 0, firstMs: now, lastMs: now};
				this.drops.count++;
				this.drops.lastMs = now;
				continue;
			}

			this.pending.push(entry);
			this.pendingBytes += entry.line.length + 1;
		}

		if (!this.isFull && this.options.whenFull === 'block' && this.size >= this.options.maxEvents) {
			this.isFull = true;
			this.emit('full');
		}

		this.pump();
	}

	/** Resolves when everything held has been delivered, or after `timeoutMs`; returns what is left. */
	async drain(timeoutMs: number): Promise<number> {
		if (this.size === 0) {
			return 0;
		}

		this.flushing = true;
		await new Promise<void>(resolve => {
			const timer = this.clock.setTimeout(resolve, timeoutMs);
			this.idleWaiters.push(() => {
				this.clock.clearTimeout(timer);
				resolve();
			});
			// A batch waiting for its timeout leaves now.
			this.pump(true);
		});
		return this.size;
	}

	/** Stops sending and drops what is held; returns how many entries that was. */
	stop(): number {
		this.stopped = true;
		if (this.timer) {
			this.clock.clearTimeout(this.timer);
			this.timer = undefined;
		}

		const left = this.size;
		this.counters.events_discarded_total += left;
		this.pending = [];
		this.head = 0;
		this.pendingBytes = 0;
		this.inFlight = [];
		this.inFlightBytes = 0;
		return left;
	}

	private pump(flushNow = false): void {
		if (this.sending || this.stopped || (this.timer && this.timerIsRetry)) {
			return;
		}

		if (this.inFlight.length === 0) {
			const waiting = this.pending.length - this.head;
			if (waiting === 0) {
				return;
			}

			const ready = flushNow || this.flushing || this.options.batchTimeoutMs === 0 || waiting >= this.options.batchMaxEvents || this.pendingBytes >= this.options.batchMaxBytes;
			if (!ready) {
				this.timer ??= this.clock.setTimeout(() => {
					this.timer = undefined;
					this.pump(true);
				}, this.options.batchTimeoutMs);
				return;
			}

			if (this.timer) {
				this.clock.clearTimeout(this.timer);
				this.timer = undefined;
			}

			this.takeBatch();
		}

		void this.send();
	}

	private takeBatch(): void {
		const {batchMaxEvents, batchMaxBytes} = this.options;
		let end = this.head;
		let bytes = 0;
		while (end < this.pending.length && end - this.head < batchMaxEvents) {
			const size = this.pending[end]!.line.length + 1;
			if (end > this.head && bytes + size > batchMaxBytes) {
				break;
			}

			bytes += size;
			end++;
		}

		this.inFlight = this.pending.slice(this.head, end);
		this.inFlightBytes = bytes;
		this.pendingBytes -= bytes;
		this.head = end;
		if (this.head === this.pending.length) {
			this.pending = [];
			this.head = 0;
		} else if (this.head > 4096 && this.head * 2 > this.pending.length) {
			this.pending = this.pending.slice(this.head);
			this.head = 0;
		}
	}

	private async send(): Promise<void> {
		this.sending = true;
		const batch = this.inFlight;
		let outcome: SendOutcome | void;
		try {
			outcome = await this.sink.send(batch);
		} catch (error) {
			this.sending = false;
			this.onFailure(error);
			return;
		}

		this.sending = false;
		if (this.stopped) {
			return;
		}

		const retry = outcome?.retry ?? [];
		const rejected = outcome?.rejected ?? 0;
		const delivered = batch.length - retry.length - rejected;
		this.counters.events_sent_total += delivered;
		this.counters.events_discarded_total += rejected;
		if (rejected > 0) {
			this.emit('rejected', rejected, outcome?.rejectedReason ?? 'refused by the destination');
		}

		if (delivered > 0) {
			const again = new Set(retry);
			this.emit('delivered', again.size === 0 ? batch : batch.filter(entry => !again.has(entry)));
		}

		if (retry.length > 0) {
			this.inFlight = retry;
			this.inFlightBytes = retry.reduce((sum, entry) => sum + entry.line.length + 1, 0);
			this.onFailure(new SinkError(`${retry.length} of ${batch.length} events to be sent again`, {retryable: true}));
			return;
		}

		this.inFlight = [];
		this.inFlightBytes = 0;
		if (this.failures > 0) {
			this.emit('recovered', this.failures);
			this.failures = 0;
		}

		this.backoffMs = this.options.retryInitialMs;
		this.afterProgress();
		this.pump();
	}

	private onFailure(error: unknown): void {
		if (this.stopped) {
			return;
		}

		this.counters.errors_total++;
		const sinkError = error instanceof SinkError ? error : new SinkError(errorText(error), {retryable: true, cause: error});
		if (!sinkError.retryable) {
			// Nothing more can reach this sink: what it holds is discarded (and counted) now, so
			// that shutdown does not wait for it.
			this.stop();
			this.emit('fatal', sinkError);
			return;
		}

		if (this.failures === 0) {
			this.emit('failing', sinkError.message);
		}

		this.failures++;
		this.counters.retries_total++;
		const delay = this.backoffMs;
		this.backoffMs = Math.min(this.backoffMs * 2, this.options.retryMaxMs);
		this.timerIsRetry = true;
		this.timer = this.clock.setTimeout(() => {
			this.timer = undefined;
			this.timerIsRetry = false;
			this.pump(true);
		}, delay);
	}

	/** After a delivery: room again for a blocked source, notice of drops, idle waiters. */
	private afterProgress(): void {
		if (this.isFull && this.size <= this.options.maxEvents / 2) {
			this.isFull = false;
			this.emit('space');
		}

		if (this.drops && this.size < this.options.maxEvents) {
			const drops = this.drops;
			this.drops = undefined;
			this.emit('dropped', drops);
		}

		if (this.size === 0) {
			for (const wake of this.idleWaiters.splice(0)) {
				wake();
			}
		}
	}
}
