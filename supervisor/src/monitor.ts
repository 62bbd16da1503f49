import {EventEmitter} from 'node:events';
import {hostname} from 'node:os';
import {resolve} from 'node:path';
import type {BufferEntry} from './buffer.js';
import {systemClock, type Clock, type TimerHandle} from './clock.js';
import {Enricher, type EnricherOptions} from './enrich.js';
import type {EnrichmentView} from './formats.js';
import {type FimError, LoaderRefusedError} from './errors.js';
import {compileFilter, type EventPredicate, type FilterSpec} from './filters.js';
import {eventJsonLine, supervisorJsonLine} from './formats.js';
import {defaultLoaderPath} from './loader-path.js';
import type {MalformedLine, ParsedLine} from './ndjson-parse.js';
import {canonicalPath, isInside, normalizeWatchPaths} from './paths.js';
import {RateLimitedLog} from './rate-limit.js';
import type {RestartPolicyOptions} from './restart-policy.js';
import {Baseline, entriesScanned, reconcileRecord, type ReconcileSummary} from './reconcile.js';
import {StateStore} from './state-store.js';
import {parseBackend, Supervisor, type LoaderBackend, type LoaderTuning} from './supervise.js';
import type {HelloRecord, KernelEventFields, MonitorRecord, ProcessContext, ReconcileEvent, RecordOrigin, StatsRecord, SupervisorRecord, WhoDataEvent} from './types.js';

export type Logger = {
	error(message: string): void;
	warn(message: string): void;
	info(message: string): void;
	debug(message: string): void;
};

const silentLogger: Logger = {error() {}, warn() {}, info() {}, debug() {}};

/**
 * Changed paths first noted since the last flush of the baseline that call for the next one,
 * besides the flush every second. A flush lstats each path noted before the flush ahead of it
 * (Baseline.flush()) and writes its row (about 2.5 us each) while events wait: at 2,000
 * changes/s a whole second's worth held them up 6 ms, enough to set the p99 latency. This many
 * takes well under a millisecond, after the batch that filled it has been delivered.
 */
const baselineFlushPaths = 256;

export type WhoDataMonitorOptions = {
	/** Directories (watched as subtrees) or single files. Relative paths are resolved. */
	paths: readonly string[];
	/** Defaults to $FIM_LOADER, else build/fim-loader in this package. */
	loaderPath?: string;
	filter?: FilterSpec | EventPredicate;
	/** Enrichment from /proc and the user databases; on by default. */
	enrich?: boolean | EnricherOptions;
	/** Paths that do not exist are watched from when they are made, instead of refused (UsageError). */
	allowAbsent?: boolean;
	tuning?: LoaderTuning;
	/**
	 * The loader's hooks (docs/protocol.md, *Backends*): `auto` (the default) takes fentry where
	 * the kernel allows it, else the syscall tracepoints; `tracepoint` or `fentry` forces one,
	 * and create() rejects with a LoaderRefusedError whose exitCode is 3 (unsupported system) where
	 * the kernel refuses it. The backend in use is in `hello.backend` and every event's `backend`.
	 */
	backend?: LoaderBackend;
	restart?: Partial<RestartPolicyOptions>;
	clock?: Clock;
	stopGraceMs?: number;
	commandTimeoutMs?: number;
	/** Records buffered for a slow `for await` consumer before the loader is paused. */
	highWaterMark?: number;
	/**
	 * Where the baseline of the watched trees is kept (`baseline.db`). With it the monitor
	 * scans the watched paths at start, keeps the baseline current from live events, and after
	 * a loader restart, a kernel loss or its own downtime reports what changed meanwhile as
	 * events with `source: "reconcile"`. Without it (the default) none of this happens.
	 */
	stateDir?: string;
	/** Entries a scan may lstat per second (default 20,000; 0: no limit). */
	scanRate?: number;
	logger?: Logger;
	env?: NodeJS.ProcessEnv;
	cwd?: string;
	host?: string;
};

/**
/**
 * A record and its JSON line (exact to the nanosecond, under the line limit). Events also give
 * their paths and kernel timestamp without building the record (a sink's buffer names the paths
 * if it must discard), and, when enriched, the process facts only some output formats use.
 */
