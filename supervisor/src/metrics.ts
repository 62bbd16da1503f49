import {createServer, type Server} from 'node:http';
import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client';
import {RuntimeError, UsageError} from './errors.js';
import type {MonitorCounters, WhoDataMonitor} from './monitor.js';
import type {Pipeline} from './pipeline.js';
import type {SinkEntry} from './sinks.js';
import type {HelloRecord, StatsRecord} from './types.js';

/**
 * Prometheus metrics, served only when asked (`--metrics 127.0.0.1:9464`). Names and labels in
 * Vector's words: each counter per component (`component_id`, `component_kind` source|sink,
 * `component_type`). Counters are read from the counters the monitor and the queues keep anyway,
 * at scrape time, so metrics cost nothing per event except the latency histogram.
 *
 *   fim_events_received_total / _sent_total / _discarded_total   per component
 *   fim_supervisor_records_sent_total   gap records passed on (source) or delivered (sink), not in fim_events_sent_total
 *   fim_events_lost_total          records the kernel could not deliver (ring buffer full)
 *   fim_errors_total               per component and stage (receiving, processing, sending)
 *   fim_loader_restarts_total
 *   fim_sink_buffer_events / _bytes / _max_events                 per sink
 *   fim_event_latency_seconds      kernel timestamp → delivered to the sink, per sink
 *   fim_ringbuf_size_bytes         the loader's ring buffer
 *   fim_ringbuf_used_bytes         the most of it in use during the loader's last stats interval
 *   fim_loader_*                   the loader's own stats counters
 *   fim_process_*, fim_nodejs_*    fimctl's memory, CPU, event loop (prom-client defaults)
 */

type Labels = {component_id: string; component_kind: 'source' | 'sink'; component_type: string};

/** `sent`: events only; `records`: the supervisor records sent beside them. */
type ComponentCounters = {received: number; sent: number; records: number; discarded: number};

export class Metrics {
	readonly registry = new Registry();
	private readonly latency: Histogram<'component_id'>;
	private ringbufBytes = 0;
	private loaderStats: StatsRecord | undefined;
	/** The monitor's, once watch() is called; zeros until then. */
	private counters: MonitorCounters = {
		events_received_total: 0, events_reconciled_total: 0, events_sent_total: 0, supervisor_records_sent_total: 0, events_discarded_total: 0, events_lost_total: 0, loader_restarts_total: 0,
		errors_total: {receiving: 0, processing: 0, sending: 0},
	};

	constructor(private readonly pipeline: Pipeline, private readonly sourceId: string) {
		collectDefaultMetrics({register: this.registry, prefix: 'fim_'});
		const self = this;
		const perComponent = (name: string, help: string, read: (counters: ComponentCounters) => number): void => {
			new Counter({
				name,
				help,
				labelNames: ['component_id', 'component_kind', 'component_type'],
				registers: [this.registry],
				collect() {
					this.reset();
					for (const [labels, counters] of self.components()) {
						this.inc(labels, read(counters));
					}
				},
			});
		};

		perComponent('fim_events_received_total', 'Events taken in by the component', counters => counters.received);
		perComponent('fim_events_sent_total', 'Events passed on (source) or delivered (sink), supervisor records not included', counters => counters.sent);
		perComponent('fim_supervisor_records_sent_total', 'Supervisor (gap) records passed on (source) or delivered (sink); fim_events_sent_total leaves them out', counters => counters.records);
		perComponent('fim_events_discarded_total', 'Events dropped on purpose: filtered out (source), buffer full or refused by the destination (sink)', counters => counters.discarded);
		const scalar = (name: string, help: string, read: () => number, type: 'counter' | 'gauge' = 'counter'): void => {
			const options = {
				name,
				help,
				registers: [this.registry],
				collect(this: Counter | Gauge) {
					this.reset();
					if (this instanceof Gauge) {
						this.set(read());
					} else {
						this.inc(read());
					}
				},
			};
			if (type === 'gauge') {
				new Gauge(options);
			} else {
				new Counter(options);
			}
		};

		scalar('fim_events_lost_total', 'Records the kernel could not deliver (ring buffer full)', () => this.counters.events_lost_total);
		scalar('fim_events_reconciled_total', 'Changes found by reconciliation scans (source reconcile)', () => this.counters.events_reconciled_total);
		scalar('fim_loader_restarts_total', 'Times the loader died and was restarted', () => this.counters.loader_restarts_total);
		scalar('fim_ringbuf_size_bytes', 'Size of the loader\'s ring buffer', () => this.ringbufBytes, 'gauge');
		scalar('fim_ringbuf_used_bytes', 'Most bytes waiting in the loader\'s ring buffer during its last stats interval (last stats record)', () => Number(this.loaderStats?.['ringbuf_used_max_bytes'] ?? 0), 'gauge');
		scalar('fim_loader_events_total', 'Events the loader reported in its last stats record', () => Number(this.loaderStats?.events ?? 0));
		scalar('fim_loader_tracked_files', 'Open files the sensor tracks for modify coalescing (last stats record)', () => Number(this.loaderStats?.['tracked_files'] ?? 0), 'gauge');
		new Counter({
			name: 'fim_errors_total',
			help: 'Errors per component and stage',
			labelNames: ['component_id', 'stage'],
			registers: [this.registry],
			collect() {
				this.reset();
				const {errors_total: errors} = self.counters;
				for (const stage of ['receiving', 'processing', 'sending'] as const) {
					this.inc({component_id: self.sourceId, stage}, errors[stage]);
				}

				for (const sink of pipeline.sinks) {
					this.inc({component_id: sink.config.id, stage: 'sending'}, sink.queue.counters.errors_total);
				}
			},
		});
		const perSink = (name: string, help: string, read: (sink: Pipeline['sinks'][number]) => number): void => {
			new Gauge({
				name,
				help,
				labelNames: ['component_id'],
				registers: [this.registry],
				collect() {
					this.reset();
					for (const sink of pipeline.sinks) {
						this.set({component_id: sink.config.id}, read(sink));
					}
				},
			});
		};

		perSink('fim_sink_buffer_events', 'Events held for the sink: waiting and in flight', sink => sink.queue.size);
		perSink('fim_sink_buffer_bytes', 'Bytes of the lines held for the sink in memory', sink => sink.queue.bytes);
		perSink('fim_sink_spool_bytes', 'Bytes of the sink\'s spool on disk', sink => sink.queue.spoolBytes);
		perSink('fim_sink_buffer_max_events', 'The sink\'s buffer.max_events', sink => sink.config.buffer.max_events);
		this.latency = new Histogram({
			name: 'fim_event_latency_seconds',
			help: 'From the kernel seeing the change to the sink\'s destination having the event',
			labelNames: ['component_id'],
			buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
			registers: [this.registry],
		});
		pipeline.on('delivered', (id: string, entries: readonly SinkEntry[]) => {
			this.observe(id, entries);
		});
	}

