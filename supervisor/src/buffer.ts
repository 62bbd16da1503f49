import {EventEmitter} from 'node:events';
import {closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync} from 'node:fs';
import {join} from 'node:path';
import {systemClock, type Clock} from './clock.js';
import {ConfigError} from './errors.js';
import {RateLimitedLog} from './rate-limit.js';
import type {StreamSink as Sink} from './stream-sink.js';
import {pathsB64, type RecordOrigin, type SupervisorRecord} from './types.js';

/**
 * The buffer in front of one sink, so that a slow or stopped reader never holds up the loader
 * (and through it the kernel's ring buffer): records wait in bounded memory, then in a spool on
 * disk, and leave in the order they came. When both are full, records are discarded and
 * counted, and a gap record takes their place in the stream. Config words are Vector's
 * (`buffer.type`, `buffer.max_events`, `buffer.max_size`, `buffer.when_full`).
 *
 *   push(entries) ──► memory (≤ max_events) ──────────────────────► shift(n) ──► the sink
 *                      │ memory full, or the spool not yet empty       ▲
 *                      ▼                                               │ refilled in order
 *                    spool segments on disk (≤ max_size) ──────────────┘
 *                      │ full
 *                      ▼
 *                    when_full: drop_newest → counted; a `discard` gap record (count, window,
 *                               paths) is queued the moment there is room again
 *                    when_full: block → push() returns false: the caller pauses its source
 *                               until 'drain' (the loader then blocks, and the kernel counts
 *                               what it cannot deliver: a loss, reported and reconciled)
 *
 * Two ways to use it, one buffer per sink:
 * - SpoolQueue: the storage, pulled from. A sink loop takes batches with shift(max, maxBytes)
 *   and asks again when it is free; 'readable' says records arrived in an empty queue.
 * - SinkBuffer: a SpoolQueue pumped into a sink that takes text and says 'drain' (stdout).
 *
 *   const buffer = SinkBuffer.open(sink, {id: 'out', ...parseBufferConfig(raw, 'sinks.out.buffer'),
 *       spoolDirectory: join(stateDir, 'spool', 'out'), renderGap: record => `${JSON.stringify(record)}\n`});
 *   monitor.on('batch', items => buffer.push(items.map(item => ({line: `${item.json}\n`, path: item.path}))));
 *   await buffer.close(5000);   // what the sink takes in 5 s; the rest stays spooled for the next start
 *
 * Spool files (`<spoolDirectory>/<20-digit sequence>.spool`) are appended a batch at a time,
 * never rewritten, and deleted once read:
 *
 *   ┌──────────────┬────────────────────┬──────────────┬─────────┬──────────────┬───
 *   │ u32 LE bytes │ f64 LE timestamp   │ line (UTF-8) │ u32 ... │ f64 ...      │ ...
 *   │ of the line  │ (NaN: none)        │              │         │              │
 *   └──────────────┴────────────────────┴──────────────┴─────────┴──────────────┴───
 *
 * Delivery is at least once: what shift() returned is gone from the queue; after a crash of the
 * supervisor, the part of the oldest segment already read is delivered again.
 */

export type WhenFull = 'block' | 'drop_newest';

/** The user's words (a sink's `buffer:` map in the config). */
export type BufferConfig = {
	/** `memory`: no spool; `disk`: memory first, then the spool. */
	type: 'memory' | 'disk';
	/** Records held in memory. */
	max_events: number;
	/** Bytes the spool may hold on disk (`type: disk`). */
	max_size: number;
	when_full: WhenFull;
};

export const defaultBufferConfig: BufferConfig = {
	type: 'disk',
	max_events: 10_000,
	max_size: 256 * 1024 * 1024,
	when_full: 'drop_newest',
};

export const bufferConfigKeys = ['type', 'max_events', 'max_size', 'when_full'] as const;

