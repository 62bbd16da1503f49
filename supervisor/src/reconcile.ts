import {readdirSync, type Dirent} from 'node:fs';
import type {Clock} from './clock.js';
import {parentOf, statPath, type FileState, type StateStore, type StoredFile} from './state-store.js';
import {groupThousands} from './format-count.js';
import {pathsB64, type FileType, type KernelEventFields, type Operation, type ReconcileEvent, type SupervisorRecord} from './types.js';

/**
 * Keeps the baseline current from live events, and reconciles: compares the disk with the
 * baseline and reports what differs as ordinary events with `source: "reconcile"` and whodata
 * null (who made those changes is not known, and the event says so).
 *
 * The baseline holds, for each path, a state that some reported event explains. A live event
 * for a path marks it; at a later flush (the second between batches, which come every 256 new
 * paths or every second, or any before a scan step) the path is lstat'ed and stored only if its
 * ctime is not later than the event (plus a little clock slack): a change made after the
 * event, whose own event may yet be lost, stays visible as a difference. A path that is gone is
 * forgotten only if its event was a delete or a rename; such a path is forgotten without an
 * lstat: its latest event says it is gone, and that is the state the event explains.
 *
 * Scans after a gap (loader restart, kernel loss, downtime) also report every file whose ctime
 * falls inside the gap, even if it matches the baseline: ctime cannot be set from user space,
 * so a change whose event was lost is found even when a flush stored its state before the loss
 * was known, or a `touch -d` put the mtime back.
 */

export type ReconcileTrigger = 'start' | 'restart' | 'loss' | 'request' | 'made_again';

export type ReconcileSummary = {
	trigger: string;
	startedAt: number;
	finishedAt: number;
	scanned: number;
	changes: number;
	/** Watched paths scanned for the first time: baselined without reporting. */
	newRoots: string[];
	/** Paths reported (at most 100). */
	paths: string[];
	/** The exact bytes of each of `paths` that is not UTF-8 (its event's path_b64). */
	pathsB64: Array<string | undefined>;
	pathsOmitted: number;
};

export type BaselineOptions = {
	store: StateStore;
	clock: Clock;
	/** Entries lstat'ed per second by a scan; 0 for no limit. */
	scanRate: number;
	/** Receives each batch of reconcile events (the path as a byte string beside each). */
	deliver: (events: Array<{event: ReconcileEvent; json: string}>) => void;
	/** Progress of a long scan, at most every few seconds. */
	progress: (message: string) => void;
	/** Extra members appended to each event's JSON (the enrichment fields, null, and host). */
	extraJson?: string;
	/** How much later than its event a ctime may be and still be the state it reported. */
	slackNs?: bigint;
};

/**
 * The latest event for a path: its time (ns; a double is exact enough beside the slack) and
 * whether it said the path is gone. `new`: the path is not a directory and came into being by
 * an `add` since the last flush, so the store has nothing at it (see note()). `round`: the
 * flush round in which the first event for the path came (flush()). `vanished`: a flush found
 * the path missing; the note waits for the event that took it away without another lstat.
 */
type Pending = {timestampNs: number; gone: boolean; new: boolean; round: number; vanished?: boolean};

const scanChunk = 512;
/** Notes a flush between batches leaves waiting for the other half of an exchange, at most. */
const maxNotesWaiting = 16_384;

/** How long a note of a path that vanished (or moved away) before its event waits for that event. */
const vanishedNoteNs = 5e9;
const progressEveryMs = 2000;
const maxSummaryPaths = 100;

export class Baseline {
	private pending = new Map<string, Pending>();
	/** How many notes each directory has right below it: a rename of one of them carries notes. */
	private pendingParents = new Map<string, number>();
	/** Renames not yet applied to the store, in order. */
	private moves: Array<{from: string; to: string; exchange?: boolean}> = [];
	/**
	 * The loader reports renameat2(RENAME_EXCHANGE) as two renames of one call, one per
	 * direction, back to back: a renameat2 waits here for the next event to say which it is.
	 */
	private heldRename: KernelEventFields | undefined;
	/** When the held rename came (clock ms). */
	private heldSince = 0;
	private readonly slackNs: number;
	/** Flushes so far, and paths first noted since the last one. */
	private round = 0;
	private notedThisRound = 0;
	private stopping = false;
	/** Paths flushes looked up on disk, so far. */
	lookups = 0;