export type MonitorBatchItem = {
	readonly record: MonitorRecord;
	readonly json: string;
	readonly path?: string;
	readonly old_path?: string | null;
	/** The exact bytes of `path` and `old_path`, when they are not UTF-8. */
	readonly path_b64?: string;
	readonly old_path_b64?: string;
	readonly context?: ProcessContext;
	/** Events only: the kernel timestamp (ns). */
	readonly timestamp?: number;
	/** Absent for an event the kernel reported (buffer.ts: how a full buffer treats each). */
	readonly origin?: RecordOrigin;
};

/**
 * Whether a sink whose route is `route` takes the item. Supervisor records (loss, restart, gap)
 * go to every sink; events, whether the kernel reported them or a reconciliation scan found
 * them, go where their route says.
 */
export function takenByRoute(item: MonitorBatchItem, route: EventPredicate): boolean {
	return item.origin === 'supervisor' || route(item.record as KernelEventFields);
}

/**
 * What a sink's buffer holds for an item, `line` being the item in the sink's format: its
 * origin decides what a full buffer may discard and how a discard is counted (buffer.ts).
 */
export function bufferEntryOf(item: MonitorBatchItem, line: string): BufferEntry {
	return {line, timestamp: item.timestamp, path: item.path, old_path: item.old_path, path_b64: item.path_b64, old_path_b64: item.old_path_b64, origin: item.origin};
}

/**
 * An event of a batch. The user-facing object (loader fields without `type`, plus enrichment)
 * is made on first access: `fimctl --format json` writes `json` and never needs it.
 */
class EventItem implements MonitorBatchItem {
	private done = false;

	constructor(private readonly event: KernelEventFields, private readonly enrichment: EnrichmentView | undefined, readonly json: string) {}

	get context(): ProcessContext | undefined {
		return this.enrichment?.context;
	}

	get timestamp(): number {
		return this.event.timestamp;
	}

	get path(): string {
		return this.event.path;
	}

	get old_path(): string | null {
		return this.event.old_path ?? null;
	}

	get path_b64(): string | undefined {
		return this.event.path_b64;
	}

	get old_path_b64(): string | undefined {
		return this.event.old_path_b64;
	}

	get record(): WhoDataEvent {
		if (!this.done) {
			this.done = true;
			delete (this.event as Record<string, unknown>)['type'];
			if (this.enrichment) {
				Object.assign(this.event, this.enrichment.fields);
			}
		}

		return this.event as WhoDataEvent;
	}
}

/** Counter names follow Vector's. */
export type MonitorCounters = {
	events_received_total: number;
	/** Changes found by reconciliation scans (source reconcile). */
	events_reconciled_total: number;
	/** Events passed on (to the sinks, or to the library's listeners): supervisor records are not in it. */
	events_sent_total: number;
	/** Supervisor records (gap records: loss, restart, reconcile, ...) passed on beside them. */
	supervisor_records_sent_total: number;
	events_discarded_total: number;
	events_lost_total: number;
	loader_restarts_total: number;
	errors_total: {receiving: number; processing: number; sending: number};
};

class ReconcileItem implements MonitorBatchItem {
	readonly old_path = null;
	readonly origin = 'reconcile';

	constructor(readonly record: ReconcileEvent, readonly json: string) {}

	get path(): string {
		return this.record.path;
	}

	get path_b64(): string | undefined {
		return this.record.path_b64;
	}
}

class SupervisorItem implements MonitorBatchItem {
	readonly json: string;
	readonly origin = 'supervisor';

	constructor(readonly record: SupervisorRecord) {
		this.json = supervisorJsonLine(record);
	}
}

type Waiter = {resolve: (result: IteratorResult<MonitorRecord>) => void; reject: (error: unknown) => void};

