import {readdirSync, readFileSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {containerIdOfCgroupPath} from './proc-cache.js';

export type CgroupContainersOptions = {
	/** Where cgroup v2 is mounted; looked up in /proc/self/mountinfo when not given; null: nowhere. */
	root?: string | null;
	/** The least time between two listings (ms). */
	minRescanMs?: number;
	/** A listing stops after this many directories. */
	maxDirectories?: number;
	/** Monotonic ms; injected by tests. */
	nowMs?: () => number;
	/** A cgroup directory's id, its inode number; injected by tests, whose directories are not cgroups. */
	idOf?: (path: string) => number;
};

const defaultMinRescanMs = 1000;
const defaultMaxDirectories = 100_000;

/**
 * The container an event's process was in at the syscall, from the kernel's `cgroup_id`. On
 * cgroup v2 that id is the inode number of the cgroup's directory, which stays while the
 * container runs; /proc/PID/cgroup goes with the process, and a change from a container is
 * most often made by a short-lived one (`docker exec … rm`, `kubectl exec … sed -i`).
 *
 * The cgroup directories are listed once, and again when an id comes that is newer than every
 * id of the last listing (a container started since), at most once per `minRescanMs`. The
 * kernel numbers cgroups upwards and never reuses a number, so an older id that the listing
 * did not have is a cgroup removed before it (a cron job's session scope): listing again would
 * not find it, and a stream of its events costs no listing at all.
 */
export class CgroupContainers {
	/** The last listing: each cgroup's id and the container it is in (null: none). */
	private containers = new Map<number, string | null>();
	private listedAt = Number.NEGATIVE_INFINITY;
	/** The newest id of the last listing. */
	private newestListed = 0;
	private readonly root: string | undefined;
	private readonly minRescanMs: number;
	private readonly maxDirectories: number;
	private readonly nowMs: () => number;
	private readonly idOf: (path: string) => number;
	/** Listings made so far. */
	listings = 0;

	constructor(options: CgroupContainersOptions = {}) {
		const root = options.root === undefined ? cgroup2Mount() : options.root;
		this.root = root ?? undefined;
		this.minRescanMs = options.minRescanMs ?? defaultMinRescanMs;
		this.maxDirectories = options.maxDirectories ?? defaultMaxDirectories;
		this.nowMs = options.nowMs ?? (() => performance.now());
		this.idOf = options.idOf ?? (path => statSync(path).ino);
	}

	/**
	 * The container id of the cgroup with this id; null for a cgroup that is in none (the root
	 * cgroup too, where a host that still puts containers in cgroup v1 has every process);
	 * undefined when no cgroup v2 directory has it (no cgroup v2, a cgroup gone before it was
	 * listed).
	 */
	containerIdOf(cgroupId: number): string | null | undefined {
		if (this.root === undefined) {
			return undefined;
		}

		const known = this.containers.get(cgroupId);
		if (known !== undefined || cgroupId <= this.newestListed || this.nowMs() - this.listedAt < this.minRescanMs) {
			return known;
		}

		this.list(this.root);
		return this.containers.get(cgroupId);
	}

	private list(root: string): void {
		this.listedAt = this.nowMs();
		this.listings++;
		const containers = new Map<number, string | null>();
		let newest = 0;
		const pending: Array<{path: string; container: string | null}> = [{path: root, container: null}];
		while (pending.length > 0 && containers.size < this.maxDirectories) {
			const {path, container} = pending.pop()!;
			let id: number;
			let entries;
			try {
				id = this.idOf(path);
				entries = readdirSync(path, {withFileTypes: true});
			} catch {
				continue; // removed while listed
			}

			containers.set(id, container);
			newest = Math.max(newest, id);
			for (const entry of entries) {
				if (entry.isDirectory()) {
					// The innermost id on the path, as for /proc/PID/cgroup: a container's own
					// sub-cgroups (its init.scope, say) are still that container.
					pending.push({path: join(path, entry.name), container: containerIdOfCgroupPath(entry.name) ?? container});
				}
			}
		}

		this.containers = containers;
		// A listing cut short may have left out older ids: those must still be looked for.
		this.newestListed = pending.length > 0 ? 0 : newest;
	}
}

/** The mount point of the first cgroup2 filesystem in /proc/self/mountinfo. */
function cgroup2Mount(): string | null {
	let text: string;
	try {
		text = readFileSync('/proc/self/mountinfo', 'utf8');
	} catch {
		return null;
	}

	for (const line of text.split('\n')) {
		// 36 25 0:31 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw
		const separator = line.indexOf(' - ');
		if (separator !== -1 && line.slice(separator + 3).startsWith('cgroup2 ')) {
			const mountPoint = line.slice(0, separator).split(' ')[4];
			if (mountPoint !== undefined) {
				return mountPoint.replaceAll(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
			}
		}
	}

	return null;
}
