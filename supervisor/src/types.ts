/**
 * Shapes of the records that cross the loader → supervisor → user boundary.
 * docs/protocol.md is the loader's contract; DESIGN.md §2 is the user's.
 */

export type Operation = 'add' | 'modify' | 'delete' | 'rename' | 'attrib';
export const operations: readonly Operation[] = ['add', 'modify', 'delete', 'rename', 'attrib'];

export type FileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

/** The fields the kernel knows (an `event` record without its `type`). */
export type KernelEventFields = {
	timestamp: number;
	operation: Operation;
	path: string;
	old_path?: string | null;
	file_type: FileType | null;
	inode: number | null;
	dev: string | null;
	pid: number;
	tid: number;
	ppid: number;
	uid: number;
	gid: number;
	euid: number;
	egid: number;
	auid: number | null;
	session_id: number | null;
	process_name: string;
	exe: string | null;
	/**
	 * The command line as the kernel read it at the syscall, arguments joined by spaces; absent
	 * when it could not. The enrichment then gives /proc's, null when that is not known either.
	 */
	cmdline?: string | null;
	syscall: string;
	cgroup_id: number;
	source: 'kernel' | 'reconcile';
	/** The loader's backend (`tracepoint`, `fentry`); absent on reconcile events. */
	backend?: string;
	truncated?: string[];
	path_b64?: string;
	old_path_b64?: string;
	exe_b64?: string;
	cmdline_b64?: string;
	/** The protocol grows by adding fields; unknown ones are passed through. */
	[extra: string]: unknown;
};

export type EnrichmentFields = {
	cmdline: string | null;
	cwd: string | null;
	parent_name: string | null;
	user_name: string | null;
	group_name: string | null;
	login_user: string | null;
	container_id: string | null;
	host: string;
};

/**
 * Facts about the acting process that the JSON record does not carry but some output formats
 * name (Wazuh's `parent_cwd`, ECS's `user.effective.name`); null when not known.
 */
export type ProcessContext = {
	parent_exe: string | null;
	parent_cwd: string | null;
	effective_user_name: string | null;
};

/** One change as users see it (DESIGN.md §2). */
export type WhoDataEvent = KernelEventFields & Partial<EnrichmentFields>;

/**
 * A change found by a reconciliation scan (only with the monitor's `stateDir`): the fields of a
 * kernel event, whodata null (who made the change is not known), `source: "reconcile"`, and
 * `changed`: the stat fields that differ from the last reported state (type, inode, mode, uid,
 * gid, size, mtime, ctime), empty when the file changed inside a gap but looks as it last did.
 * docs/records.md.
 */
export type ReconcileEvent = {
	timestamp: number;
	operation: Operation;
	path: string;
	old_path: null;
	file_type: FileType | null;
	inode: number | null;
	dev: string | null;
	pid: null;
	tid: null;
	ppid: null;
	uid: null;
	gid: null;
	euid: null;
	egid: null;
	auid: null;
	session_id: null;
	process_name: null;
	exe: null;
	syscall: null;
	cgroup_id: null;
	source: 'reconcile';
	changed: string[];
	path_b64?: string;
} & Partial<EnrichmentFields>;

/** Where a record of the stream comes from, besides the kernel's events: a reconciliation scan or the supervisor. */
export type RecordOrigin = 'reconcile' | 'supervisor';

export type SupervisorRecordKind = 'restart' | 'loss' | 'give_up' | 'discard' | 'downtime' | 'state_reset' | 'reconcile';

/**
 * What the supervisor itself reports downstream (docs/records.md): every window in which
 * changes may have been missed (a loader restart, a kernel loss, records a sink's buffer had to
 * discard, time fimctl was not running, a baseline that had to be rebuilt), and the result of each reconciliation scan. `type` tells these apart from
 * events, which carry no `type`.
 */
export type SupervisorRecord = {
	type: 'supervisor';
	kind: SupervisorRecordKind;
	timestamp: number;
	host: string;
	message: string;
	/** Start and end (ns since the epoch) of the window in which changes may be missing. */
	gap_start?: number;
	gap_end?: number;
	restarts?: number;
	exit?: string;
	lost?: number;
	/** The paths concerned (at most 100; `paths_omitted` counts the rest). */
	paths?: string[];
	/** Beside `paths` when one of them is not UTF-8: its exact bytes in base64, null for those that are. */
	paths_b64?: Array<string | null>;
	paths_omitted?: number;
	/** `discard`: the sink whose buffer was full, and how much it discarded. */
	sink?: string;
	discarded?: number;
	/** Of `discarded`, changes found by reconciliation (the rest were events the kernel reported). */
	discarded_reconciled?: number;
	discarded_bytes?: number;
	/** `reconcile`: what started the scan, how much it looked at, what it found. */
	trigger?: string;
	scanned?: number;
	changes?: number;
	duration_ms?: number;
};

export type MonitorRecord = WhoDataEvent | ReconcileEvent | SupervisorRecord;

export function isSupervisorRecord(record: MonitorRecord): record is SupervisorRecord {
	return (record as SupervisorRecord).type === 'supervisor';
}

/**
 * A record's `paths_b64`, from the `path_b64` of each of its `paths` (undefined for a name that
 * is UTF-8): as an event gives `path_b64` only when its `path` lost bytes, none when all are UTF-8.
 */
export function pathsB64(base64s: ReadonlyArray<string | undefined>): Array<string | null> | undefined {
	return base64s.some(base64 => base64 !== undefined) ? base64s.map(base64 => base64 ?? null) : undefined;
}

export function isReconcileEvent(record: MonitorRecord): record is ReconcileEvent {
	return (record as ReconcileEvent).source === 'reconcile' && !isSupervisorRecord(record);
}

export type HelloRecord = {
	type: 'hello';
	protocol: number;
	loader_version?: string;
	pid?: number;
	backend?: string;
	backend_reason?: string;
	hooks?: string[];
	paths?: string[];
	ringbuf_bytes?: number;
	coalesce_ms?: number;
	boot_time_ns?: number;
};

export type StatsRecord = {
	type: 'stats';
	timestamp: number;
	events?: number;
	lost?: number;
	lost_per_cpu?: number[];
	[extra: string]: unknown;
};

export type AckRecord = {
	type: 'ack';
	id: string | null;
	cmd?: string;
	ok: boolean;
	path?: string;
	paths?: string[];
	/** `list`: the watched paths that do not exist now (watched from when they are made). */
	absent_paths?: string[];
	error?: string;
	message?: string;
};

export type ByeRecord = {type: 'bye'; reason?: string};
