import {EventEmitter} from 'node:events';
import {existsSync} from 'node:fs';
import {systemClock, type Clock, type TimerHandle} from './clock.js';
import {CrashLoopError, LoaderRefusedError, RuntimeError, UsageError, type FimError} from './errors.js';
import {describeExit, LoaderProcess, processIsExiting, type LoaderExit} from './loader-process.js';
import type {MalformedLine, ParsedLine} from './ndjson-parse.js';
import {RestartPolicy, type RestartPolicyOptions} from './restart-policy.js';
import type {AckRecord, HelloRecord, StatsRecord, SupervisorRecord} from './types.js';

/**
 * Keeps one loader running: spawns it, restarts it with backoff when it dies, re-adds the paths
 * that were added at runtime, and gives up (with the loader's last stderr lines) on a crash loop.
 *
 * Emits:
 * - 'batch' (lines: ParsedLine[]): the records of one stdout chunk, in order
 * - 'supervisor' (record: SupervisorRecord): restarts with their gap, kernel losses, dropped paths
 * - 'hello' (record: HelloRecord), 'malformed' (MalformedLine), 'stderr' (line: string)
 * - 'restart-scheduled' ({delayMs, exit}), 'fatal' (error: FimError)
 */

export type LoaderTuning = {
	coalesceMs?: number;
	maxDelayUs?: number;
	busyDelayUs?: number;
	ringbufMb?: number;
	statsInterval?: number;
	/** The loader's `--sched-policy`: `batch` (its default) or `keep`. */
	schedPolicy?: SchedPolicy;
};

/**
 * How the loader (and `fimctl start` itself) is scheduled (docs/protocol.md, *Command line*,
 * `--sched-policy`): `batch` switches a process that runs with the normal policy to
 * SCHED_BATCH, so that its wake-ups do not preempt the tasks making the changes; `keep`
 * leaves the policy it was started with.
 */
export const schedPolicies = ['batch', 'keep'] as const;
export type SchedPolicy = typeof schedPolicies[number];

/**
 * The hooks the loader uses (docs/protocol.md, *Backends*): `auto` lets it ask the kernel,
 * the others force one (a kernel that refuses `fentry` makes the loader exit 3).
 */
export const loaderBackends = ['auto', 'tracepoint', 'fentry'] as const;
export type LoaderBackend = typeof loaderBackends[number];

/** A backend named by a user (flag, config key, library option); throws a UsageError if unknown. */
export function parseBackend(value: unknown, where: string): LoaderBackend {
	if (typeof value !== 'string' || !(loaderBackends as readonly string[]).includes(value)) {
		throw new UsageError(`${where}: ${JSON.stringify(value)} is not one of ${loaderBackends.join(', ')}`);
	}

	return value as LoaderBackend;
}

export type SupervisorOptions = {
	loaderPath: string;
	paths: readonly string[];
	tuning?: LoaderTuning;
	/** Passed as `--backend` when set; the loader's default is `auto`. */
	backend?: LoaderBackend;
	env?: NodeJS.ProcessEnv;
	clock?: Clock;
	restart?: Partial<RestartPolicyOptions>;
	/** How long a stopping loader gets between SIGTERM and SIGKILL. */
	stopGraceMs?: number;
	/** How long a command waits for its ack. */
	commandTimeoutMs?: number;
	/** How long a starting loader may take to say hello before it is killed and restarted. */
	helloTimeoutMs?: number;
	host?: string;
	pathExists?: (path: string) => boolean;
};

/** docs/protocol.md: the version this supervisor reads. */
export const supportedProtocol = 1;

type PendingCommand = {
	resolve: (ack: AckRecord) => void;
	reject: (error: Error) => void;
	timer: TimerHandle;
};

export class Supervisor extends EventEmitter {
	private readonly clock: Clock;
	private readonly policy: RestartPolicy;
	private readonly watched: Set<string>;
	/** Watched paths that did not exist when the loader was last started: it waits for them to be made. */
	private absent = new Set<string>();
	private loader: LoaderProcess | undefined;
	private helloAt: number | undefined;
	private lastRecordAt: number;
	private gapStart: number | undefined;
	private lastExit: LoaderExit | undefined;
	private restarts = 0;
	/** A loader replaced while it was still exiting; its real exit status is awaited for the restart record. */
	private dying: {loader: LoaderProcess; exit?: LoaderExit} | undefined;
	private restartRecordDue: {gapEnd: number; timer: TimerHandle} | undefined;
	private exitWatch: TimerHandle | undefined;
	private lostSoFar = 0;
	/** When the loader last counted its losses (ns): a loss happened after this. */
	private lostCountedAt = 0;
	private nextCommandId = 1;
	private readonly pending = new Map<string, PendingCommand>();
	private restartTimer: TimerHandle | undefined;
	private helloTimer: TimerHandle | undefined;
	private readonly helloTimeoutMs: number;
	private stopping = false;
	private paused = false;
	private firstHello: {resolve: (hello: HelloRecord) => void; reject: (error: FimError) => void} | undefined;
	private readonly host: string;

