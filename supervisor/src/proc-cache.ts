import {closeSync, openSync, readlinkSync, readSync} from 'node:fs';

/**
 * What /proc tells about a process, read once per process (keyed by pid and start time) and
 * kept in a bounded cache.
 *
 * An event names a pid, and pids are reused, so a cache hit or a fresh read must be proven to be
 * the process that made the change. The loader's events say when their process started (the
 * kernel's start time of its thread-group leader, the clock of /proc/PID/stat's `starttime`):
 * - a cached process with the event's pid and start tick is the event's process, with no read
 *   of /proc. A pid is reused only once its process is gone, and the kernel hands pids out in
 *   turn up to pid_max (at least 32,768) before it comes back to a freed one: a new process
 *   with the same pid in the same 10 ms tick would take some 3 million forks a second, which
 *   no machine does;
 * - a cached process with another start is not: /proc is read fresh, and the event is enriched
 *   only if it shows the event's start. An older event's process is known to be gone when the
 *   cached one started later, without a read.
 * An event without a start time (an older loader) is proven from /proc alone:
 * - the process read from /proc must have started no later than the event (start time from
 *   /proc/PID/stat, in the loader's clock frame: boot time + ticks);
 * - it must have been alive at or after the event: an entry records `verifiedAt`, a moment at
 *   which /proc still showed it. Between start and verifiedAt the pid belonged to it alone, so
 *   an event inside that interval is its own. A later event checks the process again (once per
 *   pid per batch in practice) to move verifiedAt forward.
 * In both cases the executable must match the one the kernel reported, else the process has
 * exec'd since and its command line is another program's.
 * Whatever cannot be proven is null, never a guess.
 *
 * Without a start time, that check is the enrichment's main cost at moderate rates, where
 * batches hold an event or two: a path lookup and a read of /proc/PID/stat each time. So the
 * processes checked most recently are held open: a descriptor on /proc/PID/comm is bound to the
 * process it was opened for, not to its pid, and reading it fails (ESRCH) once that process has
 * been reaped, even if the pid has a new owner. One read of it proves the process is still there.
 *
 *   start ───────────── event ──────── verifiedAt ───── now
 *     |  pid is this process's alone, /proc read here |
 *
 * The parent an event names (its `ppid`, the real parent's tgid) needs no check of its own once
 * the child is known: see parentOf().
 */

export type ProcessInfo = {
	pid: number;
	startTicks: number;
	startMs: number;
	comm: string;
	ppid: number;
	exe: string | null;
	cmdline: string | null;
	cmdlineTruncated: boolean;
	cwd: string | null;
	containerId: string | null;
	/** Kernel-frame ms when /proc last showed this process alive. */
	verifiedAt: number;
	/** An exe the kernel reported for this pid that /proc did not show at otherExeAt. */
	otherExe?: string;
	otherExeAt?: number;
	/** `"cmdline":…,"cwd":…` for the JSON output, built once. */
	json: string;
	/** `json` from `"cwd"` on: for an event that brings its own cmdline (the kernel's). */
	cwdJson: string;
	commJson: string;
	/** The entry proven to have been this process's parent at `sinceMs` (see parentOf). */
	parentLink?: {entry: ProcessInfo; sinceMs: number};
};

export type ProcCacheOptions = {
	procRoot?: string;
	maxEntries?: number;
	/** Clock ticks per second of /proc/PID/stat times (USER_HZ; 100 on every mainstream arch). */
	ticksPerSecond?: number;
	/** Longest cmdline kept, in UTF-16 units; longer ones are cut and flagged. */
	maxCmdlineLength?: number;
	/**
	 * How many processes are held open (one descriptor each) to check them cheaply; default
	 * 128. Only under the real /proc, whose files behave as described above.
	 */
	maxOpen?: number;
};

export type ProcClock = {
	/** Wall-clock ms of boot, in the frame of the event timestamps. */
	bootTimeMs: number;
	/** A lower bound of the current kernel-frame time in ms. */
	nowMs(): number;
};

const containerIdPattern = /(?:^|[/-])([\da-f]{64})(?:\.scope)?$/;