/**
 * Watches paths and yields who changed what. Events come through `for await`, the 'event'
 * listener, or 'batch' (one array per loader read, with JSON lines, which the CLI writes).
 *
 * Events: 'event' (WhoDataEvent), 'supervisor' (SupervisorRecord), 'batch' (MonitorBatchItem[]),
 * 'hello' (HelloRecord), 'stats' (StatsRecord, the loader's periodic counters), 'error' (FimError:
 * the monitor has stopped), 'close'.
 */
export class WhoDataMonitor extends EventEmitter implements AsyncIterable<MonitorRecord> {
	readonly counters: MonitorCounters = {
		events_received_total: 0,
		events_reconciled_total: 0,
		events_sent_total: 0,
		supervisor_records_sent_total: 0,
		events_discarded_total: 0,
		events_lost_total: 0,
		loader_restarts_total: 0,
		errors_total: {receiving: 0, processing: 0, sending: 0},
	};

	/** The loader's latest hello record (again after each restart). */
	hello: HelloRecord | undefined;

	/** Settles when the monitor has stopped: resolves after close(), rejects on a fatal error. */
	readonly closed: Promise<void>;
	private readonly supervisor: Supervisor;
	private readonly enricher: Enricher | undefined;
	private readonly accept: EventPredicate;
	private readonly logger: Logger;
	private readonly malformedLog: RateLimitedLog;
	private readonly queue: MonitorRecord[] = [];
	private readonly waiters: Waiter[] = [];
	private readonly highWaterMark: number;
	/** Records that arrived before create() returned, held so that no listener misses them. */
	private held: MonitorBatchItem[][] | undefined = [];
	private iterating = false;
	private queuePaused = false;
	private finished = false;
	private failure: FimError | undefined;
	private settleClosed!: {resolve: () => void; reject: (error: unknown) => void};
	private readonly clock: Clock;
	private readonly host: string;
	private state: {store: StateStore; baseline: Baseline} | undefined;
	private heartbeatTimer: TimerHandle | undefined;
	private reconciling: Promise<void> | undefined;
	/** What to scan once the scan running now is done: the watched paths named, or all of them. */
	private nextReconcile: {triggers: Set<string>; sinceNs: bigint | undefined; roots: Set<string> | 'all'} | undefined;
	private lastReconcileSummary: ReconcileSummary | undefined;
	private coalesceMs = 1000;

