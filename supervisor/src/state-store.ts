import {existsSync, lstatSync, renameSync, rmSync, writeFileSync, type BigIntStats} from 'node:fs';
import {join} from 'node:path';
import Database from 'better-sqlite3';
import {RuntimeError} from './errors.js';
import type {FileType} from './types.js';

/**
 * The baseline: what each file under the watched paths looked like when its last change was
 * reported (live or by a reconciliation). Reconciliation compares the disk with it.
 *
 * Paths are bytes (Linux names need not be UTF-8). In this module and reconcile.ts a path is a
 * "byte string": a JS string holding one char per byte (latin1), so it can key a Map, be joined
 * with '/', and turn back into the exact bytes with Buffer.from(path, 'latin1').
 *
 * One SQLite file, `baseline.db`, in the state directory:
 *   files(path BLOB PK, parent BLOB, type, inode, dev, size, mode, uid, gid, mtime_ns, ctime_ns)
 *   roots(path BLOB PK, baselined_ns)   the watched paths whose baseline is complete
 *   meta(key PK, value)                 schema, last_alive_ns (heartbeat), clean_stop_ns
 */

export type FileState = {
	type: FileType;
	inode: bigint;
	dev: bigint;
	size: bigint;
	mode: number;
	uid: number;
	gid: number;
	mtimeNs: bigint;
	ctimeNs: bigint;
};

export type StoredFile = FileState & {path: string};

const schemaVersion = 1;
export const baselineFileName = 'baseline.db';

/** What opening the store found: `reset` says why the earlier baseline could not be used. */
export type OpenOutcome = {
	store: StateStore;
	/** The previous run: when it was last known alive, and whether it stopped cleanly. */
	previous?: {lastAliveNs: bigint; cleanStop: boolean};
	reset?: {reason: string; movedTo?: string};
};

type Row = {path: Buffer; type: string; inode: bigint; dev: bigint; size: bigint; mode: bigint; uid: bigint; gid: bigint; mtime_ns: bigint; ctime_ns: bigint};

export class StateStore {
	private readonly statements: {
		get: Database.Statement;
		children: Database.Statement;
		subtree: Database.Statement;
		upsert: Database.Statement;
		remove: Database.Statement;
		removeWithSubtree: Database.Statement;
		moveSubtree: Database.Statement;
		setMeta: Database.Statement;
		getMeta: Database.Statement;
		roots: Database.Statement;
		addRoot: Database.Statement;
		count: Database.Statement;
	};

	private constructor(private readonly db: Database.Database, readonly file: string) {
		db.defaultSafeIntegers(true);
		this.statements = {
			get: db.prepare('SELECT * FROM files WHERE path = ?'),
			children: db.prepare('SELECT * FROM files WHERE parent = ?'),
			subtree: db.prepare('SELECT * FROM files WHERE path > ? AND path < ? ORDER BY path DESC'),
			upsert: db.prepare(`INSERT INTO files (path, parent, type, inode, dev, size, mode, uid, gid, mtime_ns, ctime_ns)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (path) DO UPDATE SET type = excluded.type, inode = excluded.inode, dev = excluded.dev, size = excluded.size,
				mode = excluded.mode, uid = excluded.uid, gid = excluded.gid, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns`),
			remove: db.prepare('DELETE FROM files WHERE path = ?'),
			// A path and its subtree: one range of the key, from the path to subtreeRange's end
			// (the siblings whose next byte sorts before '/' lie in it but pass neither test).
			removeWithSubtree: db.prepare('DELETE FROM files WHERE path >= ? AND path < ? AND (path = ? OR path > ?)'),
			// A renamed directory carries its subtree: `from/x` becomes `to/x`, parents too.
			// `||` yields text: cast back, or the keys would no longer compare as the blobs they are.
			moveSubtree: db.prepare(`UPDATE files SET path = CAST(@to || substr(path, @cut) AS BLOB), parent = CAST(@to || substr(parent, @cut) AS BLOB)
				WHERE path > @low AND path < @high`),
			setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
			getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
			roots: db.prepare('SELECT path FROM roots'),
			addRoot: db.prepare('INSERT INTO roots (path, baselined_ns) VALUES (?, ?) ON CONFLICT (path) DO UPDATE SET baselined_ns = excluded.baselined_ns'),
			count: db.prepare('SELECT count(*) AS n FROM files'),
		};
	}