export class ProcCache {
	readonly procRoot: string;
	private readonly entries = new Map<number, ProcessInfo>();
	private readonly maxEntries: number;
	private readonly ticksPerSecond: number;
	private readonly maxCmdlineLength: number;
	/**
	 * Descriptors on /proc/PID/comm of cached processes, oldest first. Not reordered on use
	 * (that churns the map at every check): a busy process let go for newer ones costs one
	 * stat read, after which it is held again.
	 */
	private readonly held = new Map<ProcessInfo, number>();
	private readonly maxOpen: number;
	/**
	 * Pids /proc did not show, and when (kernel-frame ms, a lower bound of the read): an event
	 * of that pid from before then was made by a process that had exited by the read.
	 */
	private readonly gone = new Map<number, number>();
	/** Times the cache had to read /proc (for tests and metrics). */
	reads = 0;
	/** The latest event time received (kernel-frame ms): see received(). */
	private receivedMs = Number.NEGATIVE_INFINITY;

	constructor(private readonly clock: ProcClock, options: ProcCacheOptions = {}) {
		this.procRoot = options.procRoot ?? '/proc';
		this.maxEntries = options.maxEntries ?? 4096;
		this.ticksPerSecond = options.ticksPerSecond ?? 100;
		this.maxCmdlineLength = options.maxCmdlineLength ?? 2048;
		this.maxOpen = this.procRoot === '/proc' ? options.maxOpen ?? 128 : 0;
	}

	get size(): number {
		return this.entries.size;
	}

	/** How many processes are held open now. */
	get openCount(): number {
		return this.held.size;
	}

	/** Closes the descriptors it holds (when the monitor stops). */
	close(): void {
		for (const fd of this.held.values()) {
			closeQuietly(fd);
		}

		this.held.clear();
	}

	/**
	 * Says that events up to `eventMs` (kernel-frame ms) have been received, so that a read of
	 * /proc from now on happened after them. The clock's own lower bound of the current time can
	 * lag by several ms (boot time from /proc/uptime is rounded down to 10 ms): without this,
	 * every event of that last stretch re-checked its process, one read per event instead of one
	 * per process and batch. The caller gives the newest event of a batch before looking its
	 * events up. A time more than a second ahead of the clock is no evidence of anything (the
	 * clock lags by far less, unless the machine was suspended) and is ignored.
	 */
	received(eventMs: number): void {
		if (eventMs > this.receivedMs && eventMs <= this.clock.nowMs() + 1000) {
			this.receivedMs = eventMs;
		}
	}

	/**
	 * The process `pid` as it was at `eventMs` (kernel-frame ms), or undefined when /proc cannot
	 * prove which process that was. `expectedExe` is the kernel's exe, when it knows it;
	 * `startTicks` the process's start, when the event says it (see startTicksOf()).
	 */
	lookup(pid: number, eventMs: number, expectedExe?: string | null, startTicks?: number): ProcessInfo | undefined {
		let entry = this.entries.get(pid);
		if (startTicks !== undefined) {
			if (entry === undefined || entry.startTicks !== startTicks) {
				entry = this.readStarted(pid, eventMs, startTicks, entry);
				if (entry === undefined) {
					return undefined;
				}
			}
		} else if (entry === undefined || eventMs > entry.verifiedAt) {
			// /proc had no such pid after this event: whoever made it is gone, and its later
			// events (a backlog after a burst, a short-lived process) need no read each.
			const goneAt = this.gone.get(pid);
			if (goneAt !== undefined && eventMs <= goneAt) {
				return undefined;
			}

			entry = this.revalidate(pid, entry);
			if (entry === undefined) {
				return undefined;
			}
		}

		// Ticks are truncated, so startMs never exceeds the true start; 1 ms absorbs rounding.
		// (Moot when the event's start time matched: then startMs is the event process's own.)
		if (startTicks === undefined && entry.startMs > eventMs + 1) {
			return undefined;
		}

		if (expectedExe && entry.exe !== null && entry.exe !== expectedExe) {
			// /proc showed another exe after this event happened: nothing new to learn.
			if (entry.otherExe === expectedExe && eventMs <= entry.otherExeAt!) {
				return undefined;
			}

			// Maybe we cached it before an exec the event already reflects: look once more.
			const fresh = this.read(pid);
			if (fresh === undefined || fresh.startTicks !== entry.startTicks) {
				if (fresh !== undefined) {
					this.release(fresh);
				}

				return undefined;
			}

			this.store(fresh);
			if (fresh.exe !== expectedExe) {
				// Remembered, so that a process whose two views of its exe never agree costs one
				// read, not one per event.
				fresh.otherExe = expectedExe;
				fresh.otherExeAt = fresh.verifiedAt;
				return undefined;
			}

			return fresh;
		}

		return entry;
	}

