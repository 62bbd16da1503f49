import {spawn, type ChildProcess} from 'node:child_process';
import {accessSync, chmodSync, constants, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import test, {type ExecutionContext} from 'ava';

/**
 * fimctl on the real kernel with the real loader (build/fim-loader). These need root. When they
 * cannot run they skip, except where they are required (CI=true or FIM_E2E_REQUIRED=1): there a
 * missing prerequisite is a failure, so that CI never passes without having run them.
 */

export const root = resolve('.');
export const fimctl = join(root, 'bin/fimctl');
export const loader = process.env['FIM_LOADER'] ?? join(root, 'build/fim-loader');
const required = process.env['CI'] === 'true' || process.env['FIM_E2E_REQUIRED'] === '1';

function missingPrerequisite(): string | undefined {
	if (process.geteuid?.() !== 0) {
		return 'not running as root';
	}

	try {
		accessSync(loader, constants.X_OK);
	} catch {
		return `no loader at ${loader} (run make)`;
	}

	try {
		accessSync(join(root, 'dist/supervisor/src/cli.js'));
	} catch {
		return 'fimctl is not built (npm run build)';
	}

	return undefined;
}

const missing = missingPrerequisite();

export function e2e(title: string, implementation: (t: ExecutionContext) => Promise<void>): void {
	if (missing === undefined) {
		test.serial(title, implementation);
	} else if (required) {
		test.serial(title, t => {
			t.fail(`end-to-end prerequisite missing: ${missing}`);
		});
	} else {
		test.skip(`${title} (${missing})`, () => {});
	}
}

export type Json = Record<string, unknown>;

/** fimctl start, its stdout parsed line by line. */
export class Fimctl {
	readonly records: Json[] = [];
	stderr = '';
	readonly process: ChildProcess;
	private stdout = '';
	private exit: Promise<number | null>;

	constructor(args: string[], readonly stateDirectory = mkdtempSync(join(tmpdir(), 'fim-e2e-state-'))) {
		this.process = spawn(fimctl, ['start', ...args, '--loader', loader, '--stats-interval', '1', '--state-dir', stateDirectory], {stdio: ['ignore', 'pipe', 'pipe']});
		this.process.stdout!.setEncoding('utf8');
		this.process.stdout!.on('data', (chunk: string) => {
			this.stdout += chunk;
			let newline;
			while ((newline = this.stdout.indexOf('\n')) !== -1) {
				this.records.push(JSON.parse(this.stdout.slice(0, newline)) as Json);
				this.stdout = this.stdout.slice(newline + 1);
			}
		});
		this.process.stderr!.setEncoding('utf8');
		this.process.stderr!.on('data', (chunk: string) => {
			this.stderr += chunk;
		});
		this.exit = new Promise(resolve => {
			this.process.on('exit', code => {
				resolve(code);
			});
		});
	}

	async until<T>(find: () => T | undefined, what: string, ms = 20_000): Promise<T> {
		const deadline = Date.now() + ms;
		for (;;) {
			const found = find();
			if (found !== undefined) {
				return found;
			}

			if (Date.now() > deadline || this.process.exitCode !== null) {
				throw new Error(`timed out waiting for ${what}; stderr:\n${this.stderr}\nrecords:\n${this.records.map(record => JSON.stringify(record)).join('\n')}`);
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 20);
			});
		}
	}

	async ready(): Promise<void> {
		await this.until(() => (this.stderr.includes('fimctl: info: watching') ? true : undefined), 'the loader to attach');
	}

	async stop(): Promise<number | null> {
		this.process.kill('SIGTERM');
		return this.exit;
	}
}

export const supervisorRecords = (fim: Fimctl, kind: string): Json[] => fim.records.filter(record => record['type'] === 'supervisor' && record['kind'] === kind);

/** Waits for the first scan of the watched paths (the baseline made, or reconciled against). */
export async function baselineMade(fim: Fimctl): Promise<void> {
	await fim.until(() => (fim.stderr.includes('baseline of') || supervisorRecords(fim, 'reconcile').length > 0 ? true : undefined), 'the first scan');
}

export function cleanUp(fim: Fimctl, ...directories: string[]): void {
	fim.process.kill('SIGKILL');
	for (const directory of [...directories, fim.stateDirectory]) {
		rmSync(directory, {recursive: true, force: true});
	}
}