	constructor(private readonly options: BaselineOptions) {
		this.slackNs = Number(options.slackNs ?? 10_000_000n);
	}

	/** Paths first noted since the last flush. */
	get notedSinceFlush(): number {
		return this.notedThisRound;
	}

	/**
	 * Notes live events (in order); the store is updated at the next flush.
	 *
	 * A file made and gone between two flushes (a temporary file, an editor's backup, the
	 * create / rename / delete of a log rotation or a package install) needs no store write:
	 * such a path is marked new, its renames are not recorded and its forgetting is skipped. That
	 * is two of the three statements of a create / rename / delete cycle, and 9% of the
	 * supervisor's CPU per event under such a load at full speed.
	 *
	 * A path is new only from an `add` that made it (nothing existed there just before) of a
	 * non-directory (no subtree can be moved in below it), and stops being new when a rename
	 * brings something the store may know onto it. The store holds something at a new path only
	 * if a delete of it was lost; the loss triggers a scan, which reports that stale entry as
	 * deleted, as it was.
	 */
	note(event: KernelEventFields): void {
		const held = this.heldRename;
		if (held !== undefined) {
			this.heldRename = undefined;
			if (exchangeTwins(held, event)) {
				this.exchange(byteString(held.old_path!, held.old_path_b64), byteString(held.path, held.path_b64), held.timestamp);
				return;
			}

			this.rename(held);
		}

		if (event.operation === 'rename' && typeof event.old_path === 'string') {
			if (event.syscall === 'renameat2') {
				this.heldRename = event;
				this.heldSince = this.options.clock.now();
			} else {
				this.rename(event);
			}

			return;
		}

		const made = event.operation === 'add' && event.file_type !== null && event.file_type !== 'dir';
		const note = this.mark(byteString(event.path, event.path_b64), event.timestamp, event.operation === 'delete', made);
		if (event.operation === 'add') {
			// A new file deleted and made again as a directory is new no more: something may be
			// moved in below it, and its renames must take that along.
			note.new &&= made;
		}
	}

	/** A rename that is not half of an exchange. */
	private rename(event: KernelEventFields): void {
		const timestampNs = event.timestamp;
		const path = byteString(event.path, event.path_b64);
		const from = byteString(event.old_path!, event.old_path_b64);
		const fromNew = this.pending.get(from)?.new === true;
		if (!fromNew) {
			this.moves.push({from, to: path});
			// What was below `path` is replaced, and its rows leave with the move: its notes,
			// a delete's above all, would otherwise apply to what the move brings.
			if (this.hasPendingBelow(path)) {
				this.forgetPendingBelow(path);
			}

			if (this.hasPendingBelow(from)) {
				this.carryPending(from, path);
			}
		}

		this.mark(from, timestampNs, true, false);
		// Unless a new file took the place of another, what is at `path` now may be in the
		// store (moved there, or there before).
		const targetNew = fromNew && this.pending.get(path)?.new === true;
		this.mark(path, timestampNs, false, false).new = targetNew;
	}

	/**
	 * renameat2(RENAME_EXCHANGE): `a` and `b`, with what is below them, trade places, and both
	 * are still there. Applied as two moves, the second would have put back what the first
	 * moved, and the other name's subtree would have left the baseline.
	 */
	private exchange(a: string, b: string, timestampNs: number): void {
		this.moves.push({from: a, to: b, exchange: true});
		const notes = (root: string) => [...this.pending].filter(([path]) => path === root || path.startsWith(`${root}/`));
		const fromA = notes(a);
		const fromB = notes(b);
		for (const [path] of [...fromA, ...fromB]) {
			this.unsetPending(path);
		}

		for (const [path, note] of fromA) {
			this.setMovedPending(b + path.slice(a.length), note);
		}

		for (const [path, note] of fromB) {
			this.setMovedPending(a + path.slice(b.length), note);
		}

		this.mark(a, timestampNs, false, false);
		this.mark(b, timestampNs, false, false);
	}