	constructor(private readonly options: SupervisorOptions) {
		super();
		this.clock = options.clock ?? systemClock;
		this.policy = new RestartPolicy(options.restart);
		this.watched = new Set(options.paths);
		this.lastRecordAt = this.clock.now();
		this.host = options.host ?? '';
		this.helloTimeoutMs = options.helloTimeoutMs ?? 60_000;
	}

	/** The paths being watched now, including those added at runtime. */
	get paths(): string[] {
		return [...this.watched];
	}

	/** Whether `path` is one of the watched paths itself (not one under them). */
	isWatchedPath(path: string): boolean {
		return this.watched.has(path);
	}

	get restartCount(): number {
		return this.restarts;
	}

	/** Starts the loader; resolves on its first `hello`, rejects if it cannot be started. */
	async start(): Promise<HelloRecord> {
		const hello = new Promise<HelloRecord>((resolve, reject) => {
			this.firstHello = {resolve, reject};
		});
		this.spawn();
		return hello;
	}

	async addPath(path: string): Promise<void> {
		const ack = await this.command({cmd: 'add', path});
		if (!ack.ok) {
			throw new UsageError(`cannot watch ${path}: ${ack.message ?? ack.error ?? 'refused by the loader'}`);
		}

		this.watched.add(path);
	}

	/** The watched paths that do not exist now, as the loader knows them (it waits for each to be made). */
	async absentPaths(): Promise<string[]> {
		const ack = await this.command({cmd: 'list'});
		return ack.absent_paths ?? [];
	}

	async removePath(path: string): Promise<void> {
		const ack = await this.command({cmd: 'remove', path});
		// Forget the path either way: a path the loader did not know must not come back on restart.
		this.watched.delete(path);
		if (!ack.ok) {
			throw new UsageError(`cannot stop watching ${path}: ${ack.message ?? ack.error ?? 'refused by the loader'}`);
		}
	}

	/** Asks the loader for a `stats` record now (it arrives in a batch). */
	async requestStats(): Promise<void> {
		this.loader?.send({cmd: 'stats', id: String(this.nextCommandId++)});
	}

	/** Backpressure from the consumer: holds for the current loader and any restarted one. */
	pause(): void {
		this.paused = true;
		this.loader?.pause();
	}

	resume(): void {
		this.paused = false;
		this.loader?.resume();
	}

	async stop(): Promise<void> {
		this.stopping = true;
		this.clearHelloTimer();
		this.stopExitWatch();
		if (this.restartRecordDue) {
			this.emitRestartRecord(this.restartRecordDue.gapEnd);
		}

		if (this.restartTimer) {
			this.clock.clearTimeout(this.restartTimer);
			this.restartTimer = undefined;
		}

		const loader = this.loader;
		if (loader) {
			await loader.stop(this.options.stopGraceMs ?? 3000, (callback, ms) => {
				const handle = this.clock.setTimeout(callback, ms);
				return () => {
					this.clock.clearTimeout(handle);
				};
			});
		}

		this.rejectPending(new RuntimeError('supervisor stopped'));
	}

	private async command(fields: Record<string, string>): Promise<AckRecord> {
		const id = String(this.nextCommandId++);
		const loader = this.loader;
		if (!loader || this.helloAt === undefined || !loader.send({...fields, id})) {
			throw new RuntimeError(`loader is not running; cannot ${fields['cmd'] ?? 'send command'}`);
		}

		return new Promise<AckRecord>((resolve, reject) => {
			const timer = this.clock.setTimeout(() => {
				this.pending.delete(id);
				reject(new RuntimeError(`loader did not answer '${fields['cmd']}' within ${this.options.commandTimeoutMs ?? 5000} ms`));
			}, this.options.commandTimeoutMs ?? 5000);
			this.pending.set(id, {resolve, reject, timer});
		});
	}

	private loaderArgs(): string[] {
		const args: string[] = [];
		for (const path of this.watched) {
			args.push(this.absent.has(path) ? '--absent-path' : '--path', path);
		}

		const {coalesceMs, maxDelayUs, busyDelayUs, ringbufMb, statsInterval, schedPolicy} = this.options.tuning ?? {};
		if (coalesceMs !== undefined) {
			args.push('--coalesce-ms', String(coalesceMs));
		}

		if (maxDelayUs !== undefined) {
			args.push('--max-delay-us', String(maxDelayUs));
		}

		if (busyDelayUs !== undefined) {
			args.push('--busy-delay-us', String(busyDelayUs));
		}

		if (ringbufMb !== undefined) {
			args.push('--ringbuf-mb', String(ringbufMb));
		}

		if (statsInterval !== undefined) {
			args.push('--stats-interval', String(statsInterval));
		}

		if (schedPolicy !== undefined) {
			args.push('--sched-policy', schedPolicy);
		}

		if (this.options.backend !== undefined) {
			args.push('--backend', this.options.backend);
		}

		return args;
	}