export function workDirectory(): string {
	const directory = realpathSync(mkdtempSync(join(tmpdir(), 'fim-e2e-')));
	chmodSync(directory, 0o777);
	return directory;
}

/** The pid of the loader fimctl runs now (its only child). */
export function loaderPid(fimctlPid: number): number {
	return Number(readFileSync(`/proc/${fimctlPid}/task/${fimctlPid}/children`, 'latin1').trim().split(' ')[0]);
}

/** Kills any loader of this checkout still running: a leftover would hold tracepoints for the next suite. */
export function killLeftoverLoaders(): void {
	for (const entry of readdirSync('/proc')) {
		if (/^\d+$/.test(entry)) {
			try {
				if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').startsWith(loader)) {
					process.kill(Number(entry), 'SIGKILL');
				}
			} catch {}
		}
	}
}

/** `fimctl status --json` of the fimctl using `stateDirectory`. */
export async function fimctlStatus(stateDirectory: string): Promise<Json> {
	const {execa} = await import('execa');
	const result = await execa(fimctl, ['status', '--json', '--state-dir', stateDirectory]);
	return JSON.parse(String(result.stdout)) as Json;
}

export type Change = {op: string; path: string; old_path?: string; t: number};

/** test/fixtures/fault-workload.mjs: changes at a steady rate until stop(). */
export class Workload {
	private readonly child: ChildProcess;
	private output = '';
	private readonly exited: Promise<void>;

	/** Makes the files the workload changes (before fimctl starts, so they are in the baseline). */
	static premake(directory: string, count: number): void {
		for (let k = 0; k < count; k++) {
			for (const name of [`mod-${k}`, `del-${k}`, `ren-${k}`]) {
				writeFileSync(join(directory, name), `${name}\n`);
			}
		}
	}

	constructor(directory: string, opsPerSecond: number, premade: number) {
		this.child = spawn(process.execPath, [join(root, 'test/fixtures/fault-workload.mjs'), directory, String(opsPerSecond), String(premade)], {stdio: ['pipe', 'pipe', 'inherit']});
		this.child.stdout!.setEncoding('utf8');
		this.child.stdout!.on('data', (chunk: string) => {
			this.output += chunk;
		});
		this.exited = new Promise(resolve => {
			this.child.on('exit', () => {
				resolve();
			});
		});
	}

	/** Ends the workload; resolves with every change it made. */
	async stop(): Promise<Change[]> {
		this.child.stdin!.end();
		await this.exited;
		return this.output.trim().split('\n').filter(line => line.length > 0).map(line => JSON.parse(line) as Change);
	}
}

/**
 * The changes whose last state was never reported: for each path, some event (live or
 * reconcile) must describe it at or after its last change. Returns one line per miss.
 */
export function unreported(records: readonly Json[], changes: readonly Change[]): string[] {
	const last = new Map<string, {change: Change; gone: boolean}>();
	for (const change of changes) {
		last.set(change.path, {change, gone: change.op === 'delete'});
		if (change.old_path !== undefined) {
			last.set(change.old_path, {change, gone: true});
		}
	}

	const events = records.filter(record => typeof record['operation'] === 'string');
	const byPath = new Map<string, Json[]>();
	for (const event of events) {
		for (const key of ['path', 'old_path']) {
			const path = event[key];
			if (typeof path === 'string') {
				const list = byPath.get(path) ?? [];
				list.push(event);
				byPath.set(path, list);
			}
		}
	}

	const misses: string[] = [];
	for (const [path, {change, gone}] of last) {
		// Kernel time and the workload's clock agree to well under a millisecond.
		const since = (change.t - 2) * 1e6;
		const reported = (byPath.get(path) ?? []).some(event => {
			if ((event['timestamp'] as number) < since) {
				return false;
			}

			const away = event['operation'] === 'delete' || (event['operation'] === 'rename' && event['old_path'] === path);
			return gone ? away : !away;
		});
		if (!reported) {
			misses.push(`${change.op} ${path} at ${change.t}: ${JSON.stringify((byPath.get(path) ?? []).map(event => [event['operation'], event['source'], event['timestamp']]))}`);
		}
	}

	return misses;
}

export async function sleep(ms: number): Promise<void> {
	await new Promise(resolve => {
		setTimeout(resolve, ms);
	});
}