/** A sink's `buffer:` map, checked, over the defaults. `where` names it in error messages. */
export function parseBufferConfig(raw: unknown, where: string): BufferConfig {
	if (raw === undefined) {
		return {...defaultBufferConfig};
	}

	if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
		throw new ConfigError(`${where}: expected a map of keys (${bufferConfigKeys.join(', ')})`, {key: where});
	}

	const fields = raw as Record<string, unknown>;
	for (const key of Object.keys(fields)) {
		if (!(bufferConfigKeys as readonly string[]).includes(key)) {
			throw new ConfigError(`unknown key '${where}.${key}' (allowed: ${bufferConfigKeys.join(', ')})`, {key: `${where}.${key}`});
		}
	}

	const config = {...defaultBufferConfig};
	if (fields['type'] !== undefined) {
		if (fields['type'] !== 'memory' && fields['type'] !== 'disk') {
			throw new ConfigError(`${where}.type: expected memory or disk, got ${JSON.stringify(fields['type'])}`, {key: `${where}.type`});
		}

		config.type = fields['type'];
	}

	if (fields['when_full'] !== undefined) {
		if (fields['when_full'] !== 'block' && fields['when_full'] !== 'drop_newest') {
			throw new ConfigError(`${where}.when_full: expected block or drop_newest, got ${JSON.stringify(fields['when_full'])}`, {key: `${where}.when_full`});
		}

		config.when_full = fields['when_full'];
	}

	for (const key of ['max_events', 'max_size'] as const) {
		const value = fields[key];
		if (value !== undefined) {
			if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
				throw new ConfigError(`${where}.${key}: expected a positive integer, got ${JSON.stringify(value)}`, {key: `${where}.${key}`});
			}

			config[key] = value;
		}
	}

	return config;
}

/** One record on its way to a sink. */
export type QueuedEntry = {
	/** What the sink is given (SinkBuffer: newline included). */
	readonly line: string;
	/** The kernel time the record describes (ns since the epoch), kept through the spool. */
	readonly timestamp?: number;
};

export type BufferEntry = QueuedEntry & {
	/** What the record is about: named in the gap record if it has to be discarded. */
	readonly path?: string | null;
	readonly old_path?: string | null;
	/** Their exact bytes, when they are not UTF-8 (the event's `path_b64`, `old_path_b64`). */
	readonly path_b64?: string;
	readonly old_path_b64?: string;
	/**
	 * A full buffer never discards a supervisor record (it reports a loss, a restart or a
	 * discard itself, and they are few); it discards a change found by reconciliation, but
	 * counts it apart, since the kernel did not report it.
	 */
	readonly origin?: RecordOrigin;
};

export type SpoolQueueOptions = BufferConfig & {
	/** The sink's id: named in gap records and messages. */
	id: string;
	/** This sink's own spool directory; without it, `type: disk` acts as `memory`. */
	spoolDirectory?: string;
	/** The gap record as an entry in the sink's format. */
	renderGap: (record: SupervisorRecord) => string;
	clock?: Clock;
	host?: string;
	/** Told once per problem (unwritable disk, an unreadable segment); buffer full at most once a minute. */
	onWarning?: (message: string) => void;
};

export type BufferStats = {
	memory_events: number;
	/** UTF-16 code units of the lines in memory: a measure of their size, not exact bytes. */
	memory_bytes: number;
	/** The most records memory held at once since the buffer was opened. */
	memory_events_peak: number;
	spool_bytes: number;
	spool_files: number;
	/** Records taken out (handed to the sink). */
	sent_total: number;
	/** Records that went through the spool. */
	spooled_total: number;
	/** Records discarded because memory and spool were full (each is named in a gap record). */
	discarded_total: number;
	/** Of those, changes found by reconciliation (source reconcile) rather than reported by the kernel. */
	discarded_reconciled_total: number;
	/** Whether the sink has refused more for now (it is being waited for). */
	waiting_for_sink: boolean;
};

/** Paths named in one gap record; past that only counted. */
const maxGapPaths = 100;
const spoolSuffix = '.spool';
const readPositionFile = 'read-position.json';
/** Sequence number of the first segment of an empty spool; room below it for segments prepended at close. */
const firstSequence = 1_000_000_000_000_000;
/** A length beyond this in a spool frame means the segment is damaged, not a huge record. */
const maxFrameBytes = 16 * 1024 * 1024;
const frameHeaderBytes = 12;

/** `skip`: bytes at its start that an earlier run already delivered. */
type Segment = {sequence: number; path: string; bytes: number; skip: number};

/** `paths` is keyed by the name's bytes (its base64 when it is not UTF-8): two such names read alike. */
type Discarding = {start: number; count: number; reconciled: number; paths: Map<string, {path: string; base64: string | undefined}>; omitted: number; reason: string};

