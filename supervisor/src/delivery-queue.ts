import {EventEmitter} from 'node:events';
import type {BufferEntry, QueuedEntry, SpoolQueue} from './buffer.js';
import {systemClock, type Clock, type TimerHandle} from './clock.js';
import {errorText, SinkError, type SendOutcome, type Sink} from './sinks.js';

/**
 * Feeds one sink from its buffer (a SpoolQueue, buffer.ts: bounded memory, then a spool on
 * disk, then counted discards with a gap record), one batch at a time:
 *
 *   enqueue ─► SpoolQueue (memory → spool) ─► shift ─► [ in flight ] ─► sink.send()
 *                                                           ▲               │
 *                                     retry after backoff ──┴── retryable failure
 *
 * - One batch is in flight at a time, so entries reach the sink in the order they came.
 * - A batch leaves when it has `batchMaxEvents` entries or `batchMaxBytes`, or `batchTimeoutMs`
 *   after its first entry came (0: as soon as the sink is free).
 * - A retryable failure sends the same batch again after a backoff (doubling up to a maximum):
 *   a receiver that is down only delays its events, which wait in memory and then the spool.
 * - `block` (buffer full): 'full', then 'space' once the storage has room again; the pipeline
 *   pauses the loader in between.
 *
 * Events: 'full', 'space', 'delivered' (entries), 'rejected' (count, reason), 'failing' (message:
 * first failure of a run), 'recovered' (failures), 'fatal' (SinkError), 'idle' (nothing held).
 */

export type DeliveryQueueOptions = {
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
	/** Refused by the destination, or discarded by the buffer (full, or no spool at the end). */
	events_discarded_total: number;
	errors_total: number;
	retries_total: number;
};

export class DeliveryQueue extends EventEmitter {
	private readonly own = {received: 0, sent: 0, rejected: 0, errors: 0, retries: 0};
	private inFlight: readonly QueuedEntry[] = [];
	private inFlightBytes = 0;
	private sending = false;
	private timer: TimerHandle | undefined;
	private timerIsRetry = false;
	private backoffMs: number;
	private failures = 0;
	private isFull = false;
	private stopped = false;
	/** Draining for shutdown: batches leave without waiting for their timeout. */
	private flushing = false;
	private readonly clock: Clock;
	private readonly idleWaiters: Array<() => void> = [];

	constructor(private readonly sink: Sink, private readonly storage: SpoolQueue, private readonly options: DeliveryQueueOptions) {
		super();
		this.clock = options.clock ?? systemClock;
		this.backoffMs = options.retryInitialMs;
		storage.on('readable', () => {
			this.pump();
		});
		storage.on('drain', () => {
			if (this.isFull) {
				this.isFull = false;
				this.emit('space');
			}
		});
	}

	get counters(): DeliveryCounters {
		return {
			events_received_total: this.own.received,
			events_sent_total: this.own.sent,
			events_discarded_total: this.own.rejected + this.storage.stats().discarded_total,
			errors_total: this.own.errors,
			retries_total: this.own.retries,
		};
	}

	/** Entries held in memory and in flight (the spool is counted in bytes: `spoolBytes`). */
	get size(): number {
		return this.storage.stats().memory_events + this.inFlight.length;
	}

	get bytes(): number {
		return this.storage.stats().memory_bytes + this.inFlightBytes;
	}

	get spoolBytes(): number {
		return this.storage.stats().spool_bytes;
	}

	get spoolFiles(): number {
		return this.storage.stats().spool_files;
	}

	get idle(): boolean {
		return this.inFlight.length === 0 && this.storage.empty;
	}

	get full(): boolean {
		return this.isFull;
	}

	/** Takes entries; with `block`, says 'full' when the storage has no room left. */
	enqueue(entries: readonly BufferEntry[]): void {
		if (this.stopped) {
			return;
		}

		this.own.received += entries.length;
		if (!this.storage.push(entries) && !this.isFull) {
			this.isFull = true;
			this.emit('full');
		}

		this.pump();
	}

	/** Resolves when everything held has been delivered, or after `timeoutMs`. */
	async drain(timeoutMs: number): Promise<void> {
		if (this.idle || this.stopped) {
			return;
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
	}

	/**
	 * Stops sending. What is held, the batch in flight first, goes to the spool for the next
	 * start (or is counted as discarded without one).
	 */
	stop(): {spooled: number; discarded: number} {
		if (this.stopped) {
			return {spooled: 0, discarded: 0};
		}

		this.stopped = true;
		if (this.timer) {
			this.clock.clearTimeout(this.timer);
			this.timer = undefined;
		}

		this.storage.unshift(this.inFlight);
		this.inFlight = [];
		this.inFlightBytes = 0;
		return this.storage.close();
	}

	private pump(flushNow = false): void {
		if (this.sending || this.stopped || (this.timer && this.timerIsRetry)) {
			return;
		}

		if (this.inFlight.length === 0) {
			const stats = this.storage.stats();
			const waiting = stats.memory_events + (stats.spool_bytes > 0 ? this.options.batchMaxEvents : 0);
			if (waiting === 0 && this.storage.empty) {
				return;
			}

			const ready = flushNow || this.flushing || this.options.batchTimeoutMs === 0 || waiting >= this.options.batchMaxEvents || stats.memory_bytes >= this.options.batchMaxBytes;
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

			this.inFlight = this.storage.shift(this.options.batchMaxEvents, this.options.batchMaxBytes);
			this.inFlightBytes = this.inFlight.reduce((sum, entry) => sum + entry.line.length + 1, 0);
			if (this.inFlight.length === 0) {
				this.afterProgress();
				return;
			}
		}

		void this.send();
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
		this.own.sent += delivered;
		this.own.rejected += rejected;
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

		this.own.errors++;
		const sinkError = error instanceof SinkError ? error : new SinkError(errorText(error), {retryable: true, cause: error});
		if (!sinkError.retryable) {
			// Nothing more can reach this sink: stop at once, so that shutdown does not wait for it.
			this.stop();
			this.emit('fatal', sinkError);
			return;
		}

		if (this.failures === 0) {
			this.emit('failing', sinkError.message);
		}

		this.failures++;
		this.own.retries++;
		const delay = this.backoffMs;
		this.backoffMs = Math.min(this.backoffMs * 2, this.options.retryMaxMs);
		this.timerIsRetry = true;
		this.timer = this.clock.setTimeout(() => {
			this.timer = undefined;
			this.timerIsRetry = false;
			this.pump(true);
		}, delay);
	}

	private afterProgress(): void {
		if (this.idle) {
			this.emit('idle');
			for (const wake of this.idleWaiters.splice(0)) {
				wake();
			}
		}
	}
}