	/**
	 * Applies what live events said to the store. `betweenBatches`: the last event, less than a
	 * second ago, may be the first half of an exchange whose other half comes with the next
	 * batch (its two lines may come in two reads). Flushed as a plain rename, the exchange would
	 * lose one side's tree; flushed without it, the disk already shows it, and a path below
	 * what it moved can name a file of the other tree. So such a flush waits for the next
	 * batch, unless notes pile up (a stream of renameat2: `mv` uses it): then it goes without
	 * the rename, which waits alone.
	 */
	flush(betweenBatches = false): void {
		const waiting = betweenBatches && this.heldRename !== undefined && this.options.clock.now() - this.heldSince < 1000;
		if (waiting && this.pending.size < maxNotesWaiting) {
			return;
		}

		if (this.heldRename !== undefined && !waiting) {
			const held = this.heldRename;
			this.heldRename = undefined;
			this.rename(held);
		}

		if (this.pending.size === 0 && this.moves.length === 0) {
			return;
		}

		const {store} = this.options;
		const nowNs = this.options.clock.now() * 1e6;
		const round = this.round;
		this.round++;
		this.notedThisRound = 0;
		const moves = this.moves;
		const pending = this.pending;
		this.moves = [];
		this.pending = new Map();
		this.pendingParents = new Map();
		store.transaction(() => {
			for (const {from, to, exchange} of moves) {
				if (exchange) {
					store.exchange(from, to);
				} else {
					store.move(from, to);
				}
			}

			for (const [path, note] of pending) {
				// Between batches, a path first noted since the last flush waits for the next one:
				// it may be a temporary file whose rename or delete is in the next batch, and then
				// it needs no lstat. Under a create / rename / delete load at full speed, those
				// lstats stalled fimctl for up to 10 ms each (a name renamed away is looked up
				// under the lock of its directory, which the writers hold).
				if (betweenBatches && note.round === round) {
					this.setPending(path, note);
					continue;
				}

				// A path whose latest event said it is gone leaves the baseline without an lstat
				// (one per deleted or renamed-away file was a third of the supervisor's time under
				// a create/rename/delete load). If it is back on disk already, the event of that
				// comes next and stores it; if that event is lost, the next scan finds the file
				// missing from the baseline and reports it, as it would any unexplained state.
				const state = note.gone || note.vanished ? undefined : this.lookUp(path);

				if (state === undefined) {
					if (note.gone && !note.new) {
						store.remove(path);
					} else if (!note.gone && nowNs - note.timestampNs < vanishedNoteNs) {
						// Gone from the disk before the event that took it away came (a rename of
						// a directory above it, most often): the note waits for that event, which
						// takes it along to where the path went. It is not looked up again
						// meanwhile: when events are lost, many such notes wait for events that
						// never come, and looking each up at every flush (each costs a lookup under
						// the lock of a busy directory) took a quarter of fimctl's time under a
						// storm, making it lose more.
						note.vanished = true;
						this.setPending(path, note);
					}
				} else if (state.type === 'dir' || Number(state.ctimeNs) <= note.timestampNs + this.slackNs) {
					store.put(path, state);
				}
			}
		});
	}

	private lookUp(path: string): FileState | undefined {
		this.lookups++;
		return statPath(path);
	}

	/** Ends a scan in progress at its next step. */
	stop(): void {
		this.stopping = true;
	}

	/**
	 * Scans `roots` and reports what differs from the baseline (only under roots already
	 * baselined: a new root is baselined silently). `sinceNs`: the start of a gap, whose
	 * changes are reported even when the baseline already matches them.
	 */
	async reconcile(roots: readonly string[], trigger: string, sinceNs?: bigint): Promise<ReconcileSummary> {
		const {store, clock} = this.options;
		const summary: ReconcileSummary = {trigger, startedAt: clock.now(), finishedAt: 0, scanned: 0, changes: 0, newRoots: [], paths: [], pathsB64: [], pathsOmitted: 0};
		const pace = {startedAt: clock.now(), lastProgress: clock.now(), entries: 0};
		for (const root of roots.map(path => byteString(path))) {
			if (this.stopping) {
				break;
			}

			this.flush();
			const report = store.isBaselined(root);
			if (!report) {
				summary.newRoots.push(Buffer.from(root, 'latin1').toString('utf8'));
			}

			const found: Array<{event: ReconcileEvent; json: string}> = [];
			const rootState = statPath(root);
			store.transaction(() => {
				this.compare(root, rootState, store.get(root), report, sinceNs, found, summary);
			});
			if (rootState !== undefined) {
				// an entry like the ones below it: a watched file is one, not none
				summary.scanned++;
			}

			this.deliver(found);
			const directories = rootState?.type === 'dir' ? [root] : [];
			while (directories.length > 0 && !this.stopping) {
				// eslint-disable-next-line no-await-in-loop
				await this.scanDirectory(directories.pop()!, directories, report, sinceNs, summary, pace);
			}

			if (!this.stopping) {
				store.markBaselined(root, BigInt(clock.now()) * 1_000_000n);
			}
		}

		summary.finishedAt = clock.now();
		return summary;
	}

