import {readFileSync} from 'node:fs';
import {execa, type ResultPromise} from 'execa';
import {NdjsonParser, type MalformedLine, type ParsedLine} from './ndjson-parse.js';

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
	/** Set when the exit status is not known yet: the loader was found exiting. */
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
};

export class LoaderProcess {
	readonly exited: Promise<LoaderExit>;
	private readonly subprocess: ResultPromise<{buffer: false; reject: false; stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; forceKillAfterDelay: false}>;
	private readonly stderrTailStore: string[] = [];
	private readonly stderrTailLines: number;
	private saidBye = false;
	private stdinOpen = true;

	constructor(private readonly options: LoaderProcessOptions) {
		this.stderrTailLines = options.stderrTailLines ?? 20;
		this.subprocess = execa(options.loaderPath, options.args, {
			buffer: false,
			reject: false,
			stdin: 'pipe',
			stdout: 'pipe',
			stderr: 'pipe',
			env: options.env,
			// Stopping escalates on the supervisor's own schedule (see stop()).
			forceKillAfterDelay: false,
			// The loader must not outlive us, whatever way we exit.
			cleanup: true,
		});

		const parser = new NdjsonParser({onMalformed: options.onMalformed});
		this.subprocess.stdout.on('data', (chunk: Buffer) => {
			const lines = parser.push(chunk);
			if (lines.length > 0) {
				this.saidBye = lines.at(-1)!.value['type'] === 'bye';
				options.onBatch(lines);
			}
		});
		const stdoutEnded = new Promise<void>(resolve => {
			this.subprocess.stdout.once('close', () => {
				parser.end();
				resolve();
			});
		});

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
	 * within `graceMs`.
	 */
	async stop(graceMs: number, setTimer: (callback: () => void, ms: number) => () => void): Promise<LoaderExit> {
		this.stdinOpen = false;
		this.subprocess.stdin.end();
		this.subprocess.kill('SIGTERM');
		const cancel = setTimer(() => {
			this.subprocess.kill('SIGKILL');
		}, graceMs);
		const exit = await this.exited;
		cancel();
		return exit;
	}

	/** Stops reading stdout; the pipe fills and the loader blocks, its losses counted in the kernel. */
	pause(): void {
		this.subprocess.stdout.pause();
	}

	resume(): void {
		this.subprocess.stdout.resume();
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

/** Whether the process is on its way out (PF_EXITING in /proc/PID/stat) though not yet gone. */
export function processIsExiting(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
		const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
		return (flags & 0x4) !== 0;
	} catch {
		return false;
	}
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
