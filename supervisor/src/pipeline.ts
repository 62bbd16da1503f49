import {EventEmitter} from 'node:events';
import {systemClock, type Clock} from './clock.js';
import {compileRoutes, type PipelineConfig} from './config.js';
import {join} from 'node:path';
import {SpoolQueue} from './buffer.js';
import {DeliveryQueue, type DeliveryCounters} from './delivery-queue.js';
import type {EventPredicate} from './filters.js';
import {createFormatter, supervisorJsonLine, type FormatName, type Formatter} from './formats.js';
import {bufferEntryOf, takenByRoute, type Logger, type MonitorBatchItem, type WhoDataMonitor} from './monitor.js';
import {RateLimitedLog} from './rate-limit.js';
import type {SinkConfig} from './sink-config.js';
import type {BufferEntry} from './buffer.js';
import type {SendOutcome, Sink, SinkEntry, SinkError} from './sinks.js';
import type {SupervisorRecord} from './types.js';

/**
 * The sinks of a pipeline but stdout (which cli.ts paces to its reader through a SinkBuffer),
 * and what feeds them. Each has its own route (the filters on its inputs), its own format, its
 * own buffer (buffer.ts: memory, then a spool under the state directory) and DeliveryQueue, so
 * one that is slow or down holds only its own events:
 *
 *                    ┌─ route ─ format ─ buffer ─ queue ─► file
 *   monitor 'batch' ─┼─ route ─ format ─ buffer ─ queue ─► syslog
 *                    └─ route ─ format ─ buffer ─ queue ─► fluent  (down: retries; its events wait
 *                                                                   in memory, then the spool,
 *                                                                   then are discarded with a
 *                                                                   count and a gap record)
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
	/** Spools go to `<stateDirectory>/spool/<sink id>`; without it buffers stay in memory. */
	stateDirectory?: string;
	/** How long close() waits for the queues to empty. */
	flushTimeoutMs?: number;
};

export type SinkRuntime = {
	readonly config: SinkConfig;
	readonly sink: Sink;
	readonly queue: DeliveryQueue;
	readonly format: FormatName;
	/** The queue counts records; these are the supervisor records among them. */
	readonly supervisorLines: SupervisorLines;
};

type Stage = SinkRuntime & {route: EventPredicate; render: Formatter};

/**
 * The supervisor records on their way to one sink, so that what it delivered is counted as
 * events and supervisor records apart, as the monitor's stop line counts them. Past the buffer
 * an entry is only its line and its kernel timestamp, so a record is known by its line: few
 * are held at a time, and an event the kernel reported, having a timestamp, is not looked up.
 * Records an earlier run left in the spool were seen by no one: they are counted as events.
 */
export class SupervisorLines {
	delivered = 0;
	/** Refused by the destination, or lost at stop for want of a spool. */
	discarded = 0;
	/** Of what the buffer still held at stop (kept in the spool, or lost). */
	left = 0;
	/**
	 * A destination refused part of a batch that held supervisor records without saying which
	 * entries (an Elasticsearch bulk answer): from then on, what the sink delivered and what it
	 * discarded cannot be told apart by kind.
	 */
	mixed = false;
	/** Of the entries the destination refused last, the supervisor records (undefined: not known). */
	lastRefused: number | undefined = 0;
	private readonly held = new Map<string, number>();

	add(line: string): string {
		this.held.set(line, (this.held.get(line) ?? 0) + 1);
		return line;
	}

	count(entries: readonly SinkEntry[]): void {
		this.delivered += this.take(entries);
	}

	/** The supervisor records among `entries`; unless `keep`, they have left the buffer for good and are looked for no more. */
	take(entries: readonly SinkEntry[], keep = false): number {
		if (this.held.size === 0) {
			return 0;
		}

		let records = 0;
		const seen = keep ? new Map<string, number>() : undefined;
		for (const entry of entries) {
			const held = entry.timestamp === undefined ? this.held.get(entry.line) : undefined;
			const taken = seen?.get(entry.line) ?? 0;
			if (held === undefined || taken === held) {
				continue;
			}

			records++;
			if (seen) {
				seen.set(entry.line, taken + 1);
			} else if (held === 1) {
				this.held.delete(entry.line);
			} else {
				this.held.set(entry.line, held - 1);
			}
		}

		return records;
	}

	/**
	 * What the destination made of a batch: records it refused are discarded ones. Only a
	 * refusal of all it did not ask for again says which entries were refused.
	 */
	sent(entries: readonly SinkEntry[], outcome: SendOutcome | void): void {
		const rejected = outcome?.rejected ?? 0;
		if (rejected === 0) {
			return;
		}

		const again = new Set(outcome?.retry ?? []);
		const answered = again.size === 0 ? entries : entries.filter(entry => !again.has(entry));
		if (rejected === answered.length) {
			this.lastRefused = this.take(answered);
			this.discarded += this.lastRefused;
		} else if (this.take(answered, true) > 0) {
			this.lastRefused = undefined;
			this.mixed = true;
		} else {
			this.lastRefused = 0;
		}
	}
}

