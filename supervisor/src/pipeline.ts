import {EventEmitter} from 'node:events';
import type {Writable} from 'node:stream';
import {systemClock, type Clock} from './clock.js';
import {compileRoutes, type PipelineConfig} from './config.js';
import {DeliveryQueue, type DeliveryCounters} from './delivery-queue.js';
import type {EventPredicate} from './filters.js';
import {createFormatter, type FormatName, type Formatter} from './formats.js';
import type {Logger, MonitorBatchItem, WhoDataMonitor} from './monitor.js';
import {RateLimitedLog} from './rate-limit.js';
import type {SinkConfig} from './sink-config.js';
import {createFileSink} from './sink-file.js';
import {createFluentSink} from './sink-fluent.js';
import {createHttpSink} from './sink-http.js';
import {createStreamSink} from './sink-stdout.js';
import {createSyslogSink} from './sink-syslog.js';
import type {Sink, SinkEntry, SinkError} from './sinks.js';
import type {KernelEventFields, SupervisorRecord} from './types.js';

/**
 * The sinks of a pipeline and what feeds them. Each sink has its own route (the filters on its
 * inputs), its own format and its own DeliveryQueue, so one that is slow or down holds only its
 * own events:
 *
 *                    ┌─ route ─ format ─ queue ─► stdout
 *   monitor 'batch' ─┼─ route ─ format ─ queue ─► file
 *                    └─ route ─ format ─ queue ─► fluent  (down: retries, buffers, then drops
 *                                                          with a count and a notice)
 *
 * Events: 'fatal' (SinkError, sink id): a sink cannot go on (stdout's reader went away);
 * 'delivered' (sink id, entries): the destination has them (for the latency histogram).
 */

export type PipelineOptions = {
	logger: Logger;
	host: string;
	/** The format of sinks that name none (`--format`). */
	defaultFormat?: FormatName;
	clock?: Clock;
	stdout?: Writable;
	/** How long close() waits for the queues to empty. */
	flushTimeoutMs?: number;
};

export type SinkRuntime = {
	readonly config: SinkConfig;
	readonly sink: Sink;
	readonly queue: DeliveryQueue;
	readonly format: FormatName;
	readonly counters: DeliveryCounters;
};

type Stage = SinkRuntime & {route: EventPredicate; render: Formatter; keepRecord: boolean};

export class Pipeline extends EventEmitter {
	readonly sinks: SinkRuntime[];
	private readonly stages: Stage[];
	private readonly blocked = new Set<string>();
	/** Sinks whose reader went away (`| head`): what they dropped after that is no news. */
	private readonly closedByReader = new Set<string>();
	private monitor: WhoDataMonitor | undefined;
	private closing = false;

	private constructor(stages: Stage[], private readonly options: PipelineOptions) {
		super();
		this.stages = stages;
		this.sinks = stages;
		for (const stage of stages) {
			this.watch(stage);
		}
	}

	/** Opens every sink (a file that cannot be opened fails here, before the loader starts). */
	static async create(config: PipelineConfig, options: PipelineOptions): Promise<Pipeline> {
		const routes = compileRoutes(config);
		const clock = options.clock ?? systemClock;
		const stages: Stage[] = [];
		try {
			for (const sinkConfig of config.sinks) {
				// eslint-disable-next-line no-await-in-loop
				const sink = await createSink(sinkConfig, options, clock);
				const format = sinkConfig.format ?? options.defaultFormat ?? 'json';
				const queue = new DeliveryQueue(sink, {
					maxEvents: sinkConfig.buffer.max_events,
					whenFull: sinkConfig.buffer.when_full,
					batchMaxEvents: sinkConfig.batch.max_events,
					batchMaxBytes: sinkConfig.batch.max_bytes,
					batchTimeoutMs: sinkConfig.batch.timeout_secs * 1000,
					retryInitialMs: sinkConfig.request.retry_initial_backoff_secs * 1000,
					retryMaxMs: sinkConfig.request.retry_max_backoff_secs * 1000,
					clock,
				});
				stages.push({config: sinkConfig, sink, queue, format, counters: queue.counters, route: routes.get(sinkConfig.id)!, render: createFormatter(format), keepRecord: sinkConfig.type === 'syslog'});
			}
		} catch (error) {
			await Promise.all(stages.map(async stage => stage.sink.close()));
			throw error;
		}

		return new Pipeline(stages, options);
	}

	/** Feeds the monitor's batches to the sinks, and pauses it while a `block` sink is full. */
	attach(monitor: WhoDataMonitor): void {
		this.monitor = monitor;
		monitor.on('batch', (items: MonitorBatchItem[]) => {
			this.write(items);
		});
	}

