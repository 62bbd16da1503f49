import {hostname} from 'node:os';
import {readFileSync} from 'node:fs';
import {CgroupContainers, type CgroupContainersOptions} from './cgroup-containers.js';
import {ProcCache, type ProcCacheOptions, type ProcClock, type ProcessInfo} from './proc-cache.js';
import {UserDb, type Name, type UserDbOptions} from './user-db.js';
import type {EnrichmentFields, KernelEventFields, ProcessContext} from './types.js';

/**
 * Adds what the kernel does not know to an event (DESIGN.md §2): cmdline, cwd, parent_name,
 * user_name, group_name, login_user, container_id, host. Process facts come from ProcCache,
 * names from UserDb; nothing here guesses. The kernel's own cmdline, when the event has one, is
 * kept over /proc's: it was read at the syscall, while /proc shows the process later, if at all
 * (a short-lived one is gone, a lasting one may have exec'd since). So is the container its
 * cgroup_id names (CgroupContainers); /proc's is the one of a host that keeps its containers in
 * cgroup v1.
 */

export type EnricherOptions = {
	proc?: ProcCacheOptions;
	cgroups?: CgroupContainersOptions;
	users?: UserDbOptions;
	host?: string;
	/** Wall-clock ms of boot as the loader computed it (its `hello.boot_time_ns`). */
	bootTimeMs?: number;
	/** Monotonic ms (CLOCK_MONOTONIC never runs ahead of CLOCK_BOOTTIME); injected by tests. */
	monotonicMs?: () => number;
};

/**
 * The enrichment of one event: its JSON members are built eagerly (the CLI writes them), the
 * object form only when a library consumer asks for it.
 */
export class Enrichment {
	constructor(
		/** The fields as JSON members, without braces, starting with a comma. */
		readonly json: string,
		readonly cmdlineTruncated: boolean,
		/** The cmdline is the event's own (the kernel's), so `json` leaves it to the event's line. */
		readonly kernelCmdline: boolean,
		private readonly parts: {proc?: ProcessInfo; parent?: ProcessInfo; user?: Name; effective?: Name; group?: Name; login?: Name; host: string; cmdline?: string; containerId: string | null},
	) {}

	/** What some output formats want beyond the JSON record (Wazuh's parent_cwd, for one). */
	get context(): ProcessContext {
		const {parent, effective} = this.parts;
		return {parent_exe: parent?.exe ?? null, parent_cwd: parent?.cwd ?? null, effective_user_name: effective?.name ?? null};
	}

	get fields(): EnrichmentFields {
		const {proc, parent, user, group, login, host, cmdline, containerId} = this.parts;
		return {
			cmdline: cmdline ?? proc?.cmdline ?? null,
			cwd: proc?.cwd ?? null,
			parent_name: parent?.comm ?? null,
			user_name: user?.name ?? null,
			group_name: group?.name ?? null,
			login_user: login?.name ?? null,
			container_id: containerId,
			host,
		};
	}
}

/** What a process's last enrichment was built from; reused while the same inputs come back. */
type EnrichmentMemo = {
	parent: ProcessInfo | undefined;
	uid: number;
	euid: number;
	gid: number;
	auid: number | null;
	generation: number;
	/**
	 * The kernel's cmdline it was made with: a process's events without one (the loader's check
	 * of files held open) or with another (an exec of the same executable) need their own.
	 */
	cmdline: string | undefined;
	containerId: string | null;
	enrichment: Enrichment;
};

export class Enricher {
	readonly host: string;
	readonly procCache: ProcCache;
	readonly cgroups: CgroupContainers;
	readonly userDb: UserDb;
	private readonly hostJson: string;
	private readonly procClock: {bootTimeMs: number; nowMs(): number};
	/** Keyed by cache entry, so a memo goes away with the process it describes. */
	private readonly memos = new WeakMap<ProcessInfo, EnrichmentMemo>();

	constructor(options: EnricherOptions = {}) {
		this.host = options.host ?? hostname();
		this.hostJson = JSON.stringify(this.host);
		const monotonicMs = options.monotonicMs ?? msSinceBoot();
		const clock: ProcClock & {bootTimeMs: number} = {
			bootTimeMs: options.bootTimeMs ?? estimateBootTimeMs(),
			nowMs: () => clock.bootTimeMs + monotonicMs(),
		};
		this.procClock = clock;
		this.procCache = new ProcCache(clock, options.proc);
		this.cgroups = new CgroupContainers(options.cgroups);
		this.userDb = new UserDb(options.users);
	}