	/**
	 * The parent, `ppid`, of `child` at `eventMs`, where `child` is what lookup() proved to be the
	 * event's process. Once a lookup has proven that entry E held pid `ppid` at an event of this
	 * child that named `ppid` (E was its parent then), a later event of the same child naming
	 * `ppid` again has E as its parent, without a check: a process's real parent is always one
	 * that existed before it (its creator, or an ancestor it is handed to when that one exits),
	 * so the parent at the later event lived from before the child's start until that event,
	 * through the earlier event, when pid `ppid` was E's: it is E. That saves one read of /proc
	 * per batch, most of a steady writer's enrichment cost.
	 */
	parentOf(child: ProcessInfo, ppid: number, eventMs: number): ProcessInfo | undefined {
		const link = child.parentLink;
		if (link !== undefined && link.entry.pid === ppid && eventMs >= link.sinceMs) {
			return link.entry;
		}

		const parent = this.lookup(ppid, eventMs);
		// Past the early return, the linked entry can only come back for an earlier event, from
		// which the proof then holds.
		if (parent !== undefined) {
			child.parentLink = {entry: parent, sinceMs: eventMs};
		}

		return parent;
	}

	/**
	 * The start, in /proc/PID/stat ticks, of a process the loader says started `startNs` (decimal
	 * digits of ns since boot, as the loader wrote them: a double holds ns exactly only for the
	 * first 104 days of uptime, and a start rounded across a tick would be taken for another
	 * process). Undefined for anything but digits.
	 */
	startTicksOf(startNs: string): number | undefined {
		const {length} = startNs;
		if (length === 0 || length > 20) {
			return undefined;
		}

		// The kernel's ticks are floor(ns * USER_HZ / 1e9): whole seconds and the rest apart, so
		// that every step stays exact. Digit by digit, without a string made or looked up: this
		// runs for every event (a map of converted starts cost as much as converting).
		const secondsEnd = Math.max(length - 9, 0);
		let seconds = 0;
		let nanos = 0;
		for (let index = 0; index < length; index++) {
			const digit = startNs.charCodeAt(index) - 48;
			if (digit < 0 || digit > 9) {
				return undefined;
			}

			if (index < secondsEnd) {
				seconds = (seconds * 10) + digit;
			} else {
				nanos = (nanos * 10) + digit;
			}
		}

		return (seconds * this.ticksPerSecond) + Math.floor(nanos * this.ticksPerSecond / 1e9);
	}

	/**
	 * The process with `pid` that started at `startTicks`, when the cache holds another one (or
	 * none): read from /proc if it is still there, else undefined.
	 */
	private readStarted(pid: number, eventMs: number, startTicks: number, cached: ProcessInfo | undefined): ProcessInfo | undefined {
		// The cached process started later: the event's had already left the pid to it.
		if (cached !== undefined && cached.startTicks > startTicks) {
			return undefined;
		}

		const goneAt = this.gone.get(pid);
		if (goneAt !== undefined && eventMs <= goneAt) {
			return undefined;
		}

		// Not the cached process, which may still be held open: read the pid's owner afresh.
		const current = this.revalidate(pid, undefined);
		return current?.startTicks === startTicks ? current : undefined;
	}

	private revalidate(pid: number, entry: ProcessInfo | undefined): ProcessInfo | undefined {
		const verifiedAt = this.nowMs();
		if (entry !== undefined && this.stillThere(entry)) {
			entry.verifiedAt = verifiedAt;
			return entry;
		}

		// Opened before the stat line is read: if that line shows the cached process, the
		// descriptor is bound to it too.
		const fd = this.openComm(pid);
		const stat = this.readStat(pid);
		if (stat === undefined) {
			closeQuietly(fd);
			this.forget(pid);
			this.noteGone(pid, verifiedAt);
			return undefined;
		}

		if (entry !== undefined && entry.startTicks === stat.startTicks) {
			entry.verifiedAt = verifiedAt;
			this.hold(entry, fd);
			return entry;
		}

		const fresh = this.read(pid, verifiedAt, fd, stat);
		if (fresh !== undefined) {
			this.store(fresh);
		}

		return fresh;
	}

	/** A lower bound of the current kernel-frame time, for a read of /proc about to happen. */
	private nowMs(): number {
		return Math.max(this.clock.nowMs(), this.receivedMs);
	}

