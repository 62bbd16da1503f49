/**
 * Error classes carry data, not logic. The CLI entry maps `exitCode` to the process exit status;
 * the library hands them to the caller unchanged.
 *
 * Exit codes (documented for users): 2 usage, 1 runtime, 3 unsupported system.
 */

export class FimError extends Error {
	readonly exitCode: number = 1;

	constructor(message: string, options?: {cause?: unknown}) {
		super(message, options);
		this.name = new.target.name;
	}
}

/** A mistake in what the user asked for: a bad flag, config key, glob or path. */
export class UsageError extends FimError {
	override readonly exitCode = 2;
}

/** Something went wrong while running: the loader failed, a sink broke, permission denied. */
export class RuntimeError extends FimError {
	override readonly exitCode = 1;
}

/** The system cannot run the sensor at all: no BTF, no BPF, no ring buffer. */
export class UnsupportedSystemError extends FimError {
	override readonly exitCode = 3;
}

export class ConfigError extends UsageError {
	readonly file: string | undefined;
	readonly key: string | undefined;

	constructor(message: string, options: {file?: string; key?: string; cause?: unknown} = {}) {
		super(message, {cause: options.cause});
		this.file = options.file;
		this.key = options.key;
	}
}

export class LoaderMissingError extends RuntimeError {
	readonly loaderPath: string;

	constructor(loaderPath: string, options?: {cause?: unknown}) {
		super(`loader binary not found or not executable: ${loaderPath} (run 'make', or set FIM_LOADER)`, options);
		this.loaderPath = loaderPath;
	}
}

/** The loader kept dying; `stderrTail` holds its last stderr lines for the message. */
export class CrashLoopError extends RuntimeError {
	readonly crashes: number;
	readonly windowMs: number;
	readonly stderrTail: readonly string[];

	constructor(crashes: number, windowMs: number, stderrTail: readonly string[], lastExit: string) {
		const tail = stderrTail.length > 0 ? `; loader said: ${stderrTail.join(' | ')}` : '';
		super(`loader crash loop: ${crashes} crashes within ${Math.round(windowMs / 1000)} s (last: ${lastExit})${tail}`);
		this.crashes = crashes;
		this.windowMs = windowMs;
		this.stderrTail = stderrTail;
	}
}

/** The loader refused to start for a reason a restart cannot fix (its exit codes 2, 3, 4). */
export class LoaderRefusedError extends FimError {
	override readonly exitCode: number;
	readonly loaderExitCode: number;
	readonly stderrTail: readonly string[];

	constructor(loaderExitCode: number, stderrTail: readonly string[]) {
		const detail = stderrTail.at(-1) ?? '';
		const what = loaderRefusal(loaderExitCode, detail);
		super(detail ? `${what}: ${detail.replace(/^fim-loader: (error: )?/, '')}` : what);
		this.loaderExitCode = loaderExitCode;
		this.stderrTail = stderrTail;
		this.exitCode = loaderExitCode === 2 ? 2 : loaderExitCode === 3 ? 3 : 1;
	}
}

/** What the loader's exit code says, in words that do not repeat its last line (`detail`). */
function loaderRefusal(code: number, detail: string): string {
	switch (code) {
		case 2: {
			return 'the loader rejected its arguments';
		}

		case 3: {
			return 'unsupported system';
		}

		case 4: {
			return detail.includes('CAP_BPF') ? 'permission denied' : 'permission denied (run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)';
		}

		default: {
			return `the loader exited with code ${code}`;
		}
	}
}