type MemoryItem = {line: string; timestamp: number | undefined};

/** A first-in first-out queue with O(1) shift that never holds more than its live items. */
class Fifo<T> {
	private items: T[] = [];
	private head = 0;

	get length(): number {
		return this.items.length - this.head;
	}

	push(item: T): void {
		this.items.push(item);
	}

	shift(): T | undefined {
		if (this.head >= this.items.length) {
			return undefined;
		}

		const item = this.items[this.head]!;
		this.items[this.head] = undefined as T;
		this.head++;
		if (this.head === this.items.length) {
			this.items = [];
			this.head = 0;
		} else if (this.head >= 4096 && this.head * 2 >= this.items.length) {
			this.items = this.items.slice(this.head);
			this.head = 0;
		}

		return item;
	}

	/** Puts items back in front, in their order. */
	prepend(items: readonly T[]): void {
		this.items = [...items, ...this.items.slice(this.head)];
		this.head = 0;
	}

	drain(): T[] {
		const rest = this.items.slice(this.head);
		this.items = [];
		this.head = 0;
		return rest;
	}
}

/**
 * The storage of a sink's buffer (see the top of this file). Events: 'readable' (records came
 * into an empty queue), 'drain' (`block`: there is room again), 'discard' ({reason}: it began
 * discarding), 'left' (entries: what close() found in memory, kept in the spool or discarded).
 */
export class SpoolQueue extends EventEmitter {
	private readonly memory = new Fifo<MemoryItem>();
	private memoryBytes = 0;
	private memoryPeak = 0;
	private readonly segments: Segment[] = [];
	private spoolBytes = 0;
	/** Where reading resumes in the oldest segment. */
	private readOffset = 0;
	private writeFd: number | undefined;
	private readonly segmentBytes: number;
	/**
	 * The spool is read back a writer's batch at a time (SinkBuffer writes 256 KiB), so that
	 * what one read brings into memory is written in the same turn and dies young. Read a
	 * megabyte at a time, most of it waited in memory across young-generation collections,
	 * was promoted, and draining a full spool grew the old generation by tens of megabytes:
	 * fimctl's peak RSS after `bench-fimctl.mjs --burst 5` was 98-108 MB against 83-100 MB
	 * (eight alternated pairs, each lower with 256 KiB).
	 */
	private readonly readChunkBytes = 256 * 1024;
	private readonly clock: Clock;
	private refused = false;
	private discarding: Discarding | undefined;
	private spoolBroken = false;
	private shifted = 0;
	private spooled = 0;
	private discarded = 0;
	private discardedReconciled = 0;
	/** A sink that keeps falling behind starts a discard run after each catch-up: one line per minute. */
	private readonly fullLog: RateLimitedLog;

	private constructor(private readonly options: SpoolQueueOptions) {
		super();
		this.clock = options.clock ?? systemClock;
		this.fullLog = new RateLimitedLog(this.clock, 60_000, message => this.options.onWarning?.(message));
		this.segmentBytes = Math.min(64 * 1024 * 1024, Math.max(1024 * 1024, Math.floor(options.max_size / 16)));
	}

	/** Segments left in the spool directory by an earlier run come out first. */
	static open(options: SpoolQueueOptions): SpoolQueue {
		const queue = new SpoolQueue(options);
		queue.openSpool();
		return queue;
	}

	get empty(): boolean {
		return this.memory.length === 0 && this.segments.length === 0 && this.discarding === undefined;
	}

	stats(): BufferStats {
		return {
			memory_events: this.memory.length,
			memory_bytes: this.memoryBytes,
			memory_events_peak: this.memoryPeak,
			spool_bytes: this.spoolBytes - this.readOffset,
			spool_files: this.segments.length,
			sent_total: this.shifted,
			spooled_total: this.spooled,
			discarded_total: this.discarded,
			discarded_reconciled_total: this.discardedReconciled,
			waiting_for_sink: false,
		};
	}