	/** Whether the process of a held descriptor is still there (alive or not yet reaped). */
	private stillThere(entry: ProcessInfo): boolean {
		const fd = this.held.get(entry);
		if (fd === undefined) {
			return false;
		}

		this.reads++;
		try {
			readSync(fd, scratch, 0, scratch.length, 0);
		} catch {
			this.release(entry);
			return false;
		}

		return true;
	}

	private openComm(pid: number): number | undefined {
		if (this.maxOpen === 0) {
			return undefined;
		}

		try {
			return openSync(`${this.procRoot}/${pid}/comm`, 'r');
		} catch {
			return undefined;
		}
	}

	private hold(entry: ProcessInfo, fd: number | undefined): void {
		if (fd === undefined) {
			return;
		}

		this.release(entry);
		this.held.set(entry, fd);
		if (this.held.size > this.maxOpen) {
			const oldest = this.held.keys().next().value;
			if (oldest !== undefined) {
				this.release(oldest);
			}
		}
	}

	private release(entry: ProcessInfo): void {
		const fd = this.held.get(entry);
		if (fd !== undefined) {
			this.held.delete(entry);
			closeQuietly(fd);
		}
	}

	private forget(pid: number): void {
		const entry = this.entries.get(pid);
		if (entry !== undefined) {
			this.release(entry);
			this.entries.delete(pid);
		}
	}

	private noteGone(pid: number, at: number): void {
		this.gone.delete(pid);
		this.gone.set(pid, at);
		if (this.gone.size > this.maxEntries) {
			const oldest = this.gone.keys().next().value;
			if (oldest !== undefined) {
				this.gone.delete(oldest);
			}
		}
	}

	private store(entry: ProcessInfo): void {
		this.gone.delete(entry.pid);
		const replaced = this.entries.get(entry.pid);
		if (replaced !== undefined && replaced !== entry) {
			this.release(replaced);
		}

		this.entries.delete(entry.pid);
		this.entries.set(entry.pid, entry);
		if (this.entries.size > this.maxEntries) {
			// Maps iterate in insertion order: the first key is the least recently (re)read.
			const oldest = this.entries.keys().next().value;
			if (oldest !== undefined) {
				this.forget(oldest);
			}
		}
	}

	/**
	 * Everything /proc says about the process that has `pid` now. `fd` (/proc/PID/comm, opened
	 * before `stat` was read) is kept with the entry; without one, it is opened here.
	 */
	private read(pid: number, verifiedAt = this.nowMs(), fd = this.openComm(pid), stat = this.readStat(pid)): ProcessInfo | undefined {
		if (stat === undefined) {
			closeQuietly(fd);
			return undefined;
		}

		const base = `${this.procRoot}/${pid}`;
		const exe = readLink(`${base}/exe`);
		let cmdline = readCmdline(`${base}/cmdline`);
		let cmdlineTruncated = false;
		if (cmdline !== null && cmdline.length > this.maxCmdlineLength) {
			// Never cut between the halves of a surrogate pair.
			const end = /[\ud800-\udbff]/.test(cmdline[this.maxCmdlineLength - 1] ?? '') ? this.maxCmdlineLength - 1 : this.maxCmdlineLength;
			cmdline = cmdline.slice(0, end);
			cmdlineTruncated = true;
		}

		const cwd = readLink(`${base}/cwd`);
		const containerId = readContainerId(`${base}/cgroup`);
		// The pid must not have died and been reused while we read: the process the descriptor
		// was opened for still being there proves it, else a second stat line with the same start.
		if (fd === undefined) {
			const after = this.readStat(pid);
			if (after === undefined || after.startTicks !== stat.startTicks) {
				return undefined;
			}
		} else {
			this.reads++;
			try {
				readSync(fd, scratch, 0, scratch.length, 0);
			} catch {
				closeQuietly(fd);
				return undefined;
			}
		}

		const cwdJson = `"cwd":${JSON.stringify(cwd)}`;
		const entry: ProcessInfo = {
			pid,
			startTicks: stat.startTicks,
			startMs: this.clock.bootTimeMs + (stat.startTicks * 1000 / this.ticksPerSecond),
			comm: stat.comm,
			ppid: stat.ppid,
			exe: exe === null ? null : exe.replace(/ \(deleted\)$/, ''),
			cmdline,
			cmdlineTruncated,
			cwd,
			containerId,
			verifiedAt,
			json: `"cmdline":${JSON.stringify(cmdline)},${cwdJson}`,
			cwdJson,
			commJson: JSON.stringify(stat.comm),
		};
		this.hold(entry, fd);
		return entry;
	}

