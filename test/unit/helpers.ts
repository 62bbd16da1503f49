import {createSocket} from 'node:dgram';
import {once, type EventEmitter} from 'node:events';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {createServer} from 'node:net';
import {join, resolve} from 'node:path';

/** ava runs with the repository root as the working directory. */
export const repoRoot = resolve('.');

export function fixture(name: string): string {
	return join(repoRoot, 'test/fixtures', name);
}

export function temporaryDirectory(prefix = 'fim-test-'): string {
	return mkdtempSync(join(tmpdir(), prefix));
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