	/**
	 * Takes records in order. Never blocks, never throws for a full buffer. Returns false when
	 * `when_full` is `block` and there is no room left: the caller should stop its source until
	 * 'drain' (records pushed meanwhile are still kept, in memory beyond the bound).
	 */
	push(entries: readonly BufferEntry[]): boolean {
		const wasEmpty = this.empty;
		for (const entry of entries) {
			if (!this.accept(entry)) {
				this.discard(entry);
			}
		}

		if (wasEmpty && !this.empty) {
			this.emit('readable');
		}

		return !this.refused;
	}

	/** Up to `maxEvents` records (and about `maxBytes` of lines), oldest first. */
	shift(maxEvents: number, maxBytes = Number.POSITIVE_INFINITY): QueuedEntry[] {
		const taken: QueuedEntry[] = [];
		let bytes = 0;
		while (taken.length < maxEvents && bytes < maxBytes) {
			if (this.memory.length === 0 && !this.refillFromSpool()) {
				break;
			}

			const item = this.memory.shift()!;
			this.memoryBytes -= item.line.length;
			bytes += item.line.length;
			taken.push(item.timestamp === undefined ? {line: item.line} : {line: item.line, timestamp: item.timestamp});
		}

		this.shifted += taken.length;
		if (taken.length > 0) {
			// Room again after a discard: its gap record goes behind everything kept before it.
			this.queueGapRecord();
		}

		if (this.refused && this.hasRoom()) {
			this.refused = false;
			this.emit('drain');
		}

		return taken;
	}

	/**
	 * Puts back, in front, records shift() gave out that the sink did not take (a batch in
	 * flight when the sink stops): they leave first again, or are spooled by close().
	 */
	unshift(entries: readonly QueuedEntry[]): void {
		if (entries.length === 0) {
			return;
		}

		this.memory.prepend(entries.map(entry => ({line: entry.line, timestamp: entry.timestamp})));
		for (const entry of entries) {
			this.memoryBytes += entry.line.length;
		}

		this.shifted -= entries.length;
	}

	/**
	 * Ends a discard in progress (its gap record is queued), keeps what memory holds in the
	 * spool for the next start, and closes the spool. Without a spool what is left is counted
	 * as discarded. Returns both counts.
	 */
	close(): {spooled: number; discarded: number} {
		this.queueGapRecord();
		const left = this.memory.length;
		let spooled = 0;
		let discarded = 0;
		if (left > 0) {
			const items = this.memory.drain();
			this.memoryBytes = 0;
			if (this.spoolEnabled && this.prependSegment(items)) {
				spooled = left;
			} else {
				discarded = left;
				this.discarded += left;
			}

			this.emit('left', items);
		}

		this.closeWriteFd();
		this.saveReadPosition();
		return {spooled, discarded};
	}

	private get spoolEnabled(): boolean {
		return this.options.type === 'disk' && this.options.spoolDirectory !== undefined && !this.spoolBroken;
	}

	/** Places a record in memory or in the spool; false when neither has room. */
	private accept(entry: BufferEntry): boolean {
		if (this.segments.length === 0 && this.memory.length < this.options.max_events) {
			this.queueGapRecord();
			this.toMemory(entry.line, entry.timestamp);
			return true;
		}

		if (this.spoolEnabled && this.spoolBytes + frameHeaderBytes + entry.line.length <= this.options.max_size) {
			this.queueGapRecord();
			if (this.appendToSpool([entry])) {
				this.spooled++;
				return true;
			}
		}

		if (this.options.when_full === 'block') {
			// What the source sends before it pauses is kept past the bound, behind the spool:
			// in memory it would leave before the older records spooled.
			this.refused = true;
			this.placePastBound(entry.line, entry.timestamp);
			return true;
		}

		if (entry.origin === 'supervisor') {
			// Past the bound, like a gap record: discarding a loss record would lose its count
			// silently, and count it as one more discarded event besides. What was discarded
			// before it is reported first.
			this.queueGapRecord();
			this.placePastBound(entry.line, entry.timestamp);
			return true;
		}

		return false;
	}

	/** A record kept past the bound, behind everything held (in the spool if it is in use). */
	private placePastBound(line: string, timestamp: number | undefined): void {
		if (this.segments.length > 0 && this.spoolEnabled && this.appendToSpool([{line, timestamp}])) {
			this.spooled++;
			return;
		}

		this.toMemory(line, timestamp);
	}

	private toMemory(line: string, timestamp: number | undefined): void {
		this.memory.push({line, timestamp});
		this.memoryBytes += line.length;
		if (this.memory.length > this.memoryPeak) {
			this.memoryPeak = this.memory.length;
		}
	}

