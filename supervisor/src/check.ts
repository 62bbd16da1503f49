import {accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs';
import {release, tmpdir} from 'node:os';
import {join} from 'node:path';
import {execa} from 'execa';
import {LoaderProcess} from './loader-process.js';
import type {LoaderBackend} from './supervise.js';
import type {HelloRecord} from './types.js';

/**
 * `fimctl check`: can the sensor run here? Each row is one prerequisite. Nothing on the host is
 * changed: securityfs, if it is not mounted, is mounted in a private mount namespace only.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail';
export type CheckRow = {check: string; status: CheckStatus; detail: string};

export type CheckOptions = {
	loaderPath: string;
	/** The backend to try (`--backend`); the loader's own choice (auto) when absent. */
	backend?: LoaderBackend;
	env?: NodeJS.ProcessEnv;
	/** How long the loader may take to load and attach. */
	loaderTimeoutMs?: number;
};

const capabilityBits = {CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39};

export async function runChecks(options: CheckOptions): Promise<CheckRow[]> {
	const rows: CheckRow[] = [];
	const privileged = checkPrivileges();
	rows.push(privileged);
	const kernel = checkKernel();
	rows.push(kernel.row, checkBtf(), checkTracefs(), await checkLockdown());
	const loader = await checkLoader(options, privileged.status === 'ok');
	rows.push(loader.row, backendRow(options.backend ?? 'auto', loader));
	rows.push(checkRingBuffer(kernel.ringbuf, loader.hello));
	return rows;
}

export function formatCheckTable(rows: readonly CheckRow[]): string {
	const header = {check: 'CHECK', status: 'STATUS', detail: 'DETAIL'};
	const width = Math.max(...[header, ...rows].map(row => row.check.length));
	return [header, ...rows].map(row => `${row.check.padEnd(width)}  ${row.status.toUpperCase().padEnd(6)}  ${row.detail}`).join('\n');
}

export function checkPrivileges(): CheckRow {
	const check = 'root/capabilities';
	if (process.geteuid?.() === 0) {
		return {check, status: 'ok', detail: 'running as root'};
	}

	try {
		const status = readFileSync('/proc/self/status', 'latin1');
		const effective = BigInt(`0x${/^CapEff:\s*([\da-f]+)/m.exec(status)?.[1] ?? '0'}`);
		const missing = Object.entries(capabilityBits).filter(([, bit]) => (effective & (1n << BigInt(bit))) === 0n).map(([name]) => name);
		if (missing.length === 0) {
			return {check, status: 'ok', detail: 'CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN held'};
		}

		return {check, status: 'fail', detail: `not root and missing ${missing.join(', ')}`};
	} catch {
		return {check, status: 'fail', detail: 'not root'};
	}
}

function checkKernel(): {row: CheckRow; ringbuf: boolean} {
	const version = release();
	const [major = 0, minor = 0] = version.split(/[.-]/).map(Number);
	// BPF ring buffers arrived in 5.8; the sensor's path walks need bpf_loop, from 5.17.
	const ringbuf = major > 5 || (major === 5 && minor >= 8);
	const loop = major > 5 || (major === 5 && minor >= 17);
	return {row: {check: 'kernel version', status: loop ? 'ok' : 'fail', detail: loop ? version : `${version}: 5.17 or newer needed (bpf_loop)`}, ringbuf};
}

function checkBtf(): CheckRow {
	const check = 'BTF';
	try {
		const {size} = statSync('/sys/kernel/btf/vmlinux');
		accessSync('/sys/kernel/btf/vmlinux', constants.R_OK);
		return {check, status: 'ok', detail: `/sys/kernel/btf/vmlinux (${Math.round(size / 1024)} KiB)`};
	} catch {
		return {check, status: 'fail', detail: '/sys/kernel/btf/vmlinux missing: kernel built without CONFIG_DEBUG_INFO_BTF'};
	}
}

function checkTracefs(): CheckRow {
	const check = 'tracefs';
	for (const root of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) {
		if (existsSync(join(root, 'events/syscalls'))) {
			return {check, status: 'ok', detail: `${root} (syscall tracepoints present)`};
		}
	}

	let mounts = '';
	try {
		mounts = readFileSync('/proc/mounts', 'latin1');
	} catch {}

	const mountedAt = / (\S+) tracefs /.exec(mounts)?.[1];
	if (mountedAt !== undefined && process.geteuid?.() !== 0) {
		return {check, status: 'fail', detail: `mounted at ${mountedAt} but not readable without root`};
	}

	if (existsSync('/sys/kernel/tracing/events')) {
		return {check, status: 'fail', detail: 'tracefs mounted but no syscall tracepoints (CONFIG_FTRACE_SYSCALLS off)'};
	}

	// Not mounted is not a failure: fim-loader mounts it when it starts (the loader row below
	// proves that), as long as this kernel has the filesystem at all.
	let filesystems = '';
	try {
		filesystems = readFileSync('/proc/filesystems', 'latin1');
	} catch {}
	if (/\stracefs$/m.test(filesystems)) {
		return {check, status: 'ok', detail: 'not mounted yet: fim-loader mounts it at /sys/kernel/tracing when it starts'};
	}

	return {check, status: 'fail', detail: 'this kernel has no tracefs (CONFIG_TRACING off)'};
}

