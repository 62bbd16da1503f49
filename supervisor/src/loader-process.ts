import {execFileSync} from 'node:child_process';
import {closeSync, constants, mkdtempSync, openSync, rmSync} from 'node:fs';
import {Socket, type OnReadOpts, type SocketConstructorOpts} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {isMainThread} from 'node:worker_threads';
import {execa, type ResultPromise} from 'execa';
import {NdjsonParser, type MalformedLine, type ParsedLine} from './ndjson-parse.js';
import {procStatField} from './proc-cache.js';

/**
 * One run of the loader: spawn it, split its stdout into parsed batches, keep the tail of its
 * stderr, send it commands, stop it. Knows nothing about restarts (see supervise.ts).
 */

export type LoaderExit = {
	code: number | null;
	signal: string | null;
	/** Set when the process could not be started at all (ENOENT, EACCES, …). */
	spawnError: string | null;
	/** Whether the last stdout record was `bye` (a clean exit). */
	saidBye: boolean;
	/**
	 * Set when the exit status is not known yet: the loader was found exiting, or it was being
	 * stopped and had said bye and closed its stdout (see stop()).
	 */
	exiting?: boolean;
};

export type LoaderProcessOptions = {
	loaderPath: string;
	args: readonly string[];
	env?: NodeJS.ProcessEnv;
	onBatch: (lines: ParsedLine[]) => void;
	onMalformed: (malformed: MalformedLine) => void;
	onStderrLine: (line: string) => void;
	/** How many stderr lines to keep for error messages. */
	stderrTailLines?: number;
	/** Where the stdout FIFO is made (see openStdoutChannel); defaults to os.tmpdir(). */
	fifoDirectory?: string;
};

/** The loader's stdout as the subprocess sees it and as we read it. */
export type StdoutChannel = {
	/** For execa: the FIFO's write end, or 'pipe'. */
	option: number | 'pipe';
	/** The FIFO's read end; undefined when reading the subprocess's own stdout stream. */
	reader?: Socket;
	/** Closes our copy of the write end once the subprocess has its own. */
	afterSpawn(): void;
};

const plainPipe: StdoutChannel = {option: 'pipe', afterSpawn() {}};

/**
 * Bytes read from the FIFO at once, as much as the stream reads. Not a whole batch of the loader
 * (256 KiB): a chunk decodes to one string, and one above V8's regular object size (128 KiB) is
 * made in the old generation. At full speed such chunks made node use 90% of a core against
 * 65% and fall behind by 50-130 ms.
 */
const fifoReadBytes = 64 * 1024;

export class LoaderProcess {
	readonly exited: Promise<LoaderExit>;
	// stdout is typed as 'pipe' for both channels: the code below reads `subprocess.stdout` only
	// when it is one.
	private readonly subprocess: ResultPromise<{buffer: false; reject: false; stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; forceKillAfterDelay: false}>;
	private readonly stdout: {pause(): void; resume(): void};
	private readonly stderrTailStore: string[] = [];
	private readonly stderrTailLines: number;
	private saidBye = false;
	private stdinOpen = true;
	/** Resolves when stdout ends after a bye: the loader has nothing more to say. */
	private readonly doneTalking: Promise<void>;