	private discard(entry: BufferEntry): void {
		this.discarded++;
		if (!this.discarding) {
			const reason = this.spoolEnabled ? 'memory and spool full' : 'memory full';
			this.discarding = {start: this.clock.now(), count: 0, reconciled: 0, paths: new Map(), omitted: 0, reason};
			this.fullLog.log(`sink ${this.options.id}: buffer full (${reason}); discarding records until the sink catches up (each run is counted in a discard record)`);
			this.emit('discard', {reason});
		}

		const discarding = this.discarding;
		discarding.count++;
		if (entry.origin === 'reconcile') {
			discarding.reconciled++;
			this.discardedReconciled++;
		}

		for (const [path, base64] of [[entry.path, entry.path_b64], [entry.old_path, entry.old_path_b64]] as const) {
			if (typeof path !== 'string') {
				continue;
			}

			// a path holds no NUL: no name is taken for a base64
			const key = base64 === undefined ? path : `\0${base64}`;
			if (!discarding.paths.has(key)) {
				if (discarding.paths.size < maxGapPaths) {
					discarding.paths.set(key, {path, base64});
				} else {
					discarding.omitted++;
				}
			}
		}
	}

	/** A discard in progress ends here: its gap record takes the place of what was lost. */
	private queueGapRecord(): void {
		const discarding = this.discarding;
		if (!discarding) {
			return;
		}

		this.discarding = undefined;
		const now = this.clock.now();
		const record: SupervisorRecord = {
			type: 'supervisor',
			kind: 'discard',
			timestamp: now * 1e6,
			host: this.options.host ?? '',
			message: `sink ${this.options.id}: ${discarding.count} record(s) discarded between gap_start and gap_end (${discarding.reason})${discarding.reconciled > 0 ? `, ${discarding.reconciled} of them found by reconciliation` : ''}`,
			gap_start: discarding.start * 1e6,
			gap_end: now * 1e6,
			sink: this.options.id,
			discarded: discarding.count,
			...(discarding.reconciled > 0 ? {discarded_reconciled: discarding.reconciled} : {}),
			paths: [...discarding.paths.values()].map(({path}) => path),
		};
		const base64s = pathsB64([...discarding.paths.values()].map(({base64}) => base64));
		if (base64s) {
			record.paths_b64 = base64s;
		}

		if (discarding.omitted > 0) {
			record.paths_omitted = discarding.omitted;
		}

		this.placePastBound(this.options.renderGap(record), undefined);
	}

	private hasRoom(): boolean {
		return this.memory.length < this.options.max_events && (!this.spoolEnabled || this.spoolBytes < this.options.max_size / 2);
	}

	// ---- the spool -----------------------------------------------------------------------------

	private openSpool(): void {
		const directory = this.options.spoolDirectory;
		if (this.options.type !== 'disk' || directory === undefined) {
			return;
		}

		try {
			mkdirSync(directory, {recursive: true, mode: 0o700});
			const names = readdirSync(directory).filter(name => /^\d{20}\.spool$/.test(name)).sort();
			for (const name of names) {
				const path = join(directory, name);
				const bytes = statSync(path).size;
				this.segments.push({sequence: Number(name.slice(0, 20)), path, bytes, skip: 0});
				this.spoolBytes += bytes;
			}

			this.restoreReadPosition(directory);
		} catch (error) {
			this.breakSpool(`cannot use the spool directory ${directory}: ${(error as Error).message}`);
		}
	}

	/** Where an earlier run stopped reading a segment (saved at close). */
	private restoreReadPosition(directory: string): void {
		const file = join(directory, readPositionFile);
		let position: {segment?: unknown; offset?: unknown};
		try {
			position = JSON.parse(readFileSync(file, 'utf8')) as typeof position;
		} catch {
			return;
		} finally {
			rmSync(file, {force: true});
		}

		const segment = this.segments.find(candidate => candidate.sequence === position.segment);
		if (segment && typeof position.offset === 'number' && position.offset >= 0 && position.offset <= segment.bytes) {
			segment.skip = position.offset;
			if (segment === this.segments[0]) {
				this.readOffset = segment.skip;
			}
		}
	}