	/**
	 * Opens `<directory>/baseline.db`. A file that is not a usable baseline (damaged, not
	 * SQLite, another schema) is moved aside and a fresh one started: `reset` says so, and the
	 * caller reports the gap. Errors only when even a fresh file cannot be made.
	 */
	static open(directory: string): OpenOutcome {
		const file = join(directory, baselineFileName);
		const marker = join(directory, '.baseline-made');
		let reset: OpenOutcome['reset'];
		if (existsSync(file)) {
			try {
				return StateStore.openExisting(file);
			} catch (error) {
				const movedTo = `${file}.damaged-${Date.now()}`;
				try {
					renameSync(file, movedTo);
					for (const suffix of ['-wal', '-shm']) {
						rmSync(file + suffix, {force: true});
					}

					reset = {reason: `the baseline ${file} cannot be used (${describeSqliteError(error)})`, movedTo};
				} catch (moveError) {
					throw new RuntimeError(`the baseline ${file} cannot be used (${describeSqliteError(error)}) nor moved aside: ${(moveError as Error).message}`, {cause: error});
				}
			}
		} else if (existsSync(marker)) {
			reset = {reason: `the baseline ${file} was deleted`};
		}

		try {
			const db = new Database(file);
			StateStore.createSchema(db);
			const store = new StateStore(db, file);
			writeFileSync(marker, '', {mode: 0o600});
			return reset ? {store, reset} : {store};
		} catch (error) {
			throw new RuntimeError(`cannot create the baseline ${file}: ${describeSqliteError(error)}`, {cause: error});
		}
	}

	private static openExisting(file: string): OpenOutcome {
		const db = new Database(file, {fileMustExist: true});
		try {
			db.defaultSafeIntegers(true);
			const check = db.pragma('quick_check', {simple: true}) as string;
			if (check !== 'ok') {
				throw new Error(`integrity check: ${check}`);
			}

			const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as bigint | undefined;
			if (version !== BigInt(schemaVersion)) {
				throw new Error(`schema ${String(version ?? 'missing')}, expected ${schemaVersion}`);
			}

			StateStore.createSchema(db);
			const store = new StateStore(db, file);
			const lastAlive = store.meta('last_alive_ns');
			const cleanStop = store.meta('clean_stop_ns');
			store.setMeta('clean_stop_ns', 0n);
			return lastAlive === undefined
				? {store}
				: {store, previous: {lastAliveNs: cleanStop !== undefined && cleanStop > 0n ? cleanStop : lastAlive, cleanStop: cleanStop !== undefined && cleanStop > 0n}};
		} catch (error) {
			db.close();
			throw error;
		}
	}

	private static createSchema(db: Database.Database): void {
		// WAL: the heartbeat and live updates do not rewrite the file; NORMAL sync: a power cut
		// may lose the last updates, which only makes the next start report them again.
		db.pragma('journal_mode = WAL');
		db.pragma('synchronous = NORMAL');
		db.exec(`
			CREATE TABLE IF NOT EXISTS files (
				path BLOB PRIMARY KEY, parent BLOB NOT NULL, type TEXT NOT NULL,
				inode INTEGER NOT NULL, dev INTEGER NOT NULL, size INTEGER NOT NULL,
				mode INTEGER NOT NULL, uid INTEGER NOT NULL, gid INTEGER NOT NULL,
				mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL
			) WITHOUT ROWID;
			CREATE INDEX IF NOT EXISTS files_parent ON files (parent);
			CREATE TABLE IF NOT EXISTS roots (path BLOB PRIMARY KEY, baselined_ns INTEGER NOT NULL) WITHOUT ROWID;
			CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
		`);
		db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)").run(BigInt(schemaVersion));
	}

	get(path: string): StoredFile | undefined {
		const row = this.statements.get.get(bytes(path)) as Row | undefined;
		return row && fromRow(row);
	}

	children(directory: string): StoredFile[] {
		return (this.statements.children.all(bytes(directory)) as Row[]).map(row => fromRow(row));
	}

	/** Everything below `directory`, deepest paths first. */
	subtree(directory: string): StoredFile[] {
		const [low, high] = subtreeRange(directory);
		return (this.statements.subtree.all(low, high) as Row[]).map(row => fromRow(row));
	}

	put(path: string, state: FileState): void {
		// Positional: named parameters cost 2.3 us a row against 1.7 (an object built and
		// looked up eleven times), and a put per changed file is the live baseline's main write.
		this.statements.upsert.run(bytes(path), bytes(parentOf(path)), state.type, state.inode, state.dev, state.size, state.mode, state.uid, state.gid, state.mtimeNs, state.ctimeNs);
	}

	/** Forgets a path and everything below it. */
	remove(path: string): void {
		// One statement and one buffer (byte strings are one char a byte): a path forgotten is
		// the baseline's commonest write under load, and two statements and three buffers cost
		// 1.4 us a path against 1.0 us.
		const base = path.endsWith('/') ? path.slice(0, -1) : path;
		const keys = bytes(`${base}/${base}0`);
		const exact = keys.subarray(0, path.length);
		this.statements.removeWithSubtree.run(exact, keys.subarray(base.length + 1), exact, keys.subarray(0, base.length + 1));
	}

	/** A rename: `to` (and its subtree) is replaced by `from` and its subtree. */
	move(from: string, to: string): void {
		if (from === to) {
			return;
		}

		// What was at `to` is replaced, whatever the store knows of `from`.
		this.remove(to);
		// Nothing known by the old name itself (made since the last flush): the new name is
		// looked at by the flush. What is below it may be known all the same (a directory made
		// since the last flush, and a known one moved into it): it moves.
		const row = this.get(from);
		if (row) {
			this.statements.remove.run(bytes(from));
			this.put(to, row);
		}

		const [low, high] = subtreeRange(from);
		this.statements.moveSubtree.run({to: bytes(to), cut: from.length + 1, low, high});
	}

	/** RENAME_EXCHANGE: `a` and `b`, with their subtrees, trade places. */
	exchange(a: string, b: string): void {
		const aside = `${a}\0`; // no real path holds a NUL
		this.move(a, aside);
		this.move(b, a);
		this.move(aside, b);
	}

	transaction(work: () => void): void {
		this.db.transaction(work)();
	}

	/** Whether `path` lies in (or is) a watched path whose baseline was completed. */
	isBaselined(path: string): boolean {
		return (this.statements.roots.all() as Array<{path: Buffer}>)
			.some(row => {
				const root = row.path.toString('latin1');
				return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
			});
	}

	markBaselined(path: string, atNs: bigint): void {
		this.statements.addRoot.run(bytes(path), atNs);
	}

	heartbeat(nowNs: bigint): void {
		this.setMeta('last_alive_ns', nowNs);
	}

	/** Records a clean stop, so that the next start knows the downtime began here. */
	close(nowNs: bigint): void {
		try {
			this.setMeta('last_alive_ns', nowNs);
			this.setMeta('clean_stop_ns', nowNs);
		} finally {
			this.db.close();
		}
	}

	get fileCount(): number {
		return Number((this.statements.count.get() as {n: bigint}).n);
	}

	private meta(key: string): bigint | undefined {
		const value = this.statements.getMeta.pluck().get(key) as unknown;
		return typeof value === 'bigint' ? value : undefined;
	}

	private setMeta(key: string, value: bigint): void {
		this.statements.setMeta.run(key, value);
	}
}

