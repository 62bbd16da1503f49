import {once, type EventEmitter} from 'node:events';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
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
