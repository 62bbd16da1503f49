import {createReadStream, createWriteStream} from 'node:fs';
import {open, rename, stat, unlink, type FileHandle} from 'node:fs/promises';
import {pipeline} from 'node:stream/promises';
import {createGzip} from 'node:zlib';
import {systemClock, type Clock} from './clock.js';
import {RuntimeError} from './errors.js';
import {errorText, joinLines, SinkError, type Sink, type SinkEntry} from './sinks.js';

/**
 * Lines appended to a file, with rotation:
 *
 *   events.json  →  events.json.1(.gz)  →  events.json.2(.gz)  …  events.json.<keep>(.gz)  → deleted
 *
 * The file rotates before a batch that would take it past `maxBytes`, or once it is `maxAgeMs`
 * old; rotated files are gzipped in the background when `compress` is on. `reopen()` (SIGHUP)
 * closes and reopens the path, for an external logrotate that moved the file away.
 */

export type FileRotation = {maxBytes?: number; maxAgeMs?: number; keep: number; compress: boolean};

export type FileSinkOptions = {
	id: string;
	path: string;
	/** Permission bits of a new file. */
	mode: number;
	rotate?: FileRotation;
	clock?: Clock;
	/** Told of background failures (a rotated file that could not be compressed). */
	warn?: (message: string) => void;
};

export async function createFileSink(options: FileSinkOptions): Promise<Sink> {
	const sink = new FileSink(options);
	await sink.openFile();
	return sink;
}

class FileSink implements Sink {
	readonly type = 'file';
	readonly id: string;
	readonly target: string;
	private handle: FileHandle | undefined;
	private size = 0;
	private openedMs = 0;
	private reopenWanted = false;
	private compressing: Promise<void> = Promise.resolve();
	private readonly clock: Clock;

	constructor(private readonly options: FileSinkOptions) {
		this.id = options.id;
		this.target = options.path;
		this.clock = options.clock ?? systemClock;
	}

	async openFile(): Promise<void> {
		try {
			this.handle = await open(this.options.path, 'a', this.options.mode);
			const stats = await this.handle.stat();
			this.size = stats.size;
			// An existing file is as old as its first write; birth time where the filesystem keeps it.
			this.openedMs = stats.size === 0 ? this.clock.now() : (stats.birthtimeMs > 0 ? stats.birthtimeMs : stats.ctimeMs);
		} catch (error) {
			throw new RuntimeError(`sink ${this.id}: cannot open ${this.options.path}: ${errorText(error)}`, {cause: error});
		}
	}

	reopen(): void {
		this.reopenWanted = true;
	}

	async send(entries: readonly SinkEntry[]): Promise<void> {
		try {
			const data = Buffer.from(joinLines(entries));
			if (this.reopenWanted || !this.handle) {
				this.reopenWanted = false;
				await this.closeHandle();
				await this.openFile();
			}

			if (this.rotationDue(data.length)) {
				await this.rotate();
			}

			let offset = 0;
			while (offset < data.length) {
				// eslint-disable-next-line no-await-in-loop
				const {bytesWritten} = await this.handle!.write(data, offset);
				offset += bytesWritten;
				this.size += bytesWritten;
			}
		} catch (error) {
			// Full disk, a directory gone read-only: worth trying again later.
			throw error instanceof SinkError ? error : new SinkError(`cannot write ${this.options.path}: ${errorText(error)}`, {retryable: true, cause: error});
		}
	}

	async close(): Promise<void> {
		await this.closeHandle();
		await this.compressing;
	}

	private rotationDue(incoming: number): boolean {
		const rotation = this.options.rotate;
		if (!rotation || this.size === 0) {
			return false;
		}

		return (rotation.maxBytes !== undefined && this.size + incoming > rotation.maxBytes)
			|| (rotation.maxAgeMs !== undefined && this.clock.now() - this.openedMs >= rotation.maxAgeMs);
	}

	private async rotate(): Promise<void> {
		const {keep, compress} = this.options.rotate!;
		const base = this.options.path;
		// One rotation at a time: the shift below renames what the last compression wrote.
		await this.compressing;
		await this.closeHandle();
		for (const suffix of ['', '.gz']) {
			await removeIfPresent(`${base}.${keep}${suffix}`);
		}

		for (let index = keep - 1; index >= 1; index--) {
			for (const suffix of ['', '.gz']) {
				// eslint-disable-next-line no-await-in-loop
				await renameIfPresent(`${base}.${index}${suffix}`, `${base}.${index + 1}${suffix}`);
			}
		}

		if (keep >= 1) {
			await rename(base, `${base}.1`);
		} else {
			await unlink(base);
		}

		await this.openFile();
		if (compress && keep >= 1) {
			this.compressing = gzipFile(`${base}.1`).catch((error: unknown) => {
				this.options.warn?.(`sink ${this.id}: cannot compress ${base}.1: ${errorText(error)}`);
			});
		}
	}

	private async closeHandle(): Promise<void> {
		const handle = this.handle;
		this.handle = undefined;
		await handle?.close().catch(() => {});
	}
}

async function gzipFile(path: string): Promise<void> {
	await pipeline(createReadStream(path), createGzip(), createWriteStream(`${path}.gz.tmp`, {mode: (await stat(path)).mode & 0o777}));
	await rename(`${path}.gz.tmp`, `${path}.gz`);
	await unlink(path);
}

async function removeIfPresent(path: string): Promise<void> {
	await unlink(path).catch((error: NodeJS.ErrnoException) => {
		if (error.code !== 'ENOENT') {
			throw error;
		}
	});
}

async function renameIfPresent(from: string, to: string): Promise<void> {
	await rename(from, to).catch((error: NodeJS.ErrnoException) => {
		if (error.code !== 'ENOENT') {
			throw error;
		}
	});
}