	private async scanDirectory(directory: string, directories: string[], report: boolean, sinceNs: bigint | undefined, summary: ReconcileSummary, pace: {startedAt: number; lastProgress: number; entries: number}): Promise<void> {
		const {store} = this.options;
		let names: string[];
		try {
			names = (readdirSync(Buffer.from(directory, 'latin1'), {encoding: 'buffer', withFileTypes: true}) as Array<Dirent<Buffer>>)
				.map(entry => (entry.name as unknown as Buffer).toString('latin1'));
		} catch {
			// Gone or unreadable since it was listed: the next scan of its parent settles it.
			return;
		}

		const known = new Map(store.children(directory).map(row => [row.path, row]));
		const prefix = directory === '/' ? '/' : `${directory}/`;
		for (let start = 0; start < names.length || start === 0; start += scanChunk) {
			if (this.stopping) {
				return;
			}

			this.flush();
			const found: Array<{event: ReconcileEvent; json: string}> = [];
			const chunk = names.slice(start, start + scanChunk);
			const last = start + scanChunk >= names.length;
			store.transaction(() => {
				for (const name of chunk) {
					const path = prefix + name;
					const state = statPath(path);
					const row = known.get(path);
					known.delete(path);
					this.compare(path, state, row, report, sinceNs, found, summary);
					if (state?.type === 'dir') {
						directories.push(path);
					}
				}

				// What the baseline holds and the directory no longer lists was deleted.
				if (last) {
					for (const row of known.values()) {
						if (statPath(row.path) === undefined) {
							this.compare(row.path, undefined, row, report, sinceNs, found, summary);
						}
					}
				}
			});
			summary.scanned += chunk.length;
			this.deliver(found);
			// eslint-disable-next-line no-await-in-loop
			await this.pace(pace, chunk.length);
			if (last) {
				break;
			}
		}
	}

	/** Compares one path with its row, reports a difference, and brings the row up to date. */
	private compare(path: string, state: FileState | undefined, row: StoredFile | undefined, report: boolean, sinceNs: bigint | undefined, found: Array<{event: ReconcileEvent; json: string}>, summary: ReconcileSummary): void {
		const {store} = this.options;
		if (state === undefined) {
			if (row === undefined) {
				return;
			}

			const below = store.subtree(path);
			store.remove(path);
			if (report) {
				for (const gone of [...below, row]) {
					this.found(found, summary, 'delete', gone.path, gone, []);
				}
			}

			return;
		}

		if (row === undefined) {
			store.put(path, state);
			if (report) {
				this.found(found, summary, 'add', path, state, []);
			}

			return;
		}

		const changed = differences(row, state);
		const inGap = sinceNs !== undefined && state.type !== 'dir' && state.ctimeNs >= sinceNs;
		if (changed.length === 0 && !inGap) {
			return;
		}

		store.put(path, state);
		if (report) {
			this.found(found, summary, operationFor(changed), path, state, changed);
		}
	}

	private found(found: Array<{event: ReconcileEvent; json: string}>, summary: ReconcileSummary, operation: Operation, path: string, state: FileState, changed: string[]): void {
		const event = reconcileEvent(BigInt(this.options.clock.now()) * 1_000_000n, operation, path, state, changed);
		found.push({event, json: reconcileJsonLine(event, this.options.extraJson ?? '')});
		summary.changes++;
		if (summary.paths.length < maxSummaryPaths) {
			summary.paths.push(event.path);
			summary.pathsB64.push(event.path_b64);
		} else {
			summary.pathsOmitted++;
		}
	}

	private deliver(found: Array<{event: ReconcileEvent; json: string}>): void {
		if (found.length > 0) {
			this.options.deliver(found);
		}
	}