	/** Adopts the loader's boot time so that process start times and events share one clock. */
	setBootTimeMs(bootTimeMs: number): void {
		this.procClock.bootTimeMs = bootTimeMs;
	}

	/** Lets go of the processes the cache holds open. */
	close(): void {
		this.procCache.close();
	}

	/** Events up to this kernel timestamp (ns) have been received: see ProcCache.received(). */
	received(timestampNs: number): void {
		this.procCache.received(timestampNs / 1e6);
	}

	/**
	 * `processStartNs`: when the event's process started, as the digits of the loader's
	 * `process_start_ns` (see ProcCache.startTicksOf); without it, /proc alone proves who it was.
	 */
	enrich(event: KernelEventFields, processStartNs?: string): Enrichment {
		const eventMs = event.timestamp / 1e6;
		const startTicks = processStartNs === undefined ? undefined : this.procCache.startTicksOf(processStartNs);
		const proc = this.procCache.lookup(event.pid, eventMs, event.exe, startTicks);
		const ppid = typeof event.ppid === 'number' && event.ppid > 0 ? event.ppid : undefined;
		const parent = ppid === undefined ? undefined : (proc ? this.procCache.parentOf(proc, ppid, eventMs) : this.procCache.lookup(ppid, eventMs));
		const generation = this.userDb.refreshIfDue();
		const cmdline = typeof event.cmdline === 'string' ? event.cmdline : undefined;
		const containerId = this.cgroups.containerIdOf(event.cgroup_id) ?? proc?.containerId ?? null;
		// A busy process repeats the same parent, ids and cmdline: reuse its last enrichment whole.
		const memo = proc ? this.memos.get(proc) : undefined;
		if (memo && memo.parent === parent && memo.uid === event.uid && memo.euid === event.euid && memo.gid === event.gid && memo.auid === event.auid && memo.generation === generation && memo.cmdline === cmdline && memo.containerId === containerId) {
			return memo.enrichment;
		}

		const user = this.userDb.user(event.uid);
		const effective = event.euid === event.uid ? user : this.userDb.user(event.euid);
		const group = this.userDb.group(event.gid);
		const login = this.userDb.user(event.auid);
		const processJson = cmdline === undefined ? proc?.json ?? nullProcessJson : proc?.cwdJson ?? nullCwdJson;
		const json = `,${processJson},"container_id":${JSON.stringify(containerId)},"parent_name":${parent?.commJson ?? 'null'},"user_name":${user?.json ?? 'null'},"group_name":${group?.json ?? 'null'},"login_user":${login?.json ?? 'null'},"host":${this.hostJson}`;
		// A kernel cmdline the loader had to cut is already named in the event's own `truncated`.
		const cmdlineTruncated = cmdline === undefined && (proc?.cmdlineTruncated ?? false);
		const enrichment = new Enrichment(json, cmdlineTruncated, cmdline !== undefined, {proc, parent, user, effective, group, login, host: this.host, cmdline, containerId});
		if (proc) {
			this.memos.set(proc, {parent, uid: event.uid, euid: event.euid, gid: event.gid, auid: event.auid, generation, cmdline, containerId, enrichment});
		}

		return enrichment;
	}
}

const nullCwdJson = '"cwd":null';
const nullProcessJson = `"cmdline":null,${nullCwdJson}`;

/** Seconds since boot, from CLOCK_BOOTTIME via /proc/uptime (10 ms resolution, rounded down). */
function readUptimeMs(): number | undefined {
	try {
		const seconds = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
		return Number.isFinite(seconds) ? seconds * 1000 : undefined;
	} catch {
		return undefined;
	}
}

/** Wall-clock ms of boot: a fallback until the loader's hello says. */
function estimateBootTimeMs(): number {
	return Date.now() - (readUptimeMs() ?? performance.now());
}

/**
 * Ms since boot without a syscall per call: /proc/uptime once, then performance.now(), which
 * runs on CLOCK_MONOTONIC and so never gets ahead of the kernel's boot clock. Both round down,
 * so the result is a lower bound, which is what ProcCache needs.
 */
function msSinceBoot(): () => number {
	const perfAtRead = performance.now();
	const uptimeAtRead = readUptimeMs() ?? perfAtRead;
	return () => uptimeAtRead + (performance.now() - perfAtRead);
}
