import {accessSync, chmodSync, constants, lstatSync, mkdirSync, readdirSync} from 'node:fs';
import {resolve} from 'node:path';
import {FimError, RuntimeError, UsageError} from './errors.js';

/**
 * The state directory holds what must outlive one run of fimctl: the baseline of the watched
 * trees, each sink's spool, and the control socket. It says what changed on this host and who
 * did it, so it is private to root (0700).
 */
export const defaultStateDirectory = '/var/lib/fim-whodata';

/** What fimctl itself keeps in a state directory (a damaged baseline moved aside included). */
const ownEntry = /^(?:baseline\.db(?:-wal|-shm|-journal|\.damaged-\d+)?|\.baseline-made|spool|control\.sock|fim-loader-.*)$/;

/**
 * Makes the directory if needed and returns its absolute path; a clear error if it cannot be
 * used. A directory given that exists already must be private, or one fimctl can make private
 * without surprising anyone: empty, or holding only fimctl's own state (made by an earlier run,
 * or by systemd's StateDirectory=, which makes it 0755). A shared one (/tmp) or one that holds
 * other files (a mistyped path, the current directory) is refused rather than taken over.
 */
export function prepareStateDirectory(path: string): string {
	if (path === '') {
		throw new UsageError('--state-dir: expected a directory path');
	}

	const absolute = resolve(path);
	try {
		mkdirSync(absolute, {recursive: true, mode: 0o700});
		const stats = lstatSync(absolute);
		if (!stats.isDirectory()) {
			throw new RuntimeError(`state directory ${absolute} is not a directory (use --state-dir)`);
		}

		if ((stats.mode & 0o077) !== 0) {
			if ((stats.mode & 0o022) !== 0) {
				throw new RuntimeError(`state directory ${absolute} is writable by other users: fimctl keeps its baseline, spools and control socket in a directory of its own (give --state-dir a new path)`);
			}

			const others = readdirSync(absolute).filter(name => !ownEntry.test(name)).sort();
			if (others.length > 0) {
				throw new RuntimeError(`state directory ${absolute} holds other files (${others.slice(0, 3).join(', ')}${others.length > 3 ? ', ...' : ''}): fimctl keeps its state in a directory of its own (give --state-dir a new path)`);
			}

			if (stats.uid === process.geteuid?.()) {
				chmodSync(absolute, 0o700);
			}
		}

		accessSync(absolute, constants.R_OK | constants.W_OK | constants.X_OK);
	} catch (error) {
		if (error instanceof FimError) {
			throw error;
		}

		const code = (error as NodeJS.ErrnoException).code;
		const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied (run as root, or use --state-dir)'
			: code === 'EROFS' ? 'read-only file system (use --state-dir)'
				: code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way of the directory (use --state-dir)'
					: `${code ?? String(error)} (use --state-dir)`;
		throw new RuntimeError(`cannot use the state directory ${absolute}: ${why}`, {cause: error});
	}

	return absolute;
}
