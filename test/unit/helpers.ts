import {createSocket} from 'node:dgram';
import {once, type EventEmitter} from 'node:events';
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {createServer} from 'node:net';
import {execa, type Options, type Result} from 'execa';
import {SpoolQueue, type WhenFull} from '../../supervisor/src/buffer.js';
import type {Clock} from '../../supervisor/src/clock.js';
import {DeliveryQueue, type DeliveryQueueOptions} from '../../supervisor/src/delivery-queue.js';
import type {Sink} from '../../supervisor/src/sinks.js';
import {join, resolve} from 'node:path';

/** ava runs with the repository root as the working directory. */
export const repoRoot = resolve('.');

export function fixture(name: string): string {
	return join(repoRoot, 'test/fixtures', name);
}

export function temporaryDirectory(prefix = 'fim-test-'): string {
	return mkdtempSync(join(tmpdir(), prefix));
}

export type FakeProcess = {comm?: string; exe?: string; cmdline?: string[]; cwd?: string; ppid?: number; cgroup?: string};

/** Writes process `pid`, started `startTicks` after boot (100 a second), into a fake /proc at `root`. */
export function fakeProcess(root: string, pid: number, startTicks: number, options: FakeProcess = {}): void {
	const directory = join(root, String(pid));
	rmSync(directory, {recursive: true, force: true});
	mkdirSync(directory);
	const rest = Array.from({length: 50}, () => '0');
	rest[0] = 'S';
	rest[1] = String(options.ppid ?? 1);
	rest[19] = String(startTicks);
	writeFileSync(join(directory, 'stat'), `${pid} (${options.comm ?? 'proc'}) ${rest.join(' ')}\n`);
	writeFileSync(join(directory, 'cmdline'), `${(options.cmdline ?? ['prog', '--flag']).join('\0')}\0`);
	writeFileSync(join(directory, 'cgroup'), options.cgroup ?? '0::/user.slice/session-1.scope\n');
	symlinkSync(options.exe ?? '/usr/bin/prog', join(directory, 'exe'));
	symlinkSync(options.cwd ?? '/home/alice', join(directory, 'cwd'));
}

/** Resolves with the first arguments of `event`, or rejects after `ms`. */
export async function nextEvent<T = unknown>(emitter: EventEmitter, event: string, ms = 10_000): Promise<T> {
	const [value] = await once(emitter, event, {signal: AbortSignal.timeout(ms)}) as [T];
	return value;
}

export async function waitUntil(condition: () => boolean, ms = 10_000): Promise<void> {
	const deadline = Date.now() + ms;
	while (!condition()) {
		if (Date.now() > deadline) {
			throw new Error('timed out waiting for a condition');
		}

		// eslint-disable-next-line no-await-in-loop
		await new Promise(resolve => {
			setTimeout(resolve, 10);
		});
	}
}

/** Runs `fimctl ARGS` until it prints its first stdout line, then stops it with SIGTERM. */
export async function fimctlUntilFirstLine(args: readonly string[], options: Options = {}): Promise<Result> {
	const child = execa(join(repoRoot, 'bin/fimctl'), args, {...options, reject: false});
	let stdout = '';
	child.stdout!.on('data', (chunk: Buffer) => {
		stdout += chunk.toString();
	});
	await waitUntil(() => stdout.includes('\n'));
	child.kill('SIGTERM');
	return child;
}

/** A loopback port nothing listens on (just now): for receivers started later, or never. */
export async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
	if (kind === 'udp') {
		const socket = createSocket('udp4');
		await new Promise<void>(done => {
			socket.bind(0, '127.0.0.1', done);
		});
		const {port} = socket.address();
		socket.close();
		return port;
	}

	const server = createServer();
	await new Promise<void>(done => {
		server.listen(0, '127.0.0.1', done);
	});
	const {port} = server.address() as {port: number};
	await new Promise(done => {
		server.close(done);
	});
	return port;
}

/**
 * A DeliveryQueue over a memory-only buffer, for sink tests: `maxEvents` and `whenFull` are the
 * buffer's; gap records come out as their JSON.
 */
export function memoryDeliveryQueue(sink: Sink, options: Partial<DeliveryQueueOptions> & {maxEvents?: number; whenFull?: WhenFull; clock?: Clock} = {}): DeliveryQueue {
	const {maxEvents = 10_000, whenFull = 'drop_newest', ...rest} = options;
	const storage = SpoolQueue.open({id: sink.id, type: 'memory', max_events: maxEvents, max_size: 1 << 20, when_full: whenFull, renderGap: record => JSON.stringify(record), ...(rest.clock ? {clock: rest.clock} : {})});
	return new DeliveryQueue(sink, storage, {batchMaxEvents: 100, batchMaxBytes: 1 << 20, batchTimeoutMs: 0, retryInitialMs: 10, retryMaxMs: 100, ...rest});
}