	private saveReadPosition(): void {
		const directory = this.options.spoolDirectory;
		const oldest = this.segments[0];
		if (directory !== undefined && oldest !== undefined && this.readOffset > 0) {
			try {
				writeFileSync(join(directory, readPositionFile), JSON.stringify({segment: oldest.sequence, offset: this.readOffset}), {mode: 0o600});
			} catch (error) {
				this.options.onWarning?.(`sink ${this.options.id}: cannot save the spool's read position (its first records will be sent again): ${(error as Error).message}`);
			}
		}
	}

	private segmentPath(sequence: number): string {
		return join(this.options.spoolDirectory!, `${String(sequence).padStart(20, '0')}${spoolSuffix}`);
	}

	private appendToSpool(entries: readonly QueuedEntry[]): boolean {
		const frame = encodeFrames(entries);
		try {
			let segment = this.segments.at(-1);
			if (this.writeFd === undefined || segment === undefined || segment.bytes + frame.length > this.segmentBytes) {
				this.closeWriteFd();
				const sequence = segment === undefined ? firstSequence : segment.sequence + 1;
				segment = {sequence, path: this.segmentPath(sequence), bytes: 0, skip: 0};
				this.writeFd = openSync(segment.path, 'a', 0o600);
				this.segments.push(segment);
			}

			const written = writeSync(this.writeFd, frame);
			if (written !== frame.length) {
				// A short write (disk full): cut it off, so that the segment holds whole records only.
				ftruncateSync(this.writeFd, segment.bytes);
				throw new Error(`short write (${written} of ${frame.length} bytes)`);
			}

			segment.bytes += frame.length;
			this.spoolBytes += frame.length;
			return true;
		} catch (error) {
			this.breakSpool(`cannot write the spool in ${this.options.spoolDirectory}: ${(error as Error).message}; buffering in memory only`);
			return false;
		}
	}

	/** At close: what memory still holds goes before everything already in the spool. */
	private prependSegment(items: readonly MemoryItem[]): boolean {
		const oldest = this.segments[0];
		const sequence = oldest === undefined ? firstSequence : oldest.sequence - 1;
		const path = this.segmentPath(sequence);
		try {
			// Written aside and renamed, so that a crash midway leaves no half segment in the queue.
			const frame = encodeFrames(items);
			writeFileSync(`${path}.tmp`, frame, {mode: 0o600});
			renameSync(`${path}.tmp`, path);
			this.saveReadPosition();
			this.segments.unshift({sequence, path, bytes: frame.length, skip: 0});
			this.spoolBytes += frame.length;
			this.readOffset = 0;
			return true;
		} catch (error) {
			this.options.onWarning?.(`sink ${this.options.id}: cannot keep ${items.length} undelivered record(s) in the spool: ${(error as Error).message}`);
			return false;
		}
	}

	/** Moves records from the oldest segments into memory; false when the spool is empty. */
	private refillFromSpool(): boolean {
		while (this.segments.length > 0 && this.memory.length < this.options.max_events) {
			const segment = this.segments[0]!;
			if (this.readOffset >= segment.bytes) {
				this.dropOldestSegment();
				continue;
			}

			try {
				this.readRecords(segment);
			} catch (error) {
				this.skipDamagedSegment(segment, (error as Error).message);
			}

			if (this.memory.length > 0) {
				return true;
			}
		}

		return this.memory.length > 0;
	}

