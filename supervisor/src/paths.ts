import {realpathSync, statSync} from 'node:fs';
import {isAbsolute, resolve, sep} from 'node:path';
import {UsageError} from './errors.js';

/**
 * Turns what a user typed into the canonical paths the loader watches: absolute, symlinks
 * resolved, existing (or, with `allowAbsent`, made absolute below the nearest directory that
 * exists: watched from when they are made), each subtree once. Every adjustment is reported
 * through `note`.
 */
export function normalizeWatchPaths(inputs: readonly string[], note: (message: string) => void, cwd = process.cwd(), allowAbsent = false): string[] {
	if (inputs.length === 0) {
		throw new UsageError('no path to watch: give at least one directory or file');
	}

	const canonical: string[] = [];
	for (const input of inputs) {
		canonical.push(canonicalPath(input, note, cwd, allowAbsent));
	}

	// Shortest first, so that a parent is kept before anything under it is looked at.
	const unique = [...new Set(canonical)].sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
	const kept: string[] = [];
	for (const path of unique) {
		const parent = kept.find(outer => isInside(path, outer));
		if (parent === undefined) {
			kept.push(path);
		} else {
			note(`${path} is inside ${parent}, which is already watched`);
		}
	}

	if (unique.length < canonical.length) {
		note('duplicate paths are watched once');
	}

	return kept;
}

export function canonicalPath(input: string, note: (message: string) => void, cwd = process.cwd(), allowAbsent = false): string {
	if (input.length === 0) {
		throw new UsageError('empty path');
	}

	if (input.includes('\0')) {
		throw new UsageError(`path contains a NUL byte: ${JSON.stringify(input)}`);
	}

	let absolute = input;
	if (!isAbsolute(input)) {
		absolute = resolve(cwd, input);
		note(`relative path ${JSON.stringify(input)} resolved to ${absolute}`);
	}

	let real: string;
	try {
		real = realpathSync(absolute);
		statSync(real);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === 'ENOENT' && allowAbsent) {
			const absent = canonicalAbsentPath(input, absolute);
			note(`${absent} does not exist; it is watched from when it is made`);
			return absent;
		}

		const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code === 'ENOTDIR' ? 'a parent is not a directory' : String(code ?? error);
		throw new UsageError(`cannot watch ${input}: ${why}`, {cause: error});
	}

	if (real !== resolve(absolute)) {
		note(`${absolute} resolves to ${real} (symlink); watching ${real}`);
	}

	return real;
}

/**
 * A path that does not exist, made canonical as the loader makes it (--absent-path): the real
 * path of the nearest directory above it that exists, and the names below, which may not be
 * `.` or `..` (what they would name is not known until it exists).
 */
function canonicalAbsentPath(input: string, absolute: string): string {
	const names = absolute.split(sep).filter(name => name.length > 0);
	if (names.some(name => name === '.' || name === '..')) {
		throw new UsageError(`cannot watch ${input}: it does not exist, and '.' or '..' in it name nothing yet`);
	}

	for (let kept = names.length - 1; kept >= 0; kept--) {
		let real: string;
		try {
			real = realpathSync(sep + names.slice(0, kept).join(sep));
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
				continue;
			}

			throw new UsageError(`cannot watch ${input}: ${String((error as NodeJS.ErrnoException).code ?? error)}`, {cause: error});
		}

		if (!statSync(real).isDirectory()) {
			throw new UsageError(`cannot watch ${input}: a parent is not a directory`);
		}

		return resolve(real, ...names.slice(kept));
	}

	throw new UsageError(`cannot watch ${input}: no such file or directory`);
}

/** Whether `path` is `outer` or lies under it. */
export function isInside(path: string, outer: string): boolean {
	return path === outer || outer === sep || path.startsWith(outer + sep);
}
