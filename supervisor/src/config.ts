import {readFileSync} from 'node:fs';
import {extname} from 'node:path';
import YAML from 'yaml';
import {ConfigError} from './errors.js';
import {compileFilter, filterKeys, type EventPredicate, type FilterSpec} from './filters.js';
import {checkOneStdoutSink, checkType, parseSinkConfig, suggest, type SinkConfig} from './sink-config.js';
import type {RestartPolicyOptions} from './restart-policy.js';
import {loaderBackends, schedPolicies, type LoaderBackend, type SchedPolicy} from './supervise.js';
import type {KernelEventFields} from './types.js';

/**
 * The config file, in Vector's words: `sources`, `transforms`, `sinks`, each a map from an id
 * to a component with a `type` (and `inputs` naming upstream ids). Fluent Bit's `inputs`,
 * `filters` and `outputs` are accepted as the top-level names too. YAML or JSON; any key not
 * listed here is rejected with its full name, so a typo never silently disables a filter.
 *
 *   sources:    {files: {type: whodata, paths: [/etc]}}
 *   transforms: {quiet: {type: filter, inputs: [files], exclude_paths: ['**\/*.swp']}}
 *   sinks:      {out: {type: stdout, inputs: [quiet], format: json, buffer: {max_events: 10000}}}
 *   data_dir:   /var/lib/fim-whodata      (Vector's global option: baseline state, spool, socket)
 */

export type SourceConfig = {
	id: string;
	type: 'whodata';
	paths: string[];
	loader?: string;
	/** The loader's `--backend`: auto, tracepoint or fentry. */
	backend?: LoaderBackend;
	coalesce_ms?: number;
	/** The loader's `--max-delay-us`: latency traded for fewer wake-ups. */
	max_delay_us?: number;
	/** The loader's `--busy-delay-us`: the same under a heavy stream. */
	busy_delay_us?: number;
	ringbuf_mb?: number;
	stats_interval?: number;
	/** The loader's and fimctl's `--sched-policy`: batch or keep. */
	sched_policy?: SchedPolicy;
	scan_rate?: number;
	/** The loader's restart policy (restart-policy.ts), in ms: initial_ms, max_ms, stable_ms, max_crashes, window_ms. */
	restart?: Partial<RestartPolicyOptions>;
	enrich: boolean;
	/** Watch paths that do not exist yet, from when they are made, instead of refusing them. */
	allow_absent?: boolean;
};

export type TransformConfig = {id: string; type: 'filter'; inputs: string[]; filter: FilterSpec};

export type PipelineConfig = {
	source: SourceConfig;
	transforms: TransformConfig[];
	/** Every sink, in the order given; stdout alone when none is. */
	sinks: SinkConfig[];
	/** The first sink (kept for code written when there was only one). */
	sink: SinkConfig;
	data_dir?: string;
};

const topLevel: Record<string, string> = {sources: 'sources', inputs: 'sources', transforms: 'transforms', filters: 'transforms', sinks: 'sinks', outputs: 'sinks'};
/**
 * The ranges the loader takes its tunables in (loader-c/cli.c, which stays the judge): checked
 * here too, so that `validate` and the config's own key name a value `start` would be refused.
 */
const loaderTunableRanges: Record<string, {min: number; max: number; powerOfTwo?: boolean}> = {
	coalesce_ms: {min: 10, max: 60_000},
	max_delay_us: {min: 10, max: 1_000_000},
	busy_delay_us: {min: 10, max: 1_000_000},
	ringbuf_mb: {min: 1, max: 1024, powerOfTwo: true},
	stats_interval: {min: 0, max: 3600},
};

/** Fails, naming `name` (a config key or a flag), when the loader would refuse `value` for `key`. */
export function checkLoaderTunable(key: string, value: number, name: string, fail: (message: string, key?: string) => never): void {
	const range = loaderTunableRanges[key];
	if (range && (value < range.min || value > range.max || (range.powerOfTwo && (value & (value - 1)) !== 0))) {
		fail(`${name}: expected ${range.powerOfTwo ? 'a power of two' : 'an integer'} from ${range.min} to ${range.max}, got ${value}`, name);
	}
}

const sourceKeys = ['type', 'paths', 'loader', 'backend', 'coalesce_ms', 'max_delay_us', 'busy_delay_us', 'ringbuf_mb', 'stats_interval', 'sched_policy', 'scan_rate', 'restart', 'enrich', 'allow_absent'];
const restartKeys = ['initial_ms', 'max_ms', 'stable_ms', 'max_crashes', 'window_ms'] as const;
const restartOption = {initial_ms: 'initialMs', max_ms: 'maxMs', stable_ms: 'stableMs', max_crashes: 'maxCrashes', window_ms: 'windowMs'} as const;
const transformKeys = ['type', 'inputs', ...filterKeys];