	private constructor(private readonly options: WhoDataMonitorOptions, paths: string[]) {
		super();
		this.logger = options.logger ?? silentLogger;
		const clock = options.clock ?? systemClock;
		this.clock = clock;
		this.malformedLog = new RateLimitedLog(clock, 10_000, message => {
			this.logger.warn(message);
		});
		this.highWaterMark = options.highWaterMark ?? 10_000;
		this.accept = typeof options.filter === 'function' ? options.filter : compileFilter(options.filter ?? {});
		const host = options.host ?? hostname();
		this.host = host;
		if (options.enrich !== false) {
			this.enricher = new Enricher({host, ...(typeof options.enrich === 'object' ? options.enrich : {})});
		}

		this.closed = new Promise<void>((resolve, reject) => {
			this.settleClosed = {resolve, reject};
		});
		// Nobody may be awaiting `closed`; its rejection is reported through 'error' and iterators.
		this.closed.catch(() => {});

		this.supervisor = new Supervisor({
			loaderPath: options.loaderPath ?? defaultLoaderPath(options.env),
			paths,
			tuning: options.tuning,
			backend: options.backend === undefined ? undefined : parseBackend(options.backend, 'backend'),
			env: options.env,
			clock,
			restart: options.restart,
			stopGraceMs: options.stopGraceMs,
			commandTimeoutMs: options.commandTimeoutMs,
			host,
		});
		this.supervisor.on('batch', (lines: ParsedLine[]) => {
			this.onBatch(lines);
		});
		this.supervisor.on('supervisor', (record: SupervisorRecord) => {
			this.onSupervisorRecord(record);
		});
		this.supervisor.on('hello', (hello: HelloRecord) => {
			this.hello = hello;
			if (typeof hello.boot_time_ns === 'number' && this.enricher) {
				this.enricher.setBootTimeMs(hello.boot_time_ns / 1e6);
			}

			if (typeof hello.coalesce_ms === 'number') {
				this.coalesceMs = hello.coalesce_ms;
			}

			this.logger.debug(`loader ready: backend ${hello.backend ?? '?'}, ${hello.hooks?.length ?? 0} hooks, watching ${(hello.paths ?? []).join(', ')}`);
			this.emit('hello', hello);
		});
		this.supervisor.on('stats', (stats: StatsRecord) => {
			this.emit('stats', stats);
		});
		this.supervisor.on('malformed', (malformed: MalformedLine) => {
			this.counters.errors_total.receiving++;
			this.malformedLog.log(`malformed line from the loader (${malformed.reason}): ${malformed.excerpt}`);
		});
		// Until the first loader says hello its error lines wait: when it refuses to start, the
		// refusal fimctl reports repeats its last line, and the reason should be read once.
		let startupErrors: string[] | undefined = [];
		const flushStartupErrors = (except?: string): void => {
			for (const message of startupErrors ?? []) {
				if (message !== except) {
					this.logger.error(`loader: ${message}`);
				}
			}

			startupErrors = undefined;
		};

		this.supervisor.on('stderr', (line: string) => {
			const [level, message] = loaderLogLine(line);
			if (level === 'error' && startupErrors) {
				startupErrors.push(message);
				return;
			}

			this.logger[level](`loader: ${message}`);
		});
		this.supervisor.on('hello', () => {
			flushStartupErrors();
		});
		this.supervisor.on('restart-scheduled', ({delayMs, exit}: {delayMs: number; exit: string}) => {
			flushStartupErrors();
			this.logger.warn(`loader ${exit}; restarting in ${delayMs} ms`);
		});
		this.supervisor.on('fatal', (error: FimError) => {
			const refusal = error instanceof LoaderRefusedError ? error.stderrTail.at(-1) : undefined;
			flushStartupErrors(refusal === undefined ? undefined : loaderLogLine(refusal)[1]);
			this.finish(error);
		});
	}

	/** Starts watching; resolves once the loader reports it is attached. */
	static async create(options: WhoDataMonitorOptions): Promise<WhoDataMonitor> {
		const logger = options.logger ?? silentLogger;
		const paths = normalizeWatchPaths(options.paths, message => {
			logger.info(message);
		}, options.cwd, options.allowAbsent);
		const monitor = new WhoDataMonitor(options, paths);
		const previous = options.stateDir === undefined ? undefined : monitor.openState(options.stateDir);
		try {
			await monitor.supervisor.start();
		} catch (error) {
			monitor.closeState();
			throw error;
		}

		if (monitor.state) {
			monitor.startReconciling(previous);
		}

		// The caller attaches listeners or starts iterating right after the await; deliver then.
		setImmediate(() => {
			monitor.release();
		});
		return monitor;
	}

	/** The last reconciliation that finished, if any. */
	get lastReconcile(): ReconcileSummary | undefined {
		return this.lastReconcileSummary;
	}

	/** Whether a reconciliation scan is running now. */
	get reconcileRunning(): boolean {
		return this.reconciling !== undefined;
	}

	/** Scans the watched paths now and reports what differs from the baseline (needs stateDir). */
	async reconcile(): Promise<void> {
		this.requestReconcile('request', undefined);
		while (this.reconciling) {
			// eslint-disable-next-line no-await-in-loop
			await this.reconciling;
		}
	}

	get paths(): string[] {
		return this.supervisor.paths;
	}

	/** The watched paths that do not exist now: each is watched from the change that makes it. */
	async absentPaths(): Promise<string[]> {
		return this.supervisor.absentPaths();
	}

	async addPath(path: string): Promise<void> {
		const canonical = canonicalPath(path, message => {
			this.logger.info(message);
		}, this.options.cwd);
		const outer = this.supervisor.paths.find(watched => isInside(canonical, watched));
		if (outer !== undefined) {
			this.logger.info(`${canonical} is already watched (under ${outer})`);
			return;
		}

		await this.supervisor.addPath(canonical);
	}