	private spawn(): void {
		this.restartTimer = undefined;
		this.lookForAbsentPaths();

		this.helloAt = undefined;
		this.lostSoFar = 0;
		const loader: LoaderProcess = new LoaderProcess({
			loaderPath: this.options.loaderPath,
			args: this.loaderArgs(),
			env: this.options.env,
			onBatch: lines => {
				this.onBatch(lines);
			},
			onMalformed: (malformed: MalformedLine) => this.emit('malformed', malformed),
			onStderrLine: line => this.emit('stderr', line),
		});
		this.loader = loader;
		// A loader stuck before hello (a hung BPF load) counts as a crash, not as a wait forever.
		this.helloTimer = this.clock.setTimeout(() => {
			this.emit('stderr', `fim-loader: error: no hello within ${this.helloTimeoutMs} ms; killing it`);
			loader.kill();
		}, this.helloTimeoutMs);
		if (this.paused) {
			loader.pause();
		}

		void loader.exited.then(exit => {
			this.onExit(loader, exit);
		});
	}

	private onBatch(lines: ParsedLine[]): void {
		this.lastRecordAt = this.clock.now();
		for (const line of lines) {
			switch (line.value['type']) {
				case 'hello': {
					this.onHello(line.value as HelloRecord);
					break;
				}

				case 'ack': {
					this.onAck(line.value as AckRecord);
					break;
				}

				case 'stats': {
					this.onStats(line.value as StatsRecord);
					break;
				}

				default: {
					break;
				}
			}
		}

		this.emit('batch', lines);
	}

	private onHello(hello: HelloRecord): void {
		if (hello.protocol !== supportedProtocol) {
			// A different protocol version means fields changed meaning: reading on would mislead.
			this.fail(new RuntimeError(`the loader speaks protocol ${String(hello.protocol)}; this fimctl understands protocol ${supportedProtocol} (rebuild both from one checkout)`));
			this.loader?.kill();
			return;
		}

		this.clearHelloTimer();
		this.helloAt = this.clock.now();
		this.lostCountedAt = this.helloAt * 1e6;
		this.watchForExit();
		this.emit('hello', hello);
		if (this.firstHello) {
			this.firstHello.resolve(hello);
			this.firstHello = undefined;
		}

		if (this.gapStart !== undefined) {
			if (this.dying && !this.dying.exit) {
				// The record names how the old loader ended: wait for it (a few seconds at most).
				const gapEnd = this.helloAt;
				this.restartRecordDue = {gapEnd, timer: this.clock.setTimeout(() => {
					this.emitRestartRecord(gapEnd);
				}, 5000)};
			} else {
				this.emitRestartRecord(this.helloAt);
			}
		}
	}

	private emitRestartRecord(gapEnd: number): void {
		if (this.restartRecordDue) {
			this.clock.clearTimeout(this.restartRecordDue.timer);
			this.restartRecordDue = undefined;
		}

		if (this.gapStart === undefined) {
			return;
		}

		this.emitRecord({
			kind: 'restart',
			message: `loader restarted after ${this.lastExit ? describeExit(this.lastExit) : 'an exit'}; changes between gap_start and gap_end may be missing`,
			gap_start: this.gapStart * 1e6,
			gap_end: gapEnd * 1e6,
			restarts: this.restarts,
			exit: this.lastExit ? describeExit(this.lastExit) : undefined,
			paths: this.paths,
		});
		this.gapStart = undefined;
	}

	/**
	 * A loader killed by a signal spends a second or more in the kernel detaching its programs
	 * before it exits, and its pipes close only at the end of that. Looking at its flags every
	 * 100 ms finds it exiting at once, so that its replacement starts meanwhile (the two do not
	 * wait on each other) and the restart gap is that much shorter.
	 */
	private watchForExit(): void {
		const loader = this.loader;
		this.exitWatch = this.clock.setTimeout(() => {
			this.exitWatch = undefined;
			if (loader !== this.loader || this.stopping || loader?.pid === undefined) {
				return;
			}

			if (processIsExiting(loader.pid)) {
				this.onExit(loader, {code: null, signal: null, spawnError: null, saidBye: false, exiting: true});
				this.dying = {loader};
			} else {
				this.watchForExit();
			}
		}, 100);
	}

	private stopExitWatch(): void {
		if (this.exitWatch) {
			this.clock.clearTimeout(this.exitWatch);
			this.exitWatch = undefined;
		}
	}