	write(items: readonly MonitorBatchItem[]): void {
		// With one sink the monitor's filter was its route already.
		const routed = this.stages.length > 1;
		for (const stage of this.stages) {
			const entries: SinkEntry[] = [];
			// The common case, JSON lines, never builds the event object.
			const plainJson = stage.format === 'json' && !stage.keepRecord;
			for (const item of items) {
				// Supervisor records have no kernel timestamp, and go to every sink.
				const {timestamp} = item;
				if (routed && timestamp !== undefined && !stage.route(item.record as KernelEventFields)) {
					continue;
				}

				if (plainJson) {
					entries.push(timestamp === undefined ? {line: item.json} : {line: item.json, timestamp});
					continue;
				}

				for (const line of stage.render(item)) {
					entries.push(stage.keepRecord ? {line, timestamp, record: item.record} : {line, timestamp});
				}
			}

			if (entries.length > 0) {
				stage.queue.enqueue(entries);
			}
		}
	}

	/** SIGHUP: files are reopened (external logrotate). */
	reopen(): void {
		for (const stage of this.stages) {
			stage.sink.reopen?.();
		}
	}

	/** Waits for the queues to empty (up to the flush timeout), then closes every sink. */
	async close(): Promise<void> {
		if (this.closing) {
			return;
		}

		this.closing = true;
		const timeoutMs = this.options.flushTimeoutMs ?? 5000;
		await Promise.all(this.stages.map(async stage => {
			const left = await stage.queue.drain(timeoutMs);
			if (left > 0) {
				stage.queue.stop();
				this.options.logger.warn(`sink ${stage.config.id}: ${left} event(s) not delivered to ${stage.sink.target} before shutdown`);
			}

			const {events_sent_total: sent, events_discarded_total: discarded} = stage.counters;
			const level = discarded > 0 && !this.closedByReader.has(stage.config.id) ? 'warn' : 'debug';
			this.options.logger[level](`sink ${stage.config.id}: ${sent} event(s) delivered, ${discarded} discarded`);

			await stage.sink.close().catch(() => {});
		}));
	}

	private watch(stage: Stage): void {
		const {logger} = this.options;
		const {id} = stage.config;
		const rejectedLog = new RateLimitedLog(this.options.clock ?? systemClock, 10_000, message => {
			logger.warn(message);
		});
		stage.queue.on('full', () => {
			this.blocked.add(id);
			this.monitor?.pause();
		});
		stage.queue.on('space', () => {
			this.blocked.delete(id);
			if (this.blocked.size === 0) {
				this.monitor?.resume();
			}
		});
		stage.queue.on('failing', (message: string) => {
			logger.warn(`sink ${id}: ${message}; retrying with backoff, buffering up to ${stage.config.buffer.max_events} events`);
		});
		stage.queue.on('recovered', (failures: number) => {
			logger.info(`sink ${id}: delivering again after ${failures} failed attempt(s)`);
		});
		stage.queue.on('rejected', (count: number, reason: string) => {
			rejectedLog.log(`sink ${id}: ${count} event(s) refused by ${stage.sink.target}: ${reason}`);
		});
		stage.queue.on('dropped', ({count, firstMs, lastMs}: {count: number; firstMs: number; lastMs: number}) => {
			const message = `sink ${id} dropped ${count} event(s): its buffer of ${stage.config.buffer.max_events} was full`;
			logger.warn(message);
			const record: SupervisorRecord = {
				type: 'supervisor', kind: 'sink_dropped', timestamp: (this.options.clock ?? systemClock).now() * 1e6, host: this.options.host,
				message, sink: id, lost: count, gap_start: firstMs * 1e6, gap_end: lastMs * 1e6,
			};
			// The notice goes to the sink that dropped, so its reader learns of the gap.
			stage.queue.enqueue(stage.render({record, json: JSON.stringify(record)}).map(line => ({line, record})), true);
		});
		stage.queue.on('delivered', (entries: readonly SinkEntry[]) => {
			this.emit('delivered', id, entries);
		});
		stage.queue.on('fatal', (error: SinkError) => {
			if (error.closedByReader) {
				this.closedByReader.add(id);
			}

			this.emit('fatal', error, id);
		});
	}
}

async function createSink(config: SinkConfig, options: PipelineOptions, clock: Clock): Promise<Sink> {
	const warn = (message: string): void => {
		options.logger.warn(message);
	};

	switch (config.type) {
		case 'stdout': {
			return createStreamSink(config.id, options.stdout ?? process.stdout);
		}

		case 'file': {
			const {rotate} = config;
			return createFileSink({
				id: config.id,
				path: config.path,
				mode: 0o640,
				rotate: rotate && {
					keep: rotate.keep,
					compress: rotate.compress,
					...(rotate.max_bytes === undefined ? {} : {maxBytes: rotate.max_bytes}),
					...(rotate.max_age_secs === undefined ? {} : {maxAgeMs: rotate.max_age_secs * 1000}),
				},
				clock,
				warn,
			});
		}

		case 'syslog': {
			return createSyslogSink(config, {host: options.host, clock});
		}

		case 'http': {
			return createHttpSink(config);
		}

		case 'fluent': {
			return createFluentSink(config, {warn});
		}
	}
}