	async removePath(path: string): Promise<void> {
		let canonical: string;
		try {
			canonical = canonicalPath(path, () => {}, this.options.cwd);
		} catch {
			// A path removed from disk can still be unwatched by the name it was added with.
			canonical = resolve(this.options.cwd ?? process.cwd(), path);
		}

		await this.supervisor.removePath(canonical);
	}

	/** Asks the loader for a fresh `stats` record. */
	async requestStats(): Promise<void> {
		await this.supervisor.requestStats();
	}

	/** Backpressure: stop reading from the loader until resume(). */
	pause(): void {
		this.supervisor.pause();
	}

	resume(): void {
		this.supervisor.resume();
	}

	/** Stops the loader, ends iteration, and resolves when everything is down. */
	async close(): Promise<void> {
		if (!this.finished) {
			await this.supervisor.stop();
			await this.stopReconciling();
			this.finish(undefined);
		}

		await this.closed.catch(() => {});
	}

	[Symbol.asyncIterator](): AsyncIterator<MonitorRecord> {
		this.iterating = true;
		return {
			next: async () => this.next(),
			return: async () => {
				this.iterating = false;
				this.queue.length = 0;
				this.updateQueuePause();
				return {done: true, value: undefined};
			},
		};
	}

	private async next(): Promise<IteratorResult<MonitorRecord>> {
		const record = this.queue.shift();
		if (record !== undefined) {
			this.updateQueuePause();
			return {done: false, value: record};
		}

		if (this.finished) {
			if (this.failure) {
				throw this.failure;
			}

			return {done: true, value: undefined};
		}

		return new Promise<IteratorResult<MonitorRecord>>((resolve, reject) => {
			this.waiters.push({resolve, reject});
		});
	}

	private onBatch(lines: ParsedLine[]): void {
		if (this.enricher) {
			// The newest event first: a process checked for one event of the batch is then proven
			// alive past all of them (one read of /proc per process and batch).
			let newest = Number.NEGATIVE_INFINITY;
			for (const {value} of lines) {
				const timestamp = value['timestamp'];
				if (value['type'] === 'event' && typeof timestamp === 'number' && timestamp > newest) {
					newest = timestamp;
				}
			}

			this.enricher.received(newest);
		}

		const items: MonitorBatchItem[] = [];
		const madeAgain = new Set<string>();
		for (const line of lines) {
			const value = line.value;
			if (value['type'] !== 'event') {
				// the loader found a watched path replaced or gone by a move above it: what is there
				// now is only found on disk
				if (value['type'] === 'watch' && this.state && typeof value['path'] === 'string' && this.supervisor.isWatchedPath(value['path'])) {
					madeAgain.add(value['path']);
				}

				continue;
			}

			this.counters.events_received_total++;
			const event = value as KernelEventFields;
			if (!isEventShape(event)) {
				this.counters.errors_total.processing++;
				this.malformedLog.log(`event record without the required fields: ${line.raw.slice(0, 120)}`);
				continue;
			}

			this.state?.baseline.note(event);
			if (this.state && isMadeAgain(event, this.supervisor)) {
				madeAgain.add(event.path);
			}

			if (!this.accept(event)) {
				this.counters.events_discarded_total++;
				continue;
			}

			const processStart = takeProcessStart(line);
			const enrichment = this.enricher?.enrich(event, processStart?.digits);
			items.push(new EventItem(event, enrichment, eventJsonLine(line.raw, event, enrichment, processStart?.memberAt)));
		}

		this.deliver(items);
		if (this.state && this.state.baseline.notedSinceFlush >= baselineFlushPaths) {
			this.flushBaseline();
		}

		// A watched directory made again is watched from its add on, once the loader has read
		// it: what was made inside it before then is only found on disk.
		for (const root of madeAgain) {
			this.requestReconcile('made_again', undefined, [root]);
		}
	}