	/** Reads whole records from the oldest segment into memory, as many as memory takes. */
	private readRecords(segment: Segment): void {
		const fd = openSync(segment.path, 'r');
		try {
			let want = Math.min(segment.bytes - this.readOffset, this.readChunkBytes);
			for (;;) {
				const chunk = Buffer.allocUnsafe(want);
				const got = readSync(fd, chunk, 0, want, this.readOffset);
				if (got < want) {
					throw new Error(`it holds ${this.readOffset + got} of the ${segment.bytes} bytes written to it`);
				}

				let offset = 0;
				while (offset + frameHeaderBytes <= got && this.memory.length < this.options.max_events) {
					const length = chunk.readUInt32LE(offset);
					if (length > maxFrameBytes) {
						throw new Error(`a record of ${length} bytes at offset ${this.readOffset + offset}`);
					}

					const end = offset + frameHeaderBytes + length;
					if (end > got) {
						break;
					}

					const timestamp = chunk.readDoubleLE(offset + 4);
					this.toMemory(chunk.toString('utf8', offset + frameHeaderBytes, end), Number.isNaN(timestamp) ? undefined : timestamp);
					offset = end;
				}

				this.readOffset += offset;
				if (offset > 0 || this.memory.length >= this.options.max_events) {
					return;
				}

				// Not one whole record in the chunk: it is longer than the chunk, or the segment
				// ends inside it (an earlier run died while writing it).
				const length = got >= frameHeaderBytes ? chunk.readUInt32LE(0) : Number.POSITIVE_INFINITY;
				if (frameHeaderBytes + length > segment.bytes - this.readOffset) {
					throw new Error(`it ends inside a record at offset ${this.readOffset}`);
				}

				want = frameHeaderBytes + length;
			}
		} finally {
			closeSync(fd);
		}
	}

	private dropOldestSegment(): void {
		const segment = this.segments.shift()!;
		if (this.segments.length === 0) {
			this.closeWriteFd();
		}

		this.spoolBytes -= segment.bytes;
		this.readOffset = this.segments[0]?.skip ?? 0;
		rmSync(segment.path, {force: true});
	}

	/** A segment that cannot be read to its end: what is left of it is reported, not guessed. */
	private skipDamagedSegment(segment: Segment, why: string): void {
		const lostBytes = segment.bytes - this.readOffset;
		this.options.onWarning?.(`sink ${this.options.id}: spool segment ${segment.path} is damaged (${why}); skipping its last ${lostBytes} byte(s)`);
		const now = this.clock.now();
		this.toMemory(this.options.renderGap({
			type: 'supervisor',
			kind: 'discard',
			timestamp: now * 1e6,
			host: this.options.host ?? '',
			message: `sink ${this.options.id}: ${lostBytes} byte(s) of the spool could not be read back (${why}); the records in them are lost`,
			sink: this.options.id,
			discarded_bytes: lostBytes,
		}), undefined);
		this.dropOldestSegment();
	}

	private breakSpool(message: string): void {
		if (!this.spoolBroken) {
			this.spoolBroken = true;
			this.options.onWarning?.(`sink ${this.options.id}: ${message}`);
		}
	}

	private closeWriteFd(): void {
		if (this.writeFd !== undefined) {
			closeSync(this.writeFd);
			this.writeFd = undefined;
		}
	}
}

function encodeFrames(entries: readonly QueuedEntry[]): Buffer {
	let bytes = 0;
	for (const entry of entries) {
		bytes += frameHeaderBytes + Buffer.byteLength(entry.line);
	}

	const frame = Buffer.allocUnsafe(bytes);
	let offset = 0;
	for (const entry of entries) {
		const length = frame.write(entry.line, offset + frameHeaderBytes, 'utf8');
		frame.writeUInt32LE(length, offset);
		frame.writeDoubleLE(entry.timestamp ?? Number.NaN, offset + 4);
		offset += frameHeaderBytes + length;
	}

	return frame;
}

export type SinkBufferOptions = SpoolQueueOptions & {
	/** Largest single write handed to the sink. */
	writeBytes?: number;
};

/**
 * A SpoolQueue pumped into a sink that takes text and says 'drain' when it wants more
 * (sinks.ts: stdout). Events: 'drain' (`block`: push again), 'discard' ({reason}), 'idle'
 * (everything pushed has been handed to the sink, and the sink wants more).
 */
export class SinkBuffer extends EventEmitter {
	private readonly queue: SpoolQueue;
	private readonly writeBytes: number;
	private readonly clock: Clock;
	private sinkWaiting = false;
	/** The sink's reader went away: keep everything for the next start. */
	private sinkGone = false;
	private pumpScheduled = false;
	private closing = false;
	private direct = 0;
	/** Where write() encodes a batch; reused, since the sink does not keep what it is given. */
	private scratch = Buffer.allocUnsafe(0);

	private constructor(private readonly sink: Sink, options: SinkBufferOptions) {
		super();
		this.clock = options.clock ?? systemClock;
		this.writeBytes = options.writeBytes ?? 256 * 1024;
		this.queue = SpoolQueue.open(options);
		this.queue.on('drain', () => this.emit('drain'));
		this.queue.on('discard', (info: unknown) => this.emit('discard', info));
		sink.on('drain', () => {
			this.sinkWaiting = false;
			this.pump();
		});
		sink.on('closed', () => {
			this.sinkGone = true;
			this.sinkWaiting = true;
		});
	}