	private onAck(ack: AckRecord): void {
		const id = ack.id ?? '';
		const pending = this.pending.get(id);
		if (pending) {
			this.pending.delete(id);
			this.clock.clearTimeout(pending.timer);
			pending.resolve(ack);
		}
	}

	private onStats(stats: StatsRecord): void {
		this.emit('stats', stats);
		const lost = typeof stats.lost === 'number' ? stats.lost : 0;
		const countedAt = typeof stats.timestamp === 'number' ? stats.timestamp : this.clock.now() * 1e6;
		if (lost > this.lostSoFar) {
			const delta = lost - this.lostSoFar;
			this.lostSoFar = lost;
			this.emitRecord({
				kind: 'loss',
				message: `the kernel could not deliver ${delta} record(s) between gap_start and gap_end; changes under the watched paths may be missing`,
				gap_start: this.lostCountedAt,
				gap_end: countedAt,
				lost: delta,
				paths: this.paths,
			});
		}

		this.lostCountedAt = countedAt;
	}

	private clearHelloTimer(): void {
		if (this.helloTimer) {
			this.clock.clearTimeout(this.helloTimer);
			this.helloTimer = undefined;
		}
	}

	private onExit(loader: LoaderProcess, exit: LoaderExit): void {
		if (this.dying?.loader === loader) {
			this.dying = undefined;
			this.lastExit = exit;
			if (this.restartRecordDue) {
				this.emitRestartRecord(this.restartRecordDue.gapEnd);
			}

			return;
		}

		if (loader !== this.loader) {
			return;
		}

		this.clearHelloTimer();
		this.stopExitWatch();

		this.rejectPending(new RuntimeError(`loader exited (${describeExit(exit)})`));
		if (this.stopping) {
			return;
		}

		const now = this.clock.now();
		const ranMs = this.helloAt === undefined ? 0 : now - this.helloAt;
		const neverStarted = this.helloAt === undefined && this.firstHello !== undefined;
		// Exit codes 2, 3 and 4 mean "this cannot work here" (usage, unsupported, permission):
		// restarting would only repeat it. A missing binary is the same.
		if (neverStarted && (exit.spawnError || (exit.code !== null && exit.code >= 2 && exit.code <= 4))) {
			this.fail(exit.spawnError
				? new RuntimeError(`cannot start the loader ${this.options.loaderPath}: ${exit.spawnError}`)
				: new LoaderRefusedError(exit.code!, loader.stderrTail));
			return;
		}

		// Anything after the last record we read may have been in flight when the loader died.
		this.gapStart ??= this.lastRecordAt;
		this.lastExit = exit;
		const decision = this.policy.onCrash(now, ranMs);
		if (decision.action === 'give-up') {
			const error = new CrashLoopError(decision.crashesInWindow, this.policy.options.windowMs, loader.stderrTail, describeExit(exit));
			this.emitRecord({
				kind: 'give_up',
				message: error.message,
				gap_start: this.gapStart * 1e6,
				restarts: this.restarts,
				exit: describeExit(exit),
				paths: this.paths,
			});
			this.fail(error);
			return;
		}

		this.emit('restart-scheduled', {delayMs: decision.delayMs, exit: describeExit(exit), stderrTail: loader.stderrTail});
		this.restartTimer = this.clock.setTimeout(() => {
			if (!this.stopping) {
				this.restarts++;
				this.spawn();
			}
		}, decision.delayMs);
	}

	private fail(error: FimError): void {
		this.stopping = true;
		this.rejectPending(error);
		if (this.firstHello) {
			this.firstHello.reject(error);
			this.firstHello = undefined;
		}

		this.emit('fatal', error);
	}

	/**
	 * A watched path that is gone when the loader starts again stays watched, from when it is
	 * made again, as the running loader does for one deleted under it; so does one that never
	 * existed, where the caller allowed it (monitor.ts).
	 */
	private lookForAbsentPaths(): void {
		const exists = this.options.pathExists ?? existsSync;
		this.absent = new Set([...this.watched].filter(path => !exists(path)));
	}

	private rejectPending(error: Error): void {
		for (const [id, pending] of this.pending) {
			this.clock.clearTimeout(pending.timer);
			pending.reject(error);
			this.pending.delete(id);
		}
	}

	private emitRecord(fields: Omit<SupervisorRecord, 'type' | 'timestamp' | 'host'>): void {
		const record: SupervisorRecord = {type: 'supervisor', timestamp: this.clock.now() * 1e6, host: this.host, ...fields};
		for (const key of Object.keys(record) as Array<keyof SupervisorRecord>) {
			if (record[key] === undefined) {
				delete record[key];
			}
		}

		this.emit('supervisor', record);
	}
}