	/** Keeps to the scan rate, lets live events through between chunks, and says how far it got. */
	private async pace(pace: {startedAt: number; lastProgress: number; entries: number}, entries: number): Promise<void> {
		const {clock, scanRate} = this.options;
		pace.entries += entries;
		const now = clock.now();
		if (now - pace.lastProgress >= progressEveryMs) {
			pace.lastProgress = now;
			const seconds = (now - pace.startedAt) / 1000;
			this.options.progress(`${entriesScanned(pace.entries)} in ${seconds.toFixed(0)} s (${groupThousands(Math.round(pace.entries / seconds))}/s)`);
		}

		const aheadMs = scanRate > 0 ? (pace.entries / scanRate * 1000) - (now - pace.startedAt) : 0;
		await new Promise<void>(resolve => {
			if (aheadMs > 1) {
				clock.setTimeout(resolve, aheadMs);
			} else {
				setImmediate(resolve);
			}
		});
	}

	/** `made`: the event made the path (note()), which counts only for a path not noted yet. */
	private mark(path: string, timestampNs: number, gone: boolean, made: boolean): Pending {
		const note = this.pending.get(path);
		if (note) {
			// The latest event decides whether the path should be there, and where to look.
			note.gone = gone;
			note.vanished = false;
			if (timestampNs > note.timestampNs) {
				note.timestampNs = timestampNs;
			}

			return note;
		}

		const fresh = {timestampNs, gone, new: made, round: this.round};
		this.notedThisRound++;
		this.setPending(path, fresh);
		return fresh;
	}

	private setPending(path: string, note: Pending): void {
		this.pending.set(path, note);
		const parent = parentOf(path);
		this.pendingParents.set(parent, (this.pendingParents.get(parent) ?? 0) + 1);
	}

	/** A note taken along by a rename of its path or of a directory above it: it may be found where it went. */
	private setMovedPending(path: string, note: Pending): void {
		note.vanished = false;
		this.setPending(path, note);
	}

	private unsetPending(path: string): void {
		this.pending.delete(path);
		this.forgetParent(path);
	}

	private hasPendingBelow(directory: string): boolean {
		if (this.pendingParents.has(directory)) {
			return true;
		}

		const prefix = `${directory}/`;
		for (const parent of this.pendingParents.keys()) {
			if (parent.startsWith(prefix)) {
				return true;
			}
		}

		return false;
	}

	private forgetPendingBelow(directory: string): void {
		const prefix = `${directory}/`;
		for (const path of [...this.pending.keys()]) {
			if (path.startsWith(prefix)) {
				this.unsetPending(path);
			}
		}
	}

	/** Pending notes below a renamed directory now live under its new name. */
	private carryPending(from: string, to: string): void {
		const prefix = `${from}/`;
		for (const [path, note] of [...this.pending]) {
			if (path.startsWith(prefix)) {
				// nothing below `to` is pending any more (rename() forgot it)
				this.unsetPending(path);
				this.setMovedPending(to + path.slice(from.length), note);
			}
		}
	}

	private forgetParent(path: string): void {
		const parent = parentOf(path);
		const count = (this.pendingParents.get(parent) ?? 0) - 1;
		if (count > 0) {
			this.pendingParents.set(parent, count);
		} else {
			this.pendingParents.delete(parent);
		}
	}
}

/**
 * Content (type, inode, size, mtime) is a `modify`; owner and mode alone an `attrib` (chmod
 * moves ctime too). A ctime that moved with nothing else, or a change inside a gap, is a
 * `modify`: a write whose mtime was put back (`touch -d`) looks exactly like that.
 */
function operationFor(changed: readonly string[]): Operation {
	if (changed.some(field => field === 'type' || field === 'inode' || field === 'size' || field === 'mtime')) {
		return 'modify';
	}

	return changed.some(field => field === 'mode' || field === 'uid' || field === 'gid') ? 'attrib' : 'modify';
}

/** Which of the compared fields differ (directories: only what a child's change leaves alone). */
function differences(row: StoredFile, state: FileState): string[] {
	const changed: string[] = [];
	if (row.type !== state.type) {
		changed.push('type');
	}

	if (row.inode !== state.inode || row.dev !== state.dev) {
		changed.push('inode');
	}

	if (row.mode !== state.mode) {
		changed.push('mode');
	}

	if (row.uid !== state.uid) {
		changed.push('uid');
	}

	if (row.gid !== state.gid) {
		changed.push('gid');
	}

	if (state.type !== 'dir' || row.type !== 'dir') {
		if (row.size !== state.size) {
			changed.push('size');
		}

		if (row.mtimeNs !== state.mtimeNs) {
			changed.push('mtime');
		}

		if (row.ctimeNs !== state.ctimeNs) {
			changed.push('ctime');
		}
	}

	return changed;
}