export function loadConfigFile(file: string): PipelineConfig {
	let text: string;
	try {
		text = readFileSync(file, 'utf8');
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		throw new ConfigError(`config ${file}: cannot read: ${code === 'ENOENT' ? 'no such file' : String(code ?? error)}`, {file, cause: error});
	}

	let data: unknown;
	try {
		data = extname(file) === '.json' ? JSON.parse(text) : YAML.parse(text, {uniqueKeys: true});
	} catch (error) {
		// the first line, without the colon that introduced the excerpt of the file below it
		const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.replace(/:\s*$/, '');
		throw new ConfigError(`config ${file}: not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${reason}`, {file, cause: error});
	}

	return parseConfig(data, file);
}

export function parseConfig(data: unknown, file = 'config'): PipelineConfig {
	const fail = (message: string, key?: string): never => {
		throw new ConfigError(`config ${file}: ${message}`, {file, key});
	};

	const root = asObject(data, 'the top level', fail);
	const sections: Record<string, Record<string, unknown>> = {};
	const sectionKeys: Record<string, string> = {}; // the key each section was given under
	let dataDirectory: string | undefined;
	for (const [key, value] of Object.entries(root)) {
		const section = topLevel[key];
		if (key === 'data_dir') {
			if (typeof value !== 'string' || value.length === 0) {
				fail('data_dir: expected a directory path', key);
			}

			dataDirectory = value as string;
		} else if (section === undefined) {
			fail(`unknown key '${key}' (expected sources, transforms, sinks, data_dir)`, key);
		} else if (sections[section]) {
			fail(`'${key}' repeats '${sectionKeys[section]!}': both are the ${section} section`, key);
		} else {
			sections[section] = asObject(value, key, fail);
			sectionKeys[section] = key;
		}
	}

	const sourceEntries = Object.entries(sections['sources'] ?? {});
	if (sourceEntries.length !== 1) {
		fail(`expected exactly one source, found ${sourceEntries.length}`, 'sources');
	}

	const [sourceId, rawSource] = sourceEntries[0]!;
	const source = parseSource(sourceId, asObject(rawSource, `sources.${sourceId}`, fail), fail);

	const transforms = Object.entries(sections['transforms'] ?? {}).map(([id, raw]) => {
		const where = `transforms.${id}`;
		const fields = checkKeys(asObject(raw, where, fail), transformKeys, where, fail);
		checkType(fields['type'], where, 'transform', ['filter'], fail);

		const filter: FilterSpec = {};
		for (const key of filterKeys) {
			if (fields[key] !== undefined) {
				(filter as Record<string, unknown>)[key] = fields[key];
			}
		}

		try {
			compileFilter(filter, where);
		} catch (error) {
			fail((error as Error).message);
		}

		return {id, type: 'filter' as const, inputs: parseInputs(fields['inputs'], where, fail), filter};
	});

	const sinks = Object.entries(sections['sinks'] ?? {}).map(([id, raw]) => {
		const where = `sinks.${id}`;
		const sink = parseSinkConfig(id, asObject(raw, where, fail), where, fail);
		parseInputs(sink.inputs.length > 0 ? sink.inputs : undefined, where, fail);
		return sink;
	});
	if (sinks.length === 0) {
		sinks.push(defaultSink([transforms.at(-1)?.id ?? sourceId]));
	}

	checkOneStdoutSink(sinks, id => `sinks.${id}`, fail);

	const config: PipelineConfig = {source, transforms, sinks, sink: sinks[0]!};
	if (dataDirectory !== undefined) {
		config.data_dir = dataDirectory;
	}

	compileRoutes(config, fail);
	return config;
}

/** What runs when no sink is named: JSON lines on stdout. */
export function defaultSink(inputs: string[]): SinkConfig {
	const sink = parseSinkConfig('stdout', {type: 'stdout', inputs}, 'sinks.stdout', message => {
		throw new ConfigError(message);
	});
	sink.implicit = true;
	return sink;
}

/** The pipeline of `fimctl start PATH…` without a config file. */
export function flagsOnlyConfig(): PipelineConfig {
	const sink = defaultSink(['whodata']);
	return {source: {id: 'whodata', type: 'whodata', paths: [], enrich: true}, transforms: [], sinks: [sink], sink};
}

/** A key whose value, when given, is one of a few names. */
function oneOf<T extends string>(fields: Record<string, unknown>, key: string, choices: readonly T[], where: string, fail: (message: string, key?: string) => never): T | undefined {
	const value = fields[key];
	if (value !== undefined && !(choices as readonly unknown[]).includes(value)) {
		fail(`${where}.${key}: expected one of ${choices.join(', ')}`, `${where}.${key}`);
	}

	return value as T | undefined;
}