	private readStat(pid: number): {startTicks: number; comm: string; ppid: number} | undefined {
		this.reads++;
		const text = readProcFile(`${this.procRoot}/${pid}/stat`)?.toString('latin1');
		if (text === undefined) {
			return undefined;
		}

		const open = text.indexOf('(');
		const close = text.lastIndexOf(')');
		if (open === -1 || close < open) {
			return undefined;
		}

		const fields = statFieldsOf(text);
		const ppid = Number(fields[1]);
		const startTicks = Number(fields[19]);
		if (!Number.isFinite(startTicks) || !Number.isFinite(ppid)) {
			return undefined;
		}

		const comm = Buffer.from(text.slice(open + 1, close), 'latin1').toString('utf8');
		return {startTicks, comm, ppid};
	}
}

/**
 * The fields of a /proc/…/stat text after the command name, [0] being field 3 (state) of
 * proc(5): `pid (comm) state ppid …`, where comm may hold spaces and parentheses, so the split
 * is at the last ')'.
 */
function statFieldsOf(text: string): string[] {
	return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/**
 * One field of /proc/`task`/stat, by its number in proc(5) (3 is the state): `task` is 'self',
 * a pid, or 'PID/task/TID'. NaN when the task is gone.
 */
export function procStatField(task: number | string, field: number): number {
	const text = readProcFile(`/proc/${task}/stat`)?.toString('latin1');
	return text === undefined ? Number.NaN : Number(statFieldsOf(text)[field - 3]);
}

/**
 * One buffer for the reads of /proc: readFileSync allocates 64 KiB twice for a file whose size
 * stat shows as 0, as /proc's do, and at a few thousand reads a second that is most of the garbage.
 */
const scratch = Buffer.allocUnsafe(16 * 1024);

/** The whole file, in `scratch` when it fits (valid until the next read); undefined if unreadable. */
function readProcFile(path: string): Buffer | undefined {
	let fd: number;
	try {
		fd = openSync(path, 'r');
	} catch {
		return undefined;
	}

	try {
		let buffer = scratch;
		let length = 0;
		for (;;) {
			if (length === buffer.length) {
				const bigger = Buffer.allocUnsafe(buffer.length * 4);
				buffer.copy(bigger);
				buffer = bigger;
			}

			const count = readSync(fd, buffer, length, buffer.length - length, null);
			if (count === 0) {
				return buffer.subarray(0, length);
			}

			length += count;
		}
	} catch {
		return undefined;
	} finally {
		closeSync(fd);
	}
}

function closeQuietly(fd: number | undefined): void {
	if (fd !== undefined) {
		try {
			closeSync(fd);
		} catch {}
	}
}

function readLink(path: string): string | null {
	try {
		return readlinkSync(path);
	} catch {
		return null;
	}
}

/** Arguments joined by spaces; null for kernel threads and zombies, whose cmdline is empty. */
function readCmdline(path: string): string | null {
	const raw = readProcFile(path);
	if (raw === undefined) {
		return null;
	}

	let end = raw.length;
	while (end > 0 && raw[end - 1] === 0) {
		end--;
	}

	if (end === 0) {
		return null;
	}

	return raw.toString('utf8', 0, end).replaceAll('\0', ' ');
}

/**
 * The 64-hex id that docker, containerd, CRI-O and podman put in the cgroup path
 * (`/docker/<id>`, `…/docker-<id>.scope`, `…/cri-containerd-<id>.scope`, `…/libpod-<id>.scope`);
 * null on the host.
 */
export function containerIdFromCgroup(text: string): string | null {
	for (const line of text.split('\n')) {
		const id = containerIdOfCgroupPath(line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1));
		if (id !== null) {
			return id;
		}
	}

	return null;
}

/** The container id of a cgroup path (or of one of its directory names): its innermost one. */
export function containerIdOfCgroupPath(path: string): string | null {
	for (const segment of path.split('/').reverse()) {
		const match = containerIdPattern.exec(segment);
		if (match) {
			return match[1] ?? null;
		}
	}

	return null;
}

function readContainerId(path: string): string | null {
	const text = readProcFile(path)?.toString('utf8');
	return text === undefined ? null : containerIdFromCgroup(text);
}