/** `N event(s)`, and the supervisor records among them when there are any. */
function eventsAndRecords(entries: number, records: number): string {
	return records === 0 ? `${entries} event(s)` : `${entries - records} event(s) and ${records} supervisor record(s)`;
}

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
			for (const sinkConfig of config.sinks.filter(sink => sink.type !== 'stdout')) {
				// eslint-disable-next-line no-await-in-loop
				const sink = await createSink(sinkConfig, options, clock);
				const format = sinkConfig.format ?? options.defaultFormat ?? 'json';
				const render = createFormatter(format);
				const supervisorLines = new SupervisorLines();
				const storage = SpoolQueue.open({
					id: sinkConfig.id,
					...sinkConfig.buffer,
					...(options.stateDirectory === undefined ? {} : {spoolDirectory: join(options.stateDirectory, 'spool', sinkConfig.id)}),
					// Gap records in the sink's own format, so that its reader sees them.
					renderGap: record => supervisorLines.add(render({record, json: supervisorJsonLine(record)})[0]!),
					host: options.host,
					clock,
					onWarning: message => {
						options.logger.warn(message);
					},
				});
				storage.on('left', (entries: readonly SinkEntry[]) => {
					supervisorLines.left = supervisorLines.take(entries);
				});
				// The queue counts what the destination refused; which of it were supervisor records is seen here.
				const answered: Sink = Object.assign(Object.create(sink) as Sink, {
					async send(entries: readonly SinkEntry[]): Promise<SendOutcome | void> {
						const outcome = await sink.send(entries);
						supervisorLines.sent(entries, outcome);
						return outcome;
					},
				});
				const queue = new DeliveryQueue(answered, storage, {
					batchMaxEvents: sinkConfig.batch.max_events,
					batchMaxBytes: sinkConfig.batch.max_bytes,
					batchTimeoutMs: sinkConfig.batch.timeout_secs * 1000,
					retryInitialMs: sinkConfig.request.retry_initial_backoff_secs * 1000,
					retryMaxMs: sinkConfig.request.retry_max_backoff_secs * 1000,
					clock,
				});
				stages.push({config: sinkConfig, sink, queue, format, route: routes.get(sinkConfig.id)!, render, supervisorLines});
			}
		} catch (error) {
			await Promise.all(stages.map(async stage => stage.sink.close()));
			throw error;
		}

		return new Pipeline(stages, options);
	}

	/**
	 * Feeds the monitor's batches to the sinks, and pauses it while a `block` sink is full.
	 * `routed`: each sink checks its own route (the monitor's filter is not that of every sink).
	 */
	attach(monitor: WhoDataMonitor, routed: boolean): void {
		this.monitor = monitor;
		monitor.on('batch', (items: MonitorBatchItem[]) => {
			this.write(items, routed);
		});
	}

	write(items: readonly MonitorBatchItem[], routed = true): void {
		for (const stage of this.stages) {
			const entries: BufferEntry[] = [];
			// The common case, JSON lines, never builds the event object.
			const plainJson = stage.format === 'json';
			for (const item of items) {
				if (routed && !takenByRoute(item, stage.route)) {
					continue;
				}

				const lines = plainJson ? [item.json] : stage.render(item);
				for (const line of lines) {
					entries.push(bufferEntryOf(item, item.origin === 'supervisor' ? stage.supervisorLines.add(line) : line));
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
			await stage.queue.drain(timeoutMs);
			const left = stage.queue.stop();
			const records = stage.supervisorLines;
			if (left.spooled > 0) {
				this.options.logger.warn(`sink ${stage.config.id}: ${eventsAndRecords(left.spooled, records.left)} not delivered to ${stage.sink.target} before shutdown are kept in its spool for the next start`);
			}

			if (left.discarded > 0) {
				records.discarded += records.left;
				this.options.logger.warn(`sink ${stage.config.id}: ${eventsAndRecords(left.discarded, records.left)} not delivered to ${stage.sink.target} before shutdown are lost`);
			}

			const {events_sent_total: sent, events_discarded_total: discarded} = stage.queue.counters;
			const level = discarded > 0 && !this.closedByReader.has(stage.config.id) ? 'warn' : 'debug';
			const counts = records.mixed
				? `${sent} record(s) delivered, ${discarded} discarded, supervisor records among both (${stage.sink.target} refused some records of a batch without saying which)`
				: `${sent - records.delivered} event(s) delivered, ${discarded - records.discarded} discarded; supervisor records delivered ${records.delivered}${records.discarded > 0 ? `, discarded ${records.discarded}` : ''}`;
			this.options.logger[level](`sink ${stage.config.id}: ${counts}`);

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
			logger.warn(`sink ${id}: ${message}; retrying with backoff while its buffer holds the events`);
		});
		stage.queue.on('recovered', (failures: number) => {
			logger.info(`sink ${id}: delivering again after ${failures} failed attempt(s)`);
		});
		stage.queue.on('rejected', (count: number, reason: string) => {
			const records = stage.supervisorLines.lastRefused;
			rejectedLog.log(`sink ${id}: ${records === undefined ? `${count} record(s)` : eventsAndRecords(count, records)} refused by ${stage.sink.target}: ${reason}`);
		});
		stage.queue.on('delivered', (entries: readonly SinkEntry[]) => {
			stage.supervisorLines.count(entries);
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

/*
 * Each kind of sink is imported when a sink of that kind is configured: their libraries (the
 * syslog sink's native socket module, https, msgpack) would otherwise sit in the memory of every
 * fimctl, most of which write to stdout only.
 */
async function createSink(config: SinkConfig, options: PipelineOptions, clock: Clock): Promise<Sink> {
	const warn = (message: string): void => {
		options.logger.warn(message);
	};

	switch (config.type) {
		case 'stdout': {
			throw new Error('stdout is written by the command line, not the pipeline');
		}

		case 'file': {
			const {rotate} = config;
			const {createFileSink} = await import('./sink-file.js');
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
			const {createSyslogSink} = await import('./sink-syslog.js');
			return createSyslogSink(config, {host: options.host, clock});
		}

		case 'http': {
			const {createHttpSink} = await import('./sink-http.js');
			return createHttpSink(config);
		}

		case 'fluent': {
			const {createFluentSink} = await import('./sink-fluent.js');
			return createFluentSink(config, {warn});
		}
	}
}