function parseSource(id: string, raw: Record<string, unknown>, fail: (message: string, key?: string) => never): SourceConfig {
	const where = `sources.${id}`;
	const fields = checkKeys(raw, sourceKeys, where, fail);
	checkType(fields['type'], where, 'source', ['whodata'], fail);

	const paths = fields['paths'] ?? [];
	if (!Array.isArray(paths) || !paths.every(path => typeof path === 'string')) {
		fail(`${where}.paths: expected a list of paths`, `${where}.paths`);
	}

	const source: SourceConfig = {id, type: 'whodata', paths: paths as string[], enrich: true};
	if (fields['loader'] !== undefined) {
		if (typeof fields['loader'] !== 'string') {
			fail(`${where}.loader: expected a path`, `${where}.loader`);
		}

		source.loader = fields['loader'] as string;
	}

	source.backend = oneOf(fields, 'backend', loaderBackends, where, fail);
	source.sched_policy = oneOf(fields, 'sched_policy', schedPolicies, where, fail);

	for (const key of ['coalesce_ms', 'max_delay_us', 'busy_delay_us', 'ringbuf_mb', 'stats_interval', 'scan_rate'] as const) {
		const value = fields[key];
		if (value !== undefined) {
			if (!Number.isInteger(value) || (value as number) < 0) {
				fail(`${where}.${key}: expected a non-negative integer`, `${where}.${key}`);
			}

			checkLoaderTunable(key, value as number, `${where}.${key}`, fail);
			source[key] = value as number;
		}
	}

	if (fields['restart'] !== undefined) {
		const restart = checkKeys(asObject(fields['restart'], `${where}.restart`, fail), restartKeys, `${where}.restart`, fail);
		source.restart = {};
		for (const key of restartKeys) {
			const value = restart[key];
			if (value !== undefined) {
				if (!Number.isInteger(value) || (value as number) < 1) {
					fail(`${where}.restart.${key}: expected a positive integer`, `${where}.restart.${key}`);
				}

				source.restart[restartOption[key]] = value as number;
			}
		}
	}

	if (fields['enrich'] !== undefined) {
		if (typeof fields['enrich'] !== 'boolean') {
			fail(`${where}.enrich: expected true or false`, `${where}.enrich`);
		}

		source.enrich = fields['enrich'] as boolean;
	}

	if (fields['allow_absent'] !== undefined) {
		if (typeof fields['allow_absent'] !== 'boolean') {
			fail(`${where}.allow_absent: expected true or false`, `${where}.allow_absent`);
		}

		source.allow_absent = fields['allow_absent'] as boolean;
	}

	return source;
}

/**
 * For each sink, the predicate deciding whether an event reaches it: the event must pass every
 * filter on at least one path of its `inputs` back to the source (and a `--sink` URL's own
 * filters).
 */
export function compileRoutes(config: PipelineConfig, fail: (message: string, key?: string) => never = message => {
	throw new ConfigError(message);
}): Map<string, EventPredicate> {
	const transforms = new Map(config.transforms.map(transform => [transform.id, transform]));
	const compiled = new Map<string, EventPredicate>();
	const visiting = new Set<string>();

	const build = (id: string, from: string): EventPredicate => {
		if (id === config.source.id) {
			return () => true;
		}

		const known = compiled.get(id);
		if (known) {
			return known;
		}

		const transform = transforms.get(id);
		if (!transform) {
			return fail(`${from}.inputs: unknown component '${id}'`, `${from}.inputs`);
		}

		if (visiting.has(id)) {
			return fail(`transforms.${id}: inputs form a cycle`, `transforms.${id}.inputs`);
		}

		visiting.add(id);
		const own = compileFilter(transform.filter, `transforms.${id}`);
		const upstream = transform.inputs.map(input => build(input, `transforms.${id}`));
		visiting.delete(id);
		const predicate: EventPredicate = upstream.length === 1
			? event => own(event) && upstream[0]!(event)
			: event => own(event) && upstream.some(accept => accept(event));
		compiled.set(id, predicate);
		return predicate;
	};

	const routes = new Map<string, EventPredicate>();
	for (const sink of config.sinks) {
		const inputs = sink.inputs.map(input => build(input, `sinks.${sink.id}`));
		const fromInputs = inputs.length === 1 ? inputs[0]! : (event: KernelEventFields) => inputs.some(accept => accept(event));
		const own = sink.filter ? compileFilter(sink.filter, `sinks.${sink.id}`) : undefined;
		routes.set(sink.id, own ? event => own(event) && fromInputs(event) : fromInputs);
	}

	return routes;
}

/** Whether an event reaches any sink: events no sink wants are dropped before enrichment. */
export function compileRoute(config: PipelineConfig, fail?: (message: string, key?: string) => never): EventPredicate {
	const routes = [...compileRoutes(config, fail).values()];
	return routes.length === 1 ? routes[0]! : event => routes.some(accept => accept(event));
}

function asObject(value: unknown, where: string, fail: (message: string, key?: string) => never): Record<string, unknown> {
	if (typeof value !== 'object' || value === null || Array.isArray(value)) {
		return fail(`${where}: expected a map of keys`);
	}

	return value as Record<string, unknown>;
}

function checkKeys(fields: Record<string, unknown>, allowed: readonly string[], where: string, fail: (message: string, key?: string) => never): Record<string, unknown> {
	for (const key of Object.keys(fields)) {
		if (!allowed.includes(key)) {
			fail(`unknown key '${where}.${key}'${suggest(key, allowed)}`, `${where}.${key}`);
		}
	}

	return fields;
}

function parseInputs(value: unknown, where: string, fail: (message: string, key?: string) => never): string[] {
	if (!Array.isArray(value) || value.length === 0 || !value.every(item => typeof item === 'string')) {
		return fail(`${where}.inputs: expected a non-empty list of component ids`, `${where}.inputs`);
	}

	return value as string[];
}