	private onSupervisorRecord(record: SupervisorRecord): void {
		if (record.kind === 'loss') {
			this.counters.events_lost_total += record.lost ?? 0;
			this.logger.warn(record.message);
		} else if (record.kind === 'restart') {
			this.counters.loader_restarts_total++;
			this.logger.warn(record.message);
		}
		// give_up is followed by the fatal error itself, which whoever handles it reports.

		this.emitSupervisorRecord(record);
		// Whatever the kernel or a dead loader did not deliver is looked for on disk. A coalesced
		// modify is reported up to one window after the write, so the gap opens that much earlier.
		if ((record.kind === 'restart' || record.kind === 'loss') && record.gap_start !== undefined) {
			this.requestReconcile(record.kind, this.gapStartNs(record.gap_start));
		}
	}

	private emitSupervisorRecord(record: SupervisorRecord): void {
		this.emit('supervisor', record);
		this.deliver([new SupervisorItem(record)]);
	}

	private gapStartNs(gapStartNs: number): bigint {
		return BigInt(Math.floor(gapStartNs)) - BigInt(this.coalesceMs + 500) * 1_000_000n;
	}

	// ---- baseline and reconciliation -----------------------------------------------------------

	/** Opens the baseline; says what the previous run left, or why it could not be used. */
	private openState(directory: string): {lastAliveNs: bigint; cleanStop: boolean} | undefined {
		const outcome = StateStore.open(directory);
		const {store} = outcome;
		const enrichJson = this.enricher === undefined ? '' : `,"cmdline":null,"cwd":null,"container_id":null,"parent_name":null,"user_name":null,"group_name":null,"login_user":null,"host":${JSON.stringify(this.host)}`;
		const baseline = new Baseline({
			store,
			clock: this.clock,
			scanRate: this.options.scanRate ?? 20_000,
			extraJson: enrichJson,
			deliver: found => {
				this.onReconcileEvents(found);
			},
			progress: message => {
				this.logger.info(`scan: ${message}`);
			},
		});
		this.state = {store, baseline};
		if (outcome.reset) {
			this.logger.warn(`${outcome.reset.reason}${outcome.reset.movedTo ? `; moved to ${outcome.reset.movedTo}` : ''}; making a fresh baseline`);
			this.emitSupervisorRecord(this.record('state_reset', `${outcome.reset.reason}: a fresh baseline is being made, so changes made while fimctl was not running cannot be reported this time`));
		}

		return outcome.previous;
	}

	private startReconciling(previous: {lastAliveNs: bigint; cleanStop: boolean} | undefined): void {
		const nowNs = this.clock.now() * 1e6;
		if (previous) {
			const record = this.record('downtime', `fimctl was not running between gap_start and gap_end (the previous run ${previous.cleanStop ? 'stopped cleanly' : 'ended without a clean stop'}); the reconciliation that follows reports what changed meanwhile`);
			record.gap_start = Number(previous.lastAliveNs);
			record.gap_end = nowNs;
			this.emitSupervisorRecord(record);
		}

		// No ctime window here: what the previous run did not see is not in its baseline, and
		// shows as a difference (the window would report again what it did see just before it stopped).
		this.scheduleHeartbeat();
		this.requestReconcile('start', undefined);
	}

	private record(kind: SupervisorRecord['kind'], message: string): SupervisorRecord {
		return {type: 'supervisor', kind, timestamp: this.clock.now() * 1e6, host: this.host, message, paths: this.paths};
	}

	/**
	 * Scans `roots` (default: every watched path) now, or right after the scan running now
	 * (merged with any other waiting request).
	 */
	private requestReconcile(trigger: string, sinceNs: bigint | undefined, roots?: readonly string[]): void {
		if (!this.state || this.finished) {
			return;
		}

		if (this.reconciling) {
			const next = this.nextReconcile ??= {triggers: new Set(), sinceNs, roots: new Set()};
			next.triggers.add(trigger);
			if (sinceNs !== undefined && (next.sinceNs === undefined || sinceNs < next.sinceNs)) {
				next.sinceNs = sinceNs;
			}

			if (roots === undefined) {
				next.roots = 'all';
			} else if (next.roots !== 'all') {
				for (const root of roots) {
					next.roots.add(root);
				}
			}

			return;
		}

		this.reconciling = this.runReconcile(trigger, sinceNs, roots ?? this.paths);
	}