export function parseLockdown(text: string): string | undefined {
	return /\[(\w+)]/.exec(text)?.[1];
}

function lockdownRow(mode: string, how: string): CheckRow {
	const check = 'lockdown';
	if (mode === 'confidentiality') {
		return {check, status: 'fail', detail: `${mode}${how}: BPF may not read kernel memory`};
	}

	return {check, status: 'ok', detail: `${mode}${how}`};
}

async function checkLockdown(): Promise<CheckRow> {
	const file = '/sys/kernel/security/lockdown';
	try {
		const mode = parseLockdown(readFileSync(file, 'latin1'));
		if (mode) {
			return lockdownRow(mode, '');
		}
	} catch {}

	if (existsSync('/sys/kernel/security/lsm')) {
		const lsms = readFileSync('/sys/kernel/security/lsm', 'latin1');
		if (!lsms.includes('lockdown')) {
			return {check: 'lockdown', status: 'ok', detail: `none (lockdown LSM not active; LSMs: ${lsms.trim()})`};
		}
	}

	// securityfs is not mounted here: look in a private mount namespace, leaving the host as it is.
	const result = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t securityfs securityfs /sys/kernel/security && cat ${file}`], {reject: false, timeout: 5000});
	const mode = result.exitCode === 0 ? parseLockdown(String(result.stdout)) : undefined;
	if (mode) {
		return lockdownRow(mode, ' (securityfs read in a private mount namespace)');
	}

	return {check: 'lockdown', status: 'warn', detail: 'unknown (securityfs not mounted and could not be read)'};
}

type LoaderOutcome = {row: CheckRow; hello?: HelloRecord; exitCode?: number | null; said?: string};

async function checkLoader(options: CheckOptions, privileged: boolean): Promise<LoaderOutcome> {
	const check = 'loader';
	try {
		accessSync(options.loaderPath, constants.X_OK);
	} catch {
		return {row: {check, status: 'fail', detail: `${options.loaderPath} missing or not executable (run 'make', or set FIM_LOADER)`}};
	}

	if (!privileged) {
		return {row: {check, status: 'warn', detail: `${options.loaderPath} present; loading not tried without privileges`}};
	}

	const directory = mkdtempSync(join(tmpdir(), 'fimctl-check-'));
	try {
		let hello: HelloRecord | undefined;
		let loader!: LoaderProcess;
		const gotHello = new Promise<void>(resolve => {
			loader = new LoaderProcess({
				loaderPath: options.loaderPath,
				args: ['--path', directory, '--stats-interval', '0', ...(options.backend ? ['--backend', options.backend] : [])],
				env: options.env,
				onBatch(lines) {
					const first = lines.find(line => line.value['type'] === 'hello');
					if (first && !hello) {
						hello = first.value as HelloRecord;
						resolve();
					}
				},
				onMalformed() {},
				onStderrLine() {},
			});
		});
		const timeoutMs = options.loaderTimeoutMs ?? 30_000;
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([gotHello, loader.exited, new Promise(resolve => {
			timer = setTimeout(resolve, timeoutMs);
		})]);
		clearTimeout(timer);
		const exit = await loader.stop(3000, (callback, ms) => {
			const handle = setTimeout(callback, ms);
			return () => {
				clearTimeout(handle);
			};
		});
		if (hello) {
			return {row: {check, status: 'ok', detail: `${options.loaderPath} loaded: ${hello.hooks?.length ?? 0} hooks attached`}, hello};
		}

		const said = loader.stderrTail.at(-1)?.replace(/^fim-loader: (error: )?/, '');
		const why = said ?? (exit.spawnError ? `could not start: ${exit.spawnError}` : `exit code ${exit.code ?? exit.signal ?? '?'}`);
		return {row: {check, status: 'fail', detail: `${options.loaderPath} did not load: ${why}`}, exitCode: exit.code, said};
	} finally {
		rmSync(directory, {recursive: true, force: true});
	}
}

/** The backend the loader chose, and why; a forced one the kernel refuses (loader exit 3) fails. */
function backendRow(asked: LoaderBackend, loader: LoaderOutcome): CheckRow {
	const check = 'backend';
	const {hello} = loader;
	if (hello) {
		return {check, status: 'ok', detail: `${hello.backend ?? '?'}${hello.backend_reason ? ` (${hello.backend_reason})` : ''}`};
	}

	if (asked !== 'auto' && loader.exitCode === 3 && loader.said?.startsWith('--backend')) {
		return {check, status: 'fail', detail: `${asked} refused by this kernel: ${loader.said.replace(/^--backend \w+: /, '')}`};
	}

	return {check, status: 'warn', detail: `${asked}: not confirmed (the loader did not load)`};
}

function checkRingBuffer(kernelHasIt: boolean, hello: HelloRecord | undefined): CheckRow {
	const check = 'ring buffer';
	if (hello && typeof hello.ringbuf_bytes === 'number' && hello.ringbuf_bytes > 0) {
		return {check, status: 'ok', detail: `${hello.ringbuf_bytes / 1024 / 1024} MiB ring buffer created by the loader`};
	}

	if (!kernelHasIt) {
		return {check, status: 'fail', detail: 'BPF_MAP_TYPE_RINGBUF needs kernel 5.8+'};
	}

	return {check, status: hello ? 'ok' : 'warn', detail: 'kernel 5.8+ has BPF ring buffers (not confirmed by loading)'};
}