	/** Reads the monitor's counters from now on, and follows the loader's hello and stats records. */
	watch(monitor: WhoDataMonitor): void {
		this.counters = monitor.counters;
		this.ringbufBytes = monitor.hello?.ringbuf_bytes ?? 0;
		monitor.on('hello', (hello: HelloRecord) => {
			this.ringbufBytes = hello.ringbuf_bytes ?? this.ringbufBytes;
		});
		monitor.on('stats', (stats: StatsRecord) => {
			this.loaderStats = stats;
		});
	}

	observe(id: string, entries: readonly SinkEntry[]): void {
		const nowNs = (performance.timeOrigin + performance.now()) * 1e6;
		for (const entry of entries) {
			if (entry.timestamp !== undefined) {
				this.latency.observe({component_id: id}, Math.max(0, nowNs - entry.timestamp) / 1e9);
			}
		}
	}

	async text(): Promise<string> {
		return this.registry.metrics();
	}

	/** Serves GET /metrics at HOST:PORT; resolves once listening. */
	async serve(address: string): Promise<Server> {
		const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
		const port = Number(match?.[3]);
		if (!match || port > 65_535) {
			throw new UsageError(`--metrics: expected HOST:PORT (127.0.0.1:9464), got ${JSON.stringify(address)}`);
		}

		const server = createServer((request, response) => {
			if (request.method !== 'GET' || (request.url !== '/metrics' && request.url !== '/')) {
				response.writeHead(404).end('not found: try /metrics\n');
				return;
			}

			this.registry.metrics().then(body => {
				response.writeHead(200, {'content-type': this.registry.contentType}).end(body);
			}, (error: unknown) => {
				response.writeHead(500).end(String(error));
			});
		});
		await new Promise<void>((resolve, reject) => {
			server.once('error', (error: NodeJS.ErrnoException) => {
				reject(new RuntimeError(`--metrics ${address}: cannot listen: ${error.code ?? error.message}`, {cause: error}));
			});
			server.listen(port, match[1] ?? match[2], resolve);
		});
		return server;
	}

	private *components(): Generator<[Labels, ComponentCounters]> {
		const {counters, sourceId} = this;
		yield [{component_id: sourceId, component_kind: 'source', component_type: 'whodata'}, {received: counters.events_received_total, sent: counters.events_sent_total, records: counters.supervisor_records_sent_total, discarded: counters.events_discarded_total}];
		for (const sink of this.pipeline.sinks) {
			const {events_received_total: received, events_sent_total: sent, events_discarded_total: discarded} = sink.queue.counters;
			// the queue's count is of records: its supervisor records are told apart by their lines
			const records = sink.supervisorLines.delivered;
			yield [{component_id: sink.config.id, component_kind: 'sink', component_type: sink.config.type}, {received, sent: sent - records, records, discarded}];
		}
	}
}