	constructor(private readonly options: LoaderProcessOptions) {
		this.stderrTailLines = options.stderrTailLines ?? 20;
		const parser = new NdjsonParser({onMalformed: options.onMalformed});
		const onChunk = (chunk: Uint8Array): void => {
			const lines = parser.push(chunk);
			if (lines.length > 0) {
				this.saidBye = lines.at(-1)!.value['type'] === 'bye';
				options.onBatch(lines);
			}
		};

		const channel = openStdoutChannel(options.fifoDirectory ?? tmpdir(), onChunk);
		this.subprocess = execa(options.loaderPath, options.args, {
			buffer: false,
			reject: false,
			stdin: 'pipe',
			// execa's types list the descriptors 3 to 9 only; any number goes to spawn() as is.
			stdout: channel.option as 'pipe',
			stderr: 'pipe',
			env: options.env,
			// Stopping escalates on the supervisor's own schedule (see stop()).
			forceKillAfterDelay: false,
			// The loader must not outlive us, whatever way we exit.
			cleanup: true,
		});

		channel.afterSpawn();
		const stdout = channel.reader ?? this.subprocess.stdout.on('data', onChunk);
		this.stdout = stdout;
		const stdoutEnded = new Promise<void>(resolve => {
			// A read error ends the records as EOF does; the exit tells why.
			stdout.on('error', () => {});
			stdout.once('close', () => {
				parser.end();
				resolve();
			});
		});
		this.doneTalking = stdoutEnded.then(async () => this.saidBye ? undefined : new Promise<void>(() => {}));

		let stderrPending = '';
		this.subprocess.stderr.setEncoding('utf8');
		this.subprocess.stderr.on('data', (chunk: string) => {
			const lines = (stderrPending + chunk).split('\n');
			stderrPending = lines.pop() ?? '';
			for (const line of lines) {
				this.addStderrLine(line);
			}
		});
		const stderrEnded = new Promise<void>(resolve => {
			this.subprocess.stderr.once('close', () => {
				if (stderrPending.length > 0) {
					this.addStderrLine(stderrPending);
				}

				resolve();
			});
		});

		// A loader that dies makes writes to its stdin fail with EPIPE; that is reported through
		// its exit, not as an error of its own.
		this.subprocess.stdin.on('error', () => {
			this.stdinOpen = false;
		});

		const {subprocess} = this;
		this.exited = (async () => {
			const result = await subprocess;
			// What the loader wrote before it exited is read even while paused (Node does the same
			// for a subprocess's own stdio streams), else the read end would never see the EOF.
			stdout.resume();
			await Promise.all([stdoutEnded, stderrEnded]);
			const spawnError = result.exitCode === undefined && result.signal === undefined
				? (result as {code?: string}).code ?? result.shortMessage ?? 'spawn failed'
				: null;
			return {
				code: result.exitCode ?? null,
				signal: result.signal ?? null,
				spawnError,
				saidBye: this.saidBye,
			};
		})();
	}

	get pid(): number | undefined {
		return this.subprocess.pid;
	}

	/** The last lines the loader wrote on stderr. */
	get stderrTail(): readonly string[] {
		return this.stderrTailStore;
	}

	/** Writes one command line; false when the loader's stdin is gone. */
	send(command: Record<string, string>): boolean {
		if (!this.stdinOpen || this.subprocess.stdin.destroyed) {
			return false;
		}

		this.subprocess.stdin.write(`${JSON.stringify(command)}\n`);
		return true;
	}

	/**
	 * Asks the loader to exit (EOF on stdin and SIGTERM), then kills it if it has not exited
	 * within `graceMs`. Returns once it has exited, or once it has said bye and closed its
	 * stdout: it then has no more records, and the kernel takes a second or two to detach its
	 * hooks before it is gone, which nobody needs to wait for.
	 */
	async stop(graceMs: number, setTimer: (callback: () => void, ms: number) => () => void): Promise<LoaderExit> {
		this.stdinOpen = false;
		this.subprocess.stdin.end();
		this.subprocess.kill('SIGTERM');
		const cancel = setTimer(() => {
			this.subprocess.kill('SIGKILL');
		}, graceMs);
		const saidAll: LoaderExit = {code: null, signal: null, spawnError: null, saidBye: true, exiting: true};
		const exit = await Promise.race([this.exited, this.doneTalking.then(() => saidAll)]);
		cancel();
		return exit;
	}

	/** Stops reading stdout; the pipe fills and the loader blocks, its losses counted in the kernel. */
	pause(): void {
		this.stdout.pause();
	}

	resume(): void {
		this.stdout.resume();
	}