	private async runReconcile(trigger: string, sinceNs: bigint | undefined, roots: readonly string[]): Promise<void> {
		const state = this.state!;
		try {
			const summary = await state.baseline.reconcile(roots, trigger, sinceNs);
			this.lastReconcileSummary = summary;
			const seconds = ((summary.finishedAt - summary.startedAt) / 1000).toFixed(1);
			if (summary.newRoots.length > 0) {
				this.logger.info(`baseline of ${summary.newRoots.join(', ')} made (${entriesScanned(summary.scanned)} in ${seconds} s)`);
			}

			// A first baseline has nothing to compare with: the stream hears of scans that could find something.
			const firstBaselineOnly = summary.changes === 0 && summary.newRoots.length === this.paths.length && trigger === 'start';
			// a directory made again is scanned for what came before the loader watched it: said when found
			const nothingMadeEarly = summary.changes === 0 && trigger === 'made_again';
			if (!this.finished && !firstBaselineOnly && !nothingMadeEarly) {
				this.emitSupervisorRecord(reconcileRecord(summary, this.host));
			}
		} catch (error) {
			this.counters.errors_total.processing++;
			this.logger.error(`reconciliation after ${trigger} failed: ${(error as Error).message}`);
		}

		const next = this.nextReconcile;
		this.nextReconcile = undefined;
		this.reconciling = next && !this.finished
			? this.runReconcile([...next.triggers].join('+'), next.sinceNs, next.roots === 'all' ? this.paths : [...next.roots])
			: undefined;
	}

	private onReconcileEvents(found: Array<{event: ReconcileEvent; json: string}>): void {
		const items: MonitorBatchItem[] = [];
		for (const {event, json} of found) {
			this.counters.events_reconciled_total++;
			if (this.enricher !== undefined) {
				// as its JSON line has it (extraJson): the other formats build from the object
				event.host = this.host;
			}

			// Filters see null whodata: a list of processes or uids does not match it.
			if (this.accept(event as unknown as KernelEventFields)) {
				items.push(new ReconcileItem(event, json));
			} else {
				this.counters.events_discarded_total++;
			}
		}

		this.deliver(items);
	}

	/** `final`: the last flush, which applies even a rename whose other half may yet come. */
	private flushBaseline(final = false): void {
		try {
			this.state?.baseline.flush(!final);
		} catch (error) {
			this.counters.errors_total.processing++;
			this.logger.error(`cannot update the baseline: ${(error as Error).message}`);
		}
	}

	/** Once a second: live changes into the baseline, and a sign of life for the next start. */
	private scheduleHeartbeat(): void {
		this.heartbeatTimer = this.clock.setTimeout(() => {
			this.flushBaseline();
			try {
				this.state?.store.heartbeat(BigInt(this.clock.now()) * 1_000_000n);
			} catch {}

			if (!this.finished) {
				this.scheduleHeartbeat();
			}
		}, 1000);
	}

	private async stopReconciling(): Promise<void> {
		if (!this.state) {
			return;
		}

		this.state.baseline.stop();
		this.nextReconcile = undefined;
		await this.reconciling;
		this.flushBaseline(true);
		this.closeState();
	}

	private closeState(): void {
		if (this.heartbeatTimer) {
			this.clock.clearTimeout(this.heartbeatTimer);
			this.heartbeatTimer = undefined;
		}

		try {
			this.state?.store.close(BigInt(this.clock.now()) * 1_000_000n);
		} catch (error) {
			this.logger.error(`cannot close the baseline: ${(error as Error).message}`);
		}

		this.state = undefined;
	}

	private release(): void {
		const held = this.held ?? [];
		this.held = undefined;
		for (const items of held) {
			this.deliver(items);
		}
	}

