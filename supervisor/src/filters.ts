import picomatch from 'picomatch';
import {UsageError} from './errors.js';
import {operations, type KernelEventFields, type Operation} from './types.js';

/**
 * The finer filters that run in the supervisor (path prefixes are filtered in the kernel).
 * Every list is optional; an empty include list means "no restriction".
 */
export type FilterSpec = {
	/** Globs over the absolute path (picomatch, dotfiles included): `**\/*.swp`. */
	include_paths?: string[];
	exclude_paths?: string[];
	operations?: Operation[];
	/** Exact process names (the task's comm, 15 bytes at most). */
	include_process_names?: string[];
	exclude_process_names?: string[];
	/** Globs over the executable path. */
	include_exes?: string[];
	exclude_exes?: string[];
	/** Real uids. */
	include_uids?: number[];
	exclude_uids?: number[];
	/** Login uids; an unset auid (null) matches no list. */
	include_auids?: number[];
	exclude_auids?: number[];
};

export const filterKeys: ReadonlyArray<keyof FilterSpec> = [
	'include_paths', 'exclude_paths', 'operations',
	'include_process_names', 'exclude_process_names',
	'include_exes', 'exclude_exes',
	'include_uids', 'exclude_uids',
	'include_auids', 'exclude_auids',
];

export type EventPredicate = (event: KernelEventFields) => boolean;

type Matcher = (value: string) => boolean;

/** Validates a spec and turns it into one predicate; bad globs and values are UsageErrors. */
export function compileFilter(spec: FilterSpec, where = 'filter'): EventPredicate {
	const checks: EventPredicate[] = [];

	const includePaths = globs(spec.include_paths, `${where}.include_paths`);
	if (includePaths) {
		// A rename is kept if either of its paths is of interest.
		checks.push(event => includePaths(event.path) || (typeof event.old_path === 'string' && includePaths(event.old_path)));
	}

	const excludePaths = globs(spec.exclude_paths, `${where}.exclude_paths`);
	if (excludePaths) {
		// …and dropped only if both are excluded: `a.swp` renamed to `a.txt` still matters.
		checks.push(event => !excludePaths(event.path) || (typeof event.old_path === 'string' && !excludePaths(event.old_path)));
	}

	if (spec.operations !== undefined) {
		if (!Array.isArray(spec.operations) || spec.operations.length === 0) {
			// an empty list would keep nothing at all: surely not what was meant
			throw new UsageError(`${where}.operations: expected at least one of ${operations.join(', ')}`);
		}

		const wanted = new Set(spec.operations.map(op => validOperation(op, `${where}.operations`)));
		checks.push(event => wanted.has(event.operation));
	}

	const includeNames = stringSet(spec.include_process_names, `${where}.include_process_names`);
	if (includeNames) {
		checks.push(event => includeNames.has(event.process_name));
	}

	const excludeNames = stringSet(spec.exclude_process_names, `${where}.exclude_process_names`);
	if (excludeNames) {
		checks.push(event => !excludeNames.has(event.process_name));
	}

	const includeExes = globs(spec.include_exes, `${where}.include_exes`);
	if (includeExes) {
		checks.push(event => typeof event.exe === 'string' && includeExes(event.exe));
	}

	const excludeExes = globs(spec.exclude_exes, `${where}.exclude_exes`);
	if (excludeExes) {
		checks.push(event => typeof event.exe !== 'string' || !excludeExes(event.exe));
	}

	const idChecks: Array<[keyof FilterSpec, 'uid' | 'auid', boolean]> = [
		['include_uids', 'uid', true], ['exclude_uids', 'uid', false],
		['include_auids', 'auid', true], ['exclude_auids', 'auid', false],
	];
	for (const [key, field, include] of idChecks) {
		const ids = idSet(spec[key] as unknown, `${where}.${key}`);
		if (ids) {
			checks.push(include
				? event => typeof event[field] === 'number' && ids.has(event[field])
				: event => typeof event[field] !== 'number' || !ids.has(event[field]));
		}
	}

	if (checks.length === 0) {
		return () => true;
	}

	return event => {
		for (const check of checks) {
			if (!check(event)) {
				return false;
			}
		}

		return true;
	};
}

/** The items of `a,b` (the CLI form of a list): at least one, none empty. */
function commaList(list: string, where: string, what: string): string[] {
	const items = list.split(',').map(item => item.trim());
	if (items.some(item => item.length === 0)) {
		throw new UsageError(list.trim() === '' ? `${where}: expected at least one ${what}` : `${where}: an empty item in ${JSON.stringify(list)}`);
	}

	return items;
}

/** Parses `add,delete` (the CLI form) into operations. */
export function parseOperations(list: string, where = '--ops'): Operation[] {
	return commaList(list, where, 'operation').map(item => validOperation(item, where));
}

function validOperation(value: unknown, where: string): Operation {
	if (typeof value !== 'string' || !(operations as readonly string[]).includes(value)) {
		throw new UsageError(`${where}: unknown operation ${JSON.stringify(value)} (expected one of ${operations.join(', ')})`);
	}

	return value as Operation;
}

function globs(patterns: unknown, where: string): Matcher | undefined {
	if (patterns === undefined) {
		return undefined;
	}

	const list = stringList(patterns, where);
	const matchers = list.map(pattern => compileGlob(pattern, where));
	if (matchers.length === 0) {
		return undefined;
	}

	return matchers.length === 1 ? matchers[0] : value => matchers.some(matcher => matcher(value));
}

export function compileGlob(pattern: string, where = 'glob'): Matcher {
	if (pattern.length === 0) {
		throw new UsageError(`${where}: empty glob`);
	}

	let matcher: Matcher;
	try {
		matcher = picomatch(pattern, {dot: true, strictBrackets: true});
	} catch (error) {
		const reason = error instanceof Error ? error.message : String(error);
		throw new UsageError(`${where}: bad glob ${JSON.stringify(pattern)}: ${reason}`, {cause: error});
	}

	// Paths and executables are absolute: "*.log" or "log/*" could never match one.
	if (!/^(?:\/|\*\*|\{|[!?+*@]\()/.test(pattern)) {
		throw new UsageError(`${where}: glob ${JSON.stringify(pattern)} can never match: paths are absolute (at any depth: ${JSON.stringify(`**/${pattern}`)})`);
	}

	return matcher;
}

function stringList(value: unknown, where: string): string[] {
	if (!Array.isArray(value) || !value.every(item => typeof item === 'string')) {
		throw new UsageError(`${where}: expected a list of strings`);
	}

	return value as string[];
}

function stringSet(value: unknown, where: string): Set<string> | undefined {
	if (value === undefined) {
		return undefined;
	}

	const list = stringList(value, where);
	return list.length > 0 ? new Set(list) : undefined;
}

function idSet(value: unknown, where: string): Set<number> | undefined {
	if (value === undefined) {
		return undefined;
	}

	if (!Array.isArray(value) || !value.every(item => Number.isInteger(item) && item >= 0 && item <= 0xFF_FF_FF_FF)) {
		throw new UsageError(`${where}: expected a list of numeric ids`);
	}

	return value.length > 0 ? new Set(value as number[]) : undefined;
}

/** Parses `0,1000` (the CLI form) into ids. */
export function parseIds(list: string, where: string): number[] {
	return commaList(list, where, 'id').map(item => {
		if (!/^\d+$/.test(item) || Number(item) > 0xFF_FF_FF_FF) {
			throw new UsageError(`${where}: ${JSON.stringify(item)} is not a numeric id`);
		}

		return Number(item);
	});
}