	/** Kills without grace (used when giving up). */
	kill(): void {
		this.subprocess.kill('SIGKILL');
	}

	private addStderrLine(line: string): void {
		if (line.length === 0) {
			return;
		}

		this.stderrTailStore.push(line);
		if (this.stderrTailStore.length > this.stderrTailLines) {
			this.stderrTailStore.shift();
		}

		this.options.onStderrLine(line);
	}
}

/**
 * The loader's stdout: a FIFO read through a socket with one reused buffer (`onread`), rather
 * than the socket pair that `stdout: 'pipe'` makes, read as a stream. The loader writes a batch
 * at a time, so at moderate rates every event is a read: the stream allocates a buffer for each
 * and passes it through its machinery, and a socket write costs the loader more than a pipe
 * write (a buffer of its own per write). At 2,000 events/s node measured 5.9-8.1% of a core
 * (median 6.5%) against 7.3-10.1% (8.3%) with the stream, the loader 2.4-2.7% against 2.6-3.3%.
 * The FIFO is made in a directory of our own and unlinked once both ends are open; where none
 * can be made, the plain pipe.
 *
 * Also the plain pipe in a Worker thread: a Worker keeps a list of the descriptors fs opened,
 * to close them when it exits, and the FIFO's read end, opened by fs but closed by its socket,
 * would stay on it: its number, by then reused, would be closed again.
 */
// Exported for scripts/bench-bare-consumer.mjs --noop, which measures this reader alone.
export function openStdoutChannel(directory: string, onChunk: (chunk: Uint8Array) => void): StdoutChannel {
	if (!isMainThread) {
		return plainPipe;
	}

	let fifoDirectory: string | undefined;
	let readFd: number | undefined;
	let writeFd: number | undefined;
	try {
		fifoDirectory = mkdtempSync(join(directory, 'fim-loader-'));
		const fifo = join(fifoDirectory, 'stdout');
		// Node has no mkfifo(); coreutils' does it, once per loader start.
		execFileSync('mkfifo', ['-m', '600', fifo], {stdio: 'ignore'});
		// The read end first and without blocking, so that opening the write end finds a reader.
		readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
		writeFd = openSync(fifo, constants.O_WRONLY);
		const writeEnd = writeFd;
		const buffer = Buffer.allocUnsafe(fifoReadBytes);
		// The constructor takes `onread` (Node's documentation moved it there from connect());
		// these typings still list it under connect() only.
		const readerOptions: SocketConstructorOpts & {onread: OnReadOpts} = {
			fd: readFd,
			readable: true,
			writable: false,
			onread: {
				buffer,
				callback(bytes: number) {
					onChunk(buffer.subarray(0, bytes));
					return true;
				},
			},
		};
		const reader = new Socket(readerOptions);
		return {
			option: writeEnd,
			reader,
			afterSpawn() {
				// Until ours is closed, the loader's exit would not end the reads.
				closeSync(writeEnd);
			},
		};
	} catch {
		for (const fd of [readFd, writeFd]) {
			if (fd !== undefined) {
				closeSync(fd);
			}
		}

		return plainPipe;
	} finally {
		if (fifoDirectory !== undefined) {
			rmSync(fifoDirectory, {recursive: true, force: true});
		}
	}
}

/** Whether the process is on its way out (PF_EXITING in /proc/PID/stat) though not yet gone. */
export function processIsExiting(pid: number): boolean {
	return (procStatField(pid, 9) & 0x4) !== 0; // field 9, flags: PF_EXITING
}

export function describeExit(exit: LoaderExit): string {
	if (exit.exiting) {
		return 'found exiting';
	}

	if (exit.spawnError) {
		return `could not start: ${exit.spawnError}`;
	}

	if (exit.signal) {
		return `killed by ${exit.signal}`;
	}

	return `exit code ${exit.code ?? '?'}${exit.saidBye ? '' : ' without bye'}`;
}