	private deliver(items: MonitorBatchItem[]): void {
		if (items.length === 0) {
			return;
		}

		if (this.held) {
			this.held.push(items);
			return;
		}

		for (const item of items) {
			if (item.origin === 'supervisor') {
				this.counters.supervisor_records_sent_total++;
			} else {
				this.counters.events_sent_total++;
			}
		}

		this.emit('batch', items);
		const wantsEvents = this.listenerCount('event') > 0;
		if (!wantsEvents && !this.iterating) {
			return;
		}

		for (const item of items) {
			const {record} = item;
			if (wantsEvents && !(item instanceof SupervisorItem)) {
				this.emit('event', record);
			}

			if (this.iterating) {
				const waiter = this.waiters.shift();
				if (waiter) {
					waiter.resolve({done: false, value: record});
				} else {
					this.queue.push(record);
				}
			}
		}

		this.updateQueuePause();
	}

	private updateQueuePause(): void {
		if (!this.queuePaused && this.queue.length >= this.highWaterMark) {
			this.queuePaused = true;
			this.supervisor.pause();
		} else if (this.queuePaused && this.queue.length <= this.highWaterMark / 2) {
			this.queuePaused = false;
			this.supervisor.resume();
		}
	}

	private finish(error: FimError | undefined): void {
		if (this.finished) {
			return;
		}

		this.finished = true;
		this.failure = error;
		this.enricher?.close();
		void this.stopReconciling();
		for (const waiter of this.waiters.splice(0)) {
			if (error) {
				waiter.reject(error);
			} else {
				waiter.resolve({done: true, value: undefined});
			}
		}

		if (error) {
			this.settleClosed.reject(error);
			if (this.listenerCount('error') > 0) {
				this.emit('error', error);
			}
		} else {
			this.settleClosed.resolve();
		}

		this.emit('close');
	}
}

const loaderLevels: Record<string, keyof Logger> = {error: 'error', fatal: 'error', warning: 'warn', warn: 'warn', info: 'info', debug: 'debug'};

/** `fim-loader: warning: text` → ['warn', 'text']; anything else is info as it stands. */
function loaderLogLine(line: string): [keyof Logger, string] {
	const match = /^fim-loader: (\w+): (.*)$/.exec(line);
	const level = match ? loaderLevels[match[1]!] : undefined;
	return level && match ? [level, match[2]!] : ['info', line];
}

const processStartMember = ',"process_start_ns":';

/** The loader's `process_start_ns`: its digits, and where its member starts in the line. */
type ProcessStart = {digits: string; memberAt: number};

/**
 * The loader's `process_start_ns` (when the event's process started) tells processes apart for
 * the enrichment (ProcCache); it is not part of the event users see (DESIGN.md §2). It is taken
 * off the record, and the line is cut at `memberAt` when it is written (eventJsonLine), not
 * copied without it here; its digits are returned: the line keeps the exact value that a double
 * may not (see ProcCache.startTicksOf). The loader writes it last, so the search from the end is
 * short; inside a JSON string its quotes would be escaped, so the match is the member.
 */
function takeProcessStart(line: ParsedLine): ProcessStart | undefined {
	const event = line.value;
	if (typeof event['process_start_ns'] !== 'number') {
		return undefined;
	}

	const {raw} = line;
	const memberAt = raw.lastIndexOf(processStartMember);
	const start = memberAt + processStartMember.length;
	let end = start;
	while (end < raw.length && raw.charCodeAt(end) >= 0x30 && raw.charCodeAt(end) <= 0x39) {
		end++;
	}

	// Anything but plain digits closing the record (this loader writes nothing else) passes
	// through untouched.
	if (memberAt === -1 || end === start || end !== raw.length - 1) {
		return undefined;
	}

	delete event['process_start_ns'];
	return {digits: raw.slice(start, end), memberAt};
}

/**
 * Whether the event made a watched directory again (created, or renamed into place, after it
 * was deleted or moved away). A watched file has nothing inside it to look for.
 */
function isMadeAgain(event: KernelEventFields, watched: {isWatchedPath(path: string): boolean}): boolean {
	return (event.operation === 'add' || event.operation === 'rename') && event.file_type !== 'file' && watched.isWatchedPath(event.path);
}

function isEventShape(event: KernelEventFields): boolean {
	return typeof event.timestamp === 'number'
		&& typeof event.operation === 'string'
		&& typeof event.path === 'string'
		&& typeof event.pid === 'number';
}