/** A path from an event as a byte string (see state-store.ts). */
/** The two renames the loader reports for one renameat2(RENAME_EXCHANGE): the same call, each name onto the other. */
function exchangeTwins(first: KernelEventFields, second: KernelEventFields): boolean {
	return second.operation === 'rename' && first.syscall === 'renameat2' && second.syscall === 'renameat2'
		&& second.timestamp === first.timestamp && second.tid === first.tid
		&& second.path === first.old_path && second.old_path === first.path
		&& (second.path_b64 ?? null) === (first.old_path_b64 ?? null) && (second.old_path_b64 ?? null) === (first.path_b64 ?? null);
}

export function byteString(path: string, base64?: string | null): string {
	if (typeof base64 === 'string') {
		return Buffer.from(base64, 'base64').toString('latin1');
	}

	// ASCII, the usual case, is its own byte string.
	return Buffer.byteLength(path) === path.length ? path : Buffer.from(path, 'utf8').toString('latin1');
}

/** `major:minor` of a Linux dev_t, as the loader writes it. */
export function deviceName(dev: bigint): string {
	const major = ((dev >> 8n) & 0xFFFn) | ((dev >> 32n) & ~0xFFFn);
	const minor = (dev & 0xFFn) | ((dev >> 12n) & ~0xFFn);
	return `${major}:${minor}`;
}

function reconcileEvent(timestampNs: bigint, operation: Operation, path: string, state: FileState, changed: string[]): ReconcileEvent {
	const raw = Buffer.from(path, 'latin1');
	const text = raw.toString('utf8');
	const event: ReconcileEvent = {
		timestamp: Number(timestampNs),
		operation,
		path: text,
		old_path: null,
		file_type: state.type as FileType,
		inode: Number(state.inode),
		dev: deviceName(state.dev),
		pid: null,
		tid: null,
		ppid: null,
		uid: null,
		gid: null,
		euid: null,
		egid: null,
		auid: null,
		session_id: null,
		process_name: null,
		exe: null,
		syscall: null,
		cgroup_id: null,
		source: 'reconcile',
		changed,
	};
	if (!Buffer.from(text, 'utf8').equals(raw)) {
		event.path_b64 = raw.toString('base64');
	}

	Object.defineProperty(event, 'timestampNs', {value: timestampNs, enumerable: false});
	return event;
}

/** The event's JSON line, with the exact nanosecond timestamp a double cannot hold. */
function reconcileJsonLine(event: ReconcileEvent, extraJson: string): string {
	const timestampNs = (event as unknown as {timestampNs: bigint}).timestampNs;
	const rest = JSON.stringify({...event, timestamp: undefined});
	return `{"timestamp":${timestampNs},${rest.slice(1, -1)}${extraJson}}`;
}

/** "1 entry scanned", "8 entries scanned": how a scan's size reads in messages. */
export function entriesScanned(count: number): string {
	return `${groupThousands(count)} ${count === 1 ? 'entry' : 'entries'} scanned`;
}

/** A supervisor record summing up one reconciliation. */
export function reconcileRecord(summary: ReconcileSummary, host: string): SupervisorRecord {
	const record: SupervisorRecord = {
		type: 'supervisor',
		kind: 'reconcile',
		timestamp: summary.finishedAt * 1e6,
		host,
		message: `reconciliation after ${summary.trigger}: ${entriesScanned(summary.scanned)}, ${summary.changes} change(s) reported with source reconcile${summary.newRoots.length > 0 ? `; first baseline of ${summary.newRoots.join(', ')} (nothing to compare with yet)` : ''}`,
		trigger: summary.trigger,
		scanned: summary.scanned,
		changes: summary.changes,
		duration_ms: summary.finishedAt - summary.startedAt,
		paths: summary.paths,
	};
	const base64s = pathsB64(summary.pathsB64);
	if (base64s) {
		record.paths_b64 = base64s;
	}

	if (summary.pathsOmitted > 0) {
		record.paths_omitted = summary.pathsOmitted;
	}

	return record;
}