/** What lstat says of a path, in the store's shape; undefined when it does not exist. */
export function statPath(path: string): FileState | undefined {
	let stats: BigIntStats | undefined;
	try {
		stats = lstatSync(Buffer.from(path, 'latin1'), {bigint: true, throwIfNoEntry: false});
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		// A parent that became a file, or a name too long to exist: either way it is not there.
		if (code === 'ENOTDIR' || code === 'ENAMETOOLONG' || code === 'ELOOP') {
			return undefined;
		}

		throw error;
	}

	return stats && fromStats(stats);
}

export function fromStats(stats: BigIntStats): FileState {
	return {
		type: fileType(stats),
		inode: stats.ino,
		dev: stats.dev,
		size: stats.size,
		mode: Number(stats.mode & 0o7777n),
		uid: Number(stats.uid),
		gid: Number(stats.gid),
		mtimeNs: stats.mtimeNs,
		ctimeNs: stats.ctimeNs,
	};
}

function fileType(stats: BigIntStats): FileType {
	if (stats.isFile()) {
		return 'file';
	}

	if (stats.isDirectory()) {
		return 'dir';
	}

	if (stats.isSymbolicLink()) {
		return 'symlink';
	}

	if (stats.isFIFO()) {
		return 'fifo';
	}

	if (stats.isSocket()) {
		return 'socket';
	}

	return stats.isCharacterDevice() ? 'char' : 'block';
}

function fromRow(row: Row): StoredFile {
	return {
		path: row.path.toString('latin1'),
		type: row.type as FileType,
		inode: row.inode,
		dev: row.dev,
		size: row.size,
		mode: Number(row.mode),
		uid: Number(row.uid),
		gid: Number(row.gid),
		mtimeNs: row.mtime_ns,
		ctimeNs: row.ctime_ns,
	};
}

function bytes(path: string): Buffer {
	return Buffer.from(path, 'latin1');
}

/** The byte-string parent of an absolute byte-string path ('/' for '/x'). */
export function parentOf(path: string): string {
	const slash = path.lastIndexOf('/');
	return slash <= 0 ? '/' : path.slice(0, slash);
}

/** Keys strictly between these are the paths below `directory` ('/' + 1 is '0'). */
function subtreeRange(directory: string): [Buffer, Buffer] {
	const base = directory.endsWith('/') ? directory.slice(0, -1) : directory;
	return [bytes(`${base}/`), bytes(`${base}0`)];
}

function describeSqliteError(error: unknown): string {
	const code = (error as {code?: string}).code;
	const message = error instanceof Error ? error.message : String(error);
	return code && !message.includes(code) ? `${code}: ${message}` : message;
}
