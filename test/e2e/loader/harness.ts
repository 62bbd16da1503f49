// Runs the real fim-loader on a fresh temporary tree and lets a test make changes from child
// processes and assert the exact events the kernel reported for them.
//
// Layout of one scenario (everything under a fresh mkdtemp):
//
//   <base>/w        watched: the test's changes go here
//   <base>/fence    watched too: the harness mkdir()s here to know "everything before is in"
//   <base>/sibling  not watched
//
// Why a fence: the ring buffer is one ordered stream, so once the add event of a directory made
// by the test process *after* the child exited has been read, every event of that child has
// been read too. That lets a test assert "exactly these events" without sleeping.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext, type ImplementationFn } from 'ava';

export type Rec = Record<string, unknown> & { type: string };
export type FimEvent = Rec & {
	type: 'event';
	operation: string;
	path: string;
	old_path: string | null;
	pid: number;
};

function findRepoRoot(): string {
	let dir = path.dirname(fileURLToPath(import.meta.url));
	for (;;) {
		const pkg = path.join(dir, 'package.json');
		if (fs.existsSync(pkg) && /"name":\s*"fim-whodata"/.test(fs.readFileSync(pkg, 'utf8'))) return dir;
		const up = path.dirname(dir);
		if (up === dir) return process.cwd();
		dir = up;
	}
}

export const repoRoot = findRepoRoot();
export const loaderPath = process.env['FIM_LOADER'] ?? path.join(repoRoot, 'build', 'fim-loader');

/** Why the suite cannot run here, or null when it can. */
function cannotRun(): string | null {
	if (process.platform !== 'linux') return 'not Linux';
	if (process.getuid?.() !== 0) return 'not root (the loader needs CAP_BPF/CAP_SYS_ADMIN)';
	if (!fs.existsSync(loaderPath)) return `${loaderPath} missing (run: make loader)`;
	return null;
}

const reason = cannotRun();
// In CI (or when asked) a kernel test that cannot run is a failure, so a broken runner never
// reports green; on a developer's machine it is a skip.
const required = process.env['CI'] === 'true' || process.env['FIM_E2E_REQUIRED'] === '1';

type E2e = ((title: string, fn: ImplementationFn<[]>) => void) & {
	failing: (title: string, fn: ImplementationFn<[]>) => void;
};

function makeE2e(): E2e {
	if (!reason) {
		// Serial within a file: loading the sensor is CPU-bound verifier work, and dozens of loaders
		// starting at once on a small machine time out; ava still runs the files concurrently.
		return Object.assign((title: string, fn: ImplementationFn<[]>) => test.serial(title, fn), {
			failing: (title: string, fn: ImplementationFn<[]>) => test.serial.failing(title, fn),
		});
	}
	const unavailable = (title: string) => {
		if (required) test(title, (t) => t.fail(`loader e2e required but cannot run: ${reason}`));
		else test.skip(`${title} (${reason})`, () => {});
	};
	return Object.assign((title: string) => unavailable(title), { failing: (title: string) => unavailable(title) });
}

/** `test` for the loader e2e suite: runs, skips or fails according to the environment. */
export const e2e = makeE2e();

// ---------------------------------------------------------------------------------------------

/** A tool by absolute path, so process_name (comm) and exe are known before running it. */
export function bin(name: string): string {
	for (const d of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
		const p = path.join(d, name);
		if (fs.existsSync(p)) return p;
	}
	throw new Error(`${name} not found`);
}

// The system interpreter by path: a version-manager shim on PATH would add processes and
// change exe.
export const PY = '/usr/bin/python3';

export interface ChildResult {
	pid: number;
	code: number | null;
	stdout: string;
	stderr: string;
	/** The whodata every event this child caused must carry. */
	who: { pid: number; ppid: number; process_name: string; exe: string };
}

/**
 * Runs a child to completion; `comm` is the program whose image the child ends up in (after
 * any exec chain: sh -> exec mv, setpriv -> touch), used for process_name and exe.
 */
