import {accessSync, chmodSync, constants, lstatSync, mkdirSync} from 'node:fs';
import {resolve} from 'node:path';
import {RuntimeError} from './errors.js';

/**
 * The state directory holds what must outlive one run of fimctl: the baseline of the watched
 * trees, each sink's spool, and the control socket. It says what changed on this host and who
 * did it, so it is private to root (0700).
 */
export const defaultStateDirectory = '/var/lib/fim-whodata';

/** Makes the directory if needed and returns its absolute path; a clear error if it cannot be used. */
export function prepareStateDirectory(path: string): string {
	const absolute = resolve(path);
	try {
		mkdirSync(absolute, {recursive: true, mode: 0o700});
		const stats = lstatSync(absolute);
		if (!stats.isDirectory()) {
			throw new RuntimeError(`state directory ${absolute} is not a directory (use --state-dir)`);
		}

		if ((stats.mode & 0o077) !== 0 && stats.uid === process.geteuid?.()) {
			chmodSync(absolute, 0o700);
		}

		accessSync(absolute, constants.R_OK | constants.W_OK | constants.X_OK);
	} catch (error) {
		if (error instanceof RuntimeError) {
			throw error;
		}

		const code = (error as NodeJS.ErrnoException).code;
		const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code ?? String(error);
		throw new RuntimeError(`cannot use the state directory ${absolute}: ${why} (run as root, or use --state-dir)`, {cause: error});
	}

	return absolute;
}