	/** Records left in the spool by an earlier run are written first, before anything pushed now. */
	static open(sink: Sink, options: SinkBufferOptions): SinkBuffer {
		const buffer = new SinkBuffer(sink, options);
		buffer.schedulePump();
		return buffer;
	}

	stats(): BufferStats {
		const stats = this.queue.stats();
		return {...stats, sent_total: stats.sent_total + this.direct, waiting_for_sink: this.sinkWaiting};
	}

	/** Nothing held back: the sink has taken everything and wants more. */
	get idle(): boolean {
		return !this.sinkWaiting && this.queue.empty;
	}

	/** See SpoolQueue.push. */
	push(entries: readonly BufferEntry[]): boolean {
		let index = 0;
		// The usual case: nothing waiting, and the sink takes the batch in one write.
		if (!this.sinkWaiting && this.queue.empty) {
			let chars = 0;
			for (; index < entries.length && chars < this.writeBytes; index++) {
				chars += entries[index]!.line.length;
			}

			this.direct += index;
			this.write(entries, index);
			if (index === entries.length) {
				return true;
			}
		}

		const more = this.queue.push(index === 0 ? entries : entries.slice(index));
		this.pump();
		return more;
	}

	/**
	 * Writes what the sink takes within `timeoutMs`; the rest stays in the spool for the next
	 * start (or, without a spool, is counted as discarded). Returns both counts.
	 */
	async close(timeoutMs: number): Promise<{spooled: number; discarded: number}> {
		this.closing = true;
		const deadline = this.clock.now() + timeoutMs;
		for (;;) {
			this.pump();
			const remaining = deadline - this.clock.now();
			if (this.queue.empty || this.sinkGone || remaining <= 0) {
				break;
			}

			// eslint-disable-next-line no-await-in-loop
			await this.waitForSink(Math.min(remaining, 50));
		}

		return this.queue.close();
	}

	private pump(): void {
		let rounds = 0;
		while (!this.sinkWaiting) {
			const entries = this.queue.shift(Number.POSITIVE_INFINITY, this.writeBytes);
			if (entries.length === 0) {
				if (this.queue.empty) {
					this.emit('idle');
				}

				break;
			}

			this.write(entries, entries.length);
			// A fast sink and a long spool: give the event loop (the loader's pipe) a turn.
			if (++rounds >= 16 && !this.closing) {
				this.schedulePump();
				break;
			}
		}
	}

	private schedulePump(): void {
		if (this.pumpScheduled) {
			return;
		}

		this.pumpScheduled = true;
		setImmediate(() => {
			this.pumpScheduled = false;
			this.pump();
		});
	}

	/**
	 * Hands the first `count` entries to the sink in one write, each line encoded on its own:
	 * joined into one string first, they make a rope of thousands of pieces that V8 flattens
	 * before it can encode it, which cost more than twice as much. Room for the worst case (3
	 * bytes per UTF-16 unit) is made up front rather than asking each line its byte length,
	 * which flattened and scanned every line once more (about 520 ns a line against 180).
	 */
	private write(entries: readonly BufferEntry[], count: number): void {
		let units = 0;
		for (let index = 0; index < count; index++) {
			units += entries[index]!.line.length;
		}

		if (this.scratch.length < units * 3) {
			this.scratch = Buffer.allocUnsafe(units * 3);
		}

		let bytes = 0;
		for (let index = 0; index < count; index++) {
			bytes += this.scratch.write(entries[index]!.line, bytes);
		}

		if (bytes > 0 && !this.sink.write(this.scratch.subarray(0, bytes))) {
			this.sinkWaiting = true;
		}
	}

	private async waitForSink(ms: number): Promise<void> {
		await new Promise<void>(resolve => {
			const onDrain = (): void => {
				this.clock.clearTimeout(timer);
				resolve();
			};

			const timer = this.clock.setTimeout(() => {
				this.sink.off('drain', onDrain);
				resolve();
			}, ms);
			this.sink.once('drain', onDrain);
		});
	}
}