export async function run(
	cmd: string,
	args: string[],
	opts: { cwd?: string; comm?: string; input?: string; allowFail?: boolean } = {},
): Promise<ChildResult> {
	const child = spawn(cmd, args, { cwd: opts.cwd ?? '/', stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
	let stdout = '';
	let stderr = '';
	child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
	child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
	if (opts.input !== undefined) child.stdin!.on('error', () => {}).end(opts.input);
	const [code] = (await once(child, 'close')) as [number | null];
	if (code !== 0 && !opts.allowFail)
		throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim()}`);
	const final = opts.comm ?? cmd;
	const exe = fs.realpathSync(final.includes('/') ? final : bin(final));
	return {
		pid: child.pid!,
		code,
		stdout,
		stderr,
		who: { pid: child.pid!, ppid: process.pid, process_name: path.basename(final).slice(0, 15), exe },
	};
}

// ---------------------------------------------------------------------------------------------

const EVENT_FIELDS: Record<string, string[]> = {
	timestamp: ['number'],
	operation: ['string'],
	path: ['string'],
	old_path: ['string', 'null'],
	file_type: ['string', 'null'],
	inode: ['number', 'null'],
	dev: ['string', 'null'],
	pid: ['number'],
	tid: ['number'],
	ppid: ['number'],
	uid: ['number'],
	gid: ['number'],
	euid: ['number'],
	egid: ['number'],
	auid: ['number', 'null'],
	session_id: ['number', 'null'],
	process_name: ['string'],
	exe: ['string', 'null'],
	syscall: ['string'],
	cgroup_id: ['number'],
	source: ['string'],
	backend: ['string'],
	process_start_ns: ['number'],
};

const typeOf = (v: unknown) => (v === null ? 'null' : typeof v);

/** Problems with one event record against docs/protocol.md, empty when it conforms. */
export function eventProblems(e: Rec): string[] {
	const out: string[] = [];
	for (const [k, types] of Object.entries(EVENT_FIELDS))
		if (!types.includes(typeOf(e[k]))) out.push(`${k}: ${JSON.stringify(e[k])} is not ${types.join('|')}`);
	if (!['add', 'modify', 'delete', 'rename', 'attrib'].includes(e['operation'] as string))
		out.push(`operation ${String(e['operation'])}`);
	if (e['operation'] === 'rename' ? typeof e['old_path'] !== 'string' : e['old_path'] !== null)
		out.push('old_path must be set for rename only');
	if (typeof e['path'] === 'string' && !e['path'].startsWith('/')) out.push('path is not absolute');
	if (typeof e['dev'] === 'string' && !/^\d+:\d+$/.test(e['dev'])) out.push('dev is not major:minor');
	if ((e['inode'] === null) !== (e['dev'] === null)) out.push('inode and dev must be known together');
	if (e['source'] !== 'kernel') out.push('source is not kernel');
	// present only when the kernel read it (docs/protocol.md)
	if ('cmdline' in e && typeof e['cmdline'] !== 'string') out.push(`cmdline: ${JSON.stringify(e['cmdline'])} is not a string`);
	return out;
}

export interface LoaderOptions {
	/** Extra loader arguments (e.g. --coalesce-ms). */
	args?: string[];
	/** Parent of the temporary tree; /tmp by default, a tmpfs for the tmpfs case. */
	tmpRoot?: string;
	/** Watch the sibling too (for tests that need two watched trees). */
	watchSibling?: boolean;
	/** Make the tree traversable and w world-writable (for changes made as another user). */
	worldWritable?: boolean;
}

export class Loader {
	readonly records: Rec[] = [];
	readonly badLines: string[] = [];
	stderr = '';
	private waiters: Array<{ pred: (r: Rec) => boolean; resolve: (r: Rec) => void }> = [];
	private exited: Promise<[number | null, NodeJS.Signals | null]>;
	private nextId = 1;
	private fenceN = 0;

	private constructor(
		readonly proc: ChildProcess,
		readonly base: string,
		readonly dir: string,
		readonly fenceDir: string,
		readonly sibling: string,
	) {
		this.exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
		proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
		const rl = readline.createInterface({ input: proc.stdout!, crlfDelay: Infinity });
		rl.on('line', (line) => this.onLine(line));
	}

	static async start(opts: LoaderOptions = {}): Promise<Loader> {
		const root = opts.tmpRoot ?? os.tmpdir();
		const base = fs.realpathSync(fs.mkdtempSync(path.join(root, 'fim-e2e-')));
		const dir = path.join(base, 'w');
		const fence = path.join(base, 'fence');
		const sibling = path.join(base, 'sibling');
		for (const d of [dir, fence, sibling]) fs.mkdirSync(d);
		if (opts.worldWritable) {
			fs.chmodSync(base, 0o755);
			fs.chmodSync(dir, 0o1777);
		}
		const paths = [dir, fence, ...(opts.watchSibling ? [sibling] : [])];
		const args = [...paths.flatMap((p) => ['--path', p]), '--stats-interval', '0', ...(opts.args ?? [])];
		const proc = spawn(loaderPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
		const l = new Loader(proc, base, dir, fence, sibling);
		const hello = l.waitFor((r) => r.type === 'hello', 30_000);
		const died = l.exited.then(([code, sig]) => {
			throw new Error(`fim-loader exited (${code ?? sig}) before hello: ${l.stderr.trim()}`);
		});
		try {
			await Promise.race([hello, died]);
		} catch (err) {
			l.cleanup();
			throw err;
		}
		died.catch(() => {});
		return l;
	}

	private onLine(line: string) {
		let r: Rec;
		try {
			r = JSON.parse(line) as Rec;
			if (typeof r !== 'object' || r === null || typeof r.type !== 'string') throw new Error('no type');
		} catch {
			this.badLines.push(line);
			return;
		}
		// 16 KiB is the line budget of DESIGN §2 (Fluent Bit reads 16,000-byte buffers).
		if (Buffer.byteLength(line) >= 16_000) this.badLines.push(`line too long: ${line.slice(0, 200)}`);
		this.records.push(r);
		this.waiters = this.waiters.filter((w) => {
			if (!w.pred(r)) return true;
			w.resolve(r);
			return false;
		});
	}

	get hello(): Rec {
		return this.records[0]!;
	}

	private isFence(r: Rec): boolean {
		return typeof r['path'] === 'string' && (r['path'] as string).startsWith(this.fenceDir + '/');
	}

	/** Every event so far, fence events left out. */
	events(): FimEvent[] {
		return this.records.filter((r) => r.type === 'event' && !this.isFence(r)) as FimEvent[];
	}

	/** A position in the record stream, for eventsSince(). */
	mark(): number {
		return this.records.length;
	}

	eventsSince(mark: number): FimEvent[] {
		return this.records.slice(mark).filter((r) => r.type === 'event' && !this.isFence(r)) as FimEvent[];
	}

	/** The first record (already read or yet to come) matching pred. */
	waitFor(pred: (r: Rec) => boolean, timeoutMs = 5000, from = 0): Promise<Rec> {
		const seen = this.records.slice(from).find(pred);
		if (seen) return Promise.resolve(seen);
		return new Promise((resolve, reject) => {
			const w = { pred, resolve: (r: Rec) => (clearTimeout(timer), resolve(r)) };
			const timer = setTimeout(() => {
				this.waiters = this.waiters.filter((x) => x !== w);
				reject(new Error(`no matching record within ${timeoutMs} ms; stderr: ${this.stderr.trim()}`));
			}, timeoutMs);
			this.waiters.push(w);
		});
	}

	waitForEvent(pred: (e: FimEvent) => boolean, timeoutMs = 5000, from = 0): Promise<FimEvent> {
		return this.waitFor((r) => r.type === 'event' && pred(r as FimEvent), timeoutMs, from) as Promise<FimEvent>;
	}

	/**
	 * Returns once every event caused before this call has been read, then the events since
	 * `from` (fence excluded).
	 */
	async settle(from = 0): Promise<FimEvent[]> {
		const p = path.join(this.fenceDir, `f${++this.fenceN}`);
		fs.mkdirSync(p);
		await this.waitFor((r) => r.type === 'event' && r['path'] === p && r['operation'] === 'add', 10_000);
		return this.eventsSince(from);
	}

	/** Sends a stdin command and waits for its ack. */
	async command(cmd: Record<string, string>): Promise<Rec> {
		const id = `t${this.nextId++}`;
		this.proc.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
		return this.waitFor((r) => r.type === 'ack' && r['id'] === id, 5000);
	}

	/** SIGTERM, then the exit code and the last record (a clean exit ends with `bye`). */
	async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; last: Rec | undefined }> {
		if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
		const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
		const [code, signal] = await this.exited;
		clearTimeout(timer);
		// let readline deliver the last lines
		if (!this.proc.stdout!.readableEnded) await once(this.proc.stdout!, 'end').catch(() => {});
		await new Promise((r) => setImmediate(r));
		return { code, signal, last: this.records.at(-1) };
	}

	cleanup() {
		if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
		fs.rmSync(this.base, { recursive: true, force: true });
	}
}

/**
 * Starts a loader on a fresh tree, runs fn, then stops the loader and checks the invariants
 * every run must keep: exit 0 on SIGTERM with a final `bye`, every stdout line valid JSON, every
 * event conforming to the protocol, no lost records.
 */
export async function withLoader(
	t: ExecutionContext,
	opts: LoaderOptions,
	fn: (l: Loader) => Promise<void>,
): Promise<void> {
	const l = await Loader.start(opts);
	try {
		await fn(l);
	} finally {
		const { code, signal, last } = await l.stop();
		try {
			t.is(code, 0, `loader exit code (signal ${signal}); stderr: ${l.stderr}`);
			t.is(last?.type, 'bye', 'the last line of a clean exit is bye');
			t.deepEqual(l.badLines, [], 'every stdout line is a JSON record');
			for (const e of l.records.filter((r) => r.type === 'event')) {
				t.deepEqual(eventProblems(e), [], `event conforms to protocol: ${JSON.stringify(e)}`);
				t.is(e['backend'], l.hello['backend'], 'every event names the backend the hello named');
			}
			const stats = l.records.filter((r) => r.type === 'stats').at(-1);
			t.is(stats?.['lost'], 0, 'no records lost');
		} finally {
			l.cleanup();
		}
	}
}

// ---------------------------------------------------------------------------------------------

type Expected = Record<string, unknown>;

/**
 * Asserts the events are exactly `expected`, in order, comparing the fields each expectation
 * names; a mismatch shows the whole observed sequence.
 */
export function assertEvents(t: ExecutionContext, actual: FimEvent[], expected: Expected[], msg = '') {
	const picked = actual.map((e, i) => {
		const keys = Object.keys(expected[i] ?? expected[0] ?? { operation: 1, path: 1 });
		return Object.fromEntries(keys.map((k) => [k, e[k]]));
	});
	t.deepEqual(picked, expected, `${msg}\nobserved:\n${actual.map(brief).join('\n')}`);
}

/** One line per event, for messages and for writing down observed sequences. */
export function brief(e: FimEvent): string {
	const p = (s: unknown) => String(s);
	return `${e.operation} ${e.old_path ? p(e.old_path) + ' -> ' : ''}${p(e.path)} [${p(e['syscall'])}, ${p(
		e['file_type'],
	)}, ${p(e['process_name'])}]`;
}

/** Whodata of a child run as root with no login uid: the fields every event must carry. */
export function whoRoot(c: ChildResult): Expected {
	return { ...c.who, uid: 0, euid: 0, gid: 0, egid: 0 };
}

export function ino(p: string): number {
	return fs.lstatSync(p).ino;
}

/** The Python helper: runs `code` with sys.argv[1:] as bytes paths (for hostile names). */
export function py(code: string, args: string[] = [], opts: { cwd?: string } = {}): Promise<ChildResult> {
	const prelude = 'import os, sys, ctypes\nA = [os.fsencode(a) for a in sys.argv[1:]]\n';
	return run(PY, ['-c', prelude + code, ...args], { ...opts, comm: PY });
}
