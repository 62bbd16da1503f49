import {readFileSync, statSync} from 'node:fs';

/**
 * uid → user name and gid → group name from /etc/passwd and /etc/group, re-read when either
 * file changes (checked at most once per `checkIntervalMs`, so the per-event cost is a map
 * lookup). Names are kept JSON-quoted as well, ready to splice into an output line.
 * Only the files are read: names that live in LDAP/SSSD come out as null.
 */

export type UserDbOptions = {
	passwdPath?: string;
	groupPath?: string;
	checkIntervalMs?: number;
	/** Monotonic milliseconds; injected by tests. */
	now?: () => number;
};

export type Name = {name: string; json: string};

export class UserDb {
	private users = new Map<number, Name>();
	private groups = new Map<number, Name>();
	private readonly passwdPath: string;
	private readonly groupPath: string;
	private readonly checkIntervalMs: number;
	private readonly now: () => number;
	private nextCheck = Number.NEGATIVE_INFINITY;
	private passwdStamp = '';
	private groupStamp = '';
	private generation = 0;

	constructor(options: UserDbOptions = {}) {
		this.passwdPath = options.passwdPath ?? '/etc/passwd';
		this.groupPath = options.groupPath ?? '/etc/group';
		this.checkIntervalMs = options.checkIntervalMs ?? 1000;
		this.now = options.now ?? (() => performance.now());
	}

	user(uid: number | null | undefined): Name | undefined {
		return typeof uid === 'number' ? this.users.get(uid) : undefined;
	}

	group(gid: number | null | undefined): Name | undefined {
		return typeof gid === 'number' ? this.groups.get(gid) : undefined;
	}

	/**
	 * Re-reads the files if they changed and the check is due; call once per event before the
	 * lookups. Returns a number that changes whenever the names may have changed.
	 */
	refreshIfDue(): number {
		const now = this.now();
		if (now < this.nextCheck) {
			return this.generation;
		}

		this.nextCheck = now + this.checkIntervalMs;
		const passwdStamp = stamp(this.passwdPath);
		if (passwdStamp !== this.passwdStamp) {
			this.passwdStamp = passwdStamp;
			this.users = parseIdFile(this.passwdPath);
			this.generation++;
		}

		const groupStamp = stamp(this.groupPath);
		if (groupStamp !== this.groupStamp) {
			this.groupStamp = groupStamp;
			this.groups = parseIdFile(this.groupPath);
			this.generation++;
		}

		return this.generation;
	}
}

/** Editors and useradd replace these files by rename, so the inode is part of the stamp. */
function stamp(path: string): string {
	try {
		const info = statSync(path);
		return `${info.ino}:${info.size}:${info.mtimeMs}`;
	} catch {
		return 'missing';
	}
}

/** Both files are `name:password:id:...`; the first entry for an id wins, as getpwuid does. */
function parseIdFile(path: string): Map<number, Name> {
	const map = new Map<number, Name>();
	let text: string;
	try {
		text = readFileSync(path, 'utf8');
	} catch {
		return map;
	}

	for (const line of text.split('\n')) {
		if (line.length === 0 || line.startsWith('#')) {
			continue;
		}

		const fields = line.split(':');
		const name = fields[0];
		const id = Number(fields[2]);
		if (name && fields[2] !== '' && Number.isInteger(id) && id >= 0 && !map.has(id)) {
			map.set(id, {name, json: JSON.stringify(name)});
		}
	}

	return map;
}
