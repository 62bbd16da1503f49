import {readFileSync} from 'node:fs';
import {ConfigError} from './errors.js';
import type {FilterSpec} from './filters.js';
import {formatNames, type FormatName} from './formats.js';
import {defaultBufferConfig, type BufferConfig, type WhenFull} from './buffer.js';

/**
 * The options of each sink type, one schema for both places they come from: a `sinks:` entry of
 * the config file (nested YAML/JSON) and a `--sink URL` flag (`?buffer.max_events=5000`, strings
 * to coerce). Names follow Vector where it has one (`buffer.max_events`, `buffer.when_full`,
 * `batch.max_events`, `batch.timeout_secs`, `request.headers`, `mode`, `compression`).
 */

export const sinkTypes = ['stdout', 'file', 'syslog', 'http', 'fluent'] as const;
export type SinkType = typeof sinkTypes[number];

type Field =
	| {kind: 'string' | 'boolean' | 'size' | 'headers' | 'inputs' | 'list'}
	| {kind: 'number'; min: number; integer?: boolean}
	| {kind: 'enum'; values: readonly string[]};

const common: Record<string, Field> = {
	type: {kind: 'enum', values: sinkTypes},
	inputs: {kind: 'inputs'},
	format: {kind: 'enum', values: formatNames},
	'buffer.type': {kind: 'enum', values: ['memory', 'disk']},
	'buffer.max_events': {kind: 'number', min: 1, integer: true},
	'buffer.max_size': {kind: 'size'},
	'buffer.when_full': {kind: 'enum', values: ['block', 'drop_newest']},
	'batch.max_events': {kind: 'number', min: 1, integer: true},
	'batch.max_bytes': {kind: 'size'},
	'batch.timeout_secs': {kind: 'number', min: 0},
	'request.retry_initial_backoff_secs': {kind: 'number', min: 0.001},
	'request.retry_max_backoff_secs': {kind: 'number', min: 0.001},
};

const tls: Record<string, Field> = {
	'tls.enabled': {kind: 'boolean'},
	'tls.ca_file': {kind: 'string'},
	'tls.verify_certificate': {kind: 'boolean'},
};

const schemas: Record<SinkType, Record<string, Field>> = {
	stdout: common,
	file: {
		...common,
		path: {kind: 'string'},
		'rotate.max_bytes': {kind: 'size'},
		'rotate.max_age_secs': {kind: 'number', min: 1},
		'rotate.keep': {kind: 'number', min: 0, integer: true},
		'rotate.compress': {kind: 'boolean'},
	},
	syslog: {
		...common,
		mode: {kind: 'enum', values: ['udp', 'tcp', 'unix']},
		address: {kind: 'string'},
		path: {kind: 'string'},
		rfc: {kind: 'enum', values: ['5424', '3164']},
		facility: {kind: 'enum', values: ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7']},
		severity: {kind: 'enum', values: ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug']},
		app_name: {kind: 'string'},
		framing: {kind: 'enum', values: ['octet_counting', 'newline']},
		structured_data: {kind: 'boolean'},
	},
	http: {
		...common,
		uri: {kind: 'string'},
		mode: {kind: 'enum', values: ['ndjson', 'elasticsearch']},
		index: {kind: 'string'},
		compression: {kind: 'enum', values: ['none', 'gzip']},
		'request.headers': {kind: 'headers'},
		'request.timeout_secs': {kind: 'number', min: 0.001},
		...tls,
	},
	fluent: {
		...common,
		address: {kind: 'string'},
		tag: {kind: 'string'},
		'ack.enabled': {kind: 'boolean'},
		'request.timeout_secs': {kind: 'number', min: 0.001},
		...tls,
	},
};

export type SinkCommon = {
	id: string;
	type: SinkType;
	inputs: string[];
	/** Unset: the `--format` flag's, else json. */
	format?: FormatName;
	/** The SinkBuffer's words (buffer.ts): memory, then a spool on disk for `type: disk`. */
	buffer: BufferConfig;
	batch: {max_events: number; max_bytes: number; timeout_secs: number};
	request: {retry_initial_backoff_secs: number; retry_max_backoff_secs: number; timeout_secs: number; headers: Record<string, string>};
	tls: {enabled: boolean; ca_file?: string; verify_certificate: boolean};
	/** Filters given on a `--sink` URL; in the config file filters are transforms. */
	filter?: FilterSpec;
	/** The stdout sink used because none was named: `--sink` flags replace it. */
	implicit?: boolean;
};

export type StdoutSinkConfig = SinkCommon & {type: 'stdout'};
export type FileSinkConfig = SinkCommon & {type: 'file'; path: string; rotate?: {max_bytes?: number; max_age_secs?: number; keep: number; compress: boolean}};
export type SyslogSinkConfig = SinkCommon & {
	type: 'syslog';
	mode: 'udp' | 'tcp' | 'unix';
	/** host:port for udp and tcp. */
	address?: string;
	/** Socket path for unix. */
	path?: string;
	rfc: '5424' | '3164';
	facility: string;
	severity: string;
	app_name: string;
	framing: 'octet_counting' | 'newline';
	structured_data: boolean;
};
export type HttpSinkConfig = SinkCommon & {type: 'http'; uri: string; mode: 'ndjson' | 'elasticsearch'; index: string; compression: 'none' | 'gzip'};
export type FluentSinkConfig = SinkCommon & {type: 'fluent'; address: string; tag: string; ack: boolean};
export type SinkConfig = StdoutSinkConfig | FileSinkConfig | SyslogSinkConfig | HttpSinkConfig | FluentSinkConfig;

/**
 * Per-type defaults. Buffers: 10,000 events in memory, then up to 256 MiB spooled, then
 * `drop_newest` (buffer.ts), so that no sink ever holds up the loader or another sink.
 */
const defaults: Record<SinkType, {when_full: WhenFull; max_events: number; batch_events: number; batch_bytes: number; batch_secs: number}> = {
	// Writes of a few hundred KiB: larger strings land in V8's large-object space and raise RSS.
	// stdout is paced by its reader (cli.ts), so its buffer fills only when the reader stalls.
	stdout: {when_full: 'drop_newest', max_events: defaultBufferConfig.max_events, batch_events: 500, batch_bytes: 256 << 10, batch_secs: 0},
	file: {when_full: 'drop_newest', max_events: defaultBufferConfig.max_events, batch_events: 1000, batch_bytes: 256 << 10, batch_secs: 0},
	syslog: {when_full: 'drop_newest', max_events: defaultBufferConfig.max_events, batch_events: 1000, batch_bytes: 1 << 20, batch_secs: 0},
	http: {when_full: 'drop_newest', max_events: defaultBufferConfig.max_events, batch_events: 1000, batch_bytes: 5 << 20, batch_secs: 1},
	fluent: {when_full: 'drop_newest', max_events: defaultBufferConfig.max_events, batch_events: 1000, batch_bytes: 1 << 20, batch_secs: 0},
};

export type Fail = (message: string, key?: string) => never;

/** A component's `type`: one of `supported`, or one clear line on what is missing or wrong. */
export function checkType(value: unknown, where: string, kind: string, supported: readonly string[], fail: Fail): void {
	if (value === undefined) {
		fail(`${where}.type: missing (a ${kind} is one of: ${supported.join(', ')})`, `${where}.type`);
	}

	if (!supported.includes(value as string)) {
		fail(`${where}.type: unsupported ${kind} type ${JSON.stringify(value)} (supported: ${supported.join(', ')})`, `${where}.type`);
	}
}

/** Validates one sink given as nested keys (config file) or dotted keys with string values (URL). */
export function parseSinkConfig(id: string, raw: Record<string, unknown>, where: string, fail: Fail, fromUrl = false): SinkConfig {
	const type = raw['type'];
	checkType(type, where, 'sink', sinkTypes, fail);

	const schema = schemas[type as SinkType];
	const flat = flatten(raw, schema, where, fail, fromUrl);
	const value = <T>(key: string, fallback: T): T => (flat.has(key) ? flat.get(key) as T : fallback);
	const need = (key: string, what: string): string => {
		const given = flat.get(key);
		if (typeof given !== 'string' || given.length === 0) {
			return fail(`${where}: a ${type} sink needs '${key}' (${what})`, `${where}.${key}`);
		}

		return given;
	};

	const base = defaults[type as SinkType];
	const common: SinkCommon = {
		id,
		type: type as SinkType,
		inputs: value<string[]>('inputs', []),
		format: flat.get('format') as FormatName | undefined,
		buffer: {
			type: value('buffer.type', defaultBufferConfig.type),
			max_events: value('buffer.max_events', base.max_events),
			max_size: value('buffer.max_size', defaultBufferConfig.max_size),
			when_full: value('buffer.when_full', base.when_full),
		},
		batch: {max_events: value('batch.max_events', base.batch_events), max_bytes: value('batch.max_bytes', base.batch_bytes), timeout_secs: value('batch.timeout_secs', base.batch_secs)},
		request: {
			retry_initial_backoff_secs: value('request.retry_initial_backoff_secs', 0.1),
			retry_max_backoff_secs: value('request.retry_max_backoff_secs', 30),
			timeout_secs: value('request.timeout_secs', 30),
			headers: value<Record<string, string>>('request.headers', {}),
		},
		tls: {enabled: value('tls.enabled', false), ca_file: flat.get('tls.ca_file') as string | undefined, verify_certificate: value('tls.verify_certificate', true)},
	};
	if (common.format === undefined) {
		delete common.format;
	}

	if (common.tls.ca_file === undefined) {
		delete common.tls.ca_file;
	}

	switch (type as SinkType) {
		case 'stdout': {
			return {...common, type: 'stdout'};
		}

		case 'file': {
			const path = need('path', 'the file to write');
			// `rotate: {}` asks for rotation as much as `rotate: {keep: 3}` does, and gets told what it lacks
			const rotating = raw['rotate'] !== undefined || [...flat.keys()].some(key => key.startsWith('rotate.'));
			const config: FileSinkConfig = {...common, type: 'file', path};
			if (rotating) {
				const rotate: NonNullable<FileSinkConfig['rotate']> = {keep: value('rotate.keep', 5), compress: value('rotate.compress', false)};
				if (flat.has('rotate.max_bytes')) {
					rotate.max_bytes = flat.get('rotate.max_bytes') as number;
				}

				if (flat.has('rotate.max_age_secs')) {
					rotate.max_age_secs = flat.get('rotate.max_age_secs') as number;
				}

				if (rotate.max_bytes === undefined && rotate.max_age_secs === undefined) {
					fail(`${where}.rotate: give max_bytes, max_age_secs or both`, `${where}.rotate`);
				}

				config.rotate = rotate;
			}

			return config;
		}

		case 'syslog': {
			const mode = value<'udp' | 'tcp' | 'unix'>('mode', 'udp');
			const config: SyslogSinkConfig = {
				...common,
				type: 'syslog',
				mode,
				// What local receivers (journald, rsyslog's imuxsock) parse on /dev/log is glibc's BSD form.
				rfc: value('rfc', mode === 'unix' ? '3164' : '5424'),
				facility: value('facility', 'user'),
				severity: value('severity', 'notice'),
				app_name: value('app_name', 'fim-whodata'),
				framing: value('framing', 'octet_counting'),
				structured_data: value('structured_data', false),
			};
			if (mode === 'unix') {
				config.path = value('path', '/dev/log');
			} else {
				config.address = need('address', 'host:port of the receiver');
				hostPort(config.address, `${where}.address`, fail);
			}

			return config;
		}

		case 'http': {
			const uri = need('uri', 'the URL to POST to');
			let url: URL | undefined;
			try {
				url = new URL(uri);
			} catch {}

			if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
				fail(`${where}.uri: expected an http:// or https:// URL, got ${JSON.stringify(uri)}`, `${where}.uri`);
			}

			return {...common, type: 'http', uri, mode: value('mode', 'ndjson'), index: value('index', 'fim-whodata'), compression: value('compression', 'none')};
		}

		case 'fluent': {
			const address = need('address', 'host:port of the forward input');
			hostPort(address, `${where}.address`, fail);
			return {...common, type: 'fluent', address, tag: value('tag', 'fim.whodata'), ack: value('ack.enabled', true)};
		}
	}
}

/** The PEM of `tls.ca_file`, read once when the sink is made; undefined for the system CAs. */
/**
 * stdout is one stream: a pipeline writes its records there once, in one format (a second
 * format goes to a file sink). `where(id)` names a sink as the caller's input does.
 */
export function checkOneStdoutSink(sinks: readonly SinkConfig[], where: (id: string) => string, fail: Fail): void {
	const [first, second] = sinks.filter(sink => sink.type === 'stdout');
	if (first && second) {
		fail(`${where(second.id)}: a second sink on stdout (${where(first.id)} is one): stdout takes one stream of records; send another format to a file sink`, where(second.id));
	}
}

export function readCaFile(config: SinkCommon): Buffer | undefined {
	const file = config.tls.ca_file;
	if (file === undefined) {
		return undefined;
	}

	try {
		return readFileSync(file);
	} catch (error) {
		throw new ConfigError(`sinks.${config.id}.tls.ca_file: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
	}
}

/** `host:port` or `[v6]:port`. */
export function hostPort(address: string, where: string, fail: Fail): {host: string; port: number} {
	const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
	const port = Number(match?.[3]);
	if (!match || port < 1 || port > 65_535) {
		return fail(`${where}: expected host:port, got ${JSON.stringify(address)}`, where);
	}

	return {host: match[1] ?? match[2]!, port};
}

const sizeUnits: Record<string, number> = {'': 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3};

/** `100M`, `64KiB`, `1048576` → bytes (units are powers of 1024). */
export function parseSize(value: unknown): number | undefined {
	if (typeof value === 'number') {
		return Number.isInteger(value) && value > 0 ? value : undefined;
	}

	const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null;
	const unit = match ? sizeUnits[match[2]!.toLowerCase()] : undefined;
	if (!match || unit === undefined) {
		return undefined;
	}

	const bytes = Math.round(Number(match[1]) * unit);
	return bytes > 0 ? bytes : undefined;
}

/** Nested keys to dotted ones, each checked and coerced against the schema. */
function flatten(raw: Record<string, unknown>, schema: Record<string, Field>, where: string, fail: Fail, fromUrl: boolean): Map<string, unknown> {
	const flat = new Map<string, unknown>();
	const visit = (object: Record<string, unknown>, prefix: string): void => {
		for (const [key, value] of Object.entries(object)) {
			const name = prefix + key;
			const field = schema[name];
			if (field) {
				flat.set(name, coerce(field, value, `${where}.${name}`, fail, fromUrl));
				continue;
			}

			const headers = Object.keys(schema).find(known => schema[known]!.kind === 'headers' && name.startsWith(`${known}.`));
			if (headers && fromUrl) {
				const map = (flat.get(headers) ?? {}) as Record<string, string>;
				map[name.slice(headers.length + 1)] = String(value);
				flat.set(headers, map);
				continue;
			}

			const isSection = Object.keys(schema).some(known => known.startsWith(`${name}.`));
			if (isSection && typeof value === 'object' && value !== null && !Array.isArray(value)) {
				visit(value as Record<string, unknown>, `${name}.`);
				continue;
			}

			fail(`unknown key '${where}.${name}'${suggest(name, Object.keys(schema))}`, `${where}.${name}`);
		}
	};

	visit(raw, '');
	return flat;
}

function coerce(field: Field, value: unknown, where: string, fail: Fail, fromUrl: boolean): unknown {
	switch (field.kind) {
		case 'string': {
			if (typeof value !== 'string' || value.length === 0) {
				fail(`${where}: expected a non-empty string`, where);
			}

			return value;
		}

		case 'boolean': {
			if (fromUrl && (value === 'true' || value === 'false')) {
				return value === 'true';
			}

			if (typeof value !== 'boolean') {
				fail(`${where}: expected true or false`, where);
			}

			return value;
		}

		case 'number': {
			const number = fromUrl && typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
			if (typeof number !== 'number' || !Number.isFinite(number) || number < field.min || (field.integer && !Number.isInteger(number))) {
				fail(`${where}: expected ${field.integer ? 'an integer' : 'a number'} of at least ${field.min}, got ${JSON.stringify(value)}`, where);
			}

			return number;
		}

		case 'size': {
			const bytes = parseSize(value);
			if (bytes === undefined) {
				fail(`${where}: expected a size in bytes (1048576, 64KiB, 100M, 1G), got ${JSON.stringify(value)}`, where);
			}

			return bytes;
		}

		case 'enum': {
			const text = typeof value === 'number' ? String(value) : value;
			if (typeof text !== 'string' || !field.values.includes(text)) {
				fail(`${where}: expected one of ${field.values.join(', ')}, got ${JSON.stringify(value)}`, where);
			}

			return text;
		}

		case 'headers': {
			if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every(item => typeof item === 'string' || typeof item === 'number')) {
				fail(`${where}: expected a map of header names to values`, where);
			}

			return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, String(item)]));
		}

		case 'inputs':
		case 'list': {
			const list = fromUrl && typeof value === 'string' ? value.split(',') : value;
			if (!Array.isArray(list) || list.length === 0 || !list.every(item => typeof item === 'string' && item.length > 0)) {
				fail(`${where}: expected a non-empty list of ${field.kind === 'inputs' ? 'component ids' : 'strings'}`, where);
			}

			return list;
		}
	}
}

/** A nearby allowed key, for the error message. */
export function suggest(key: string, allowed: readonly string[]): string {
	let best: string | undefined;
	let bestDistance = 3;
	for (const candidate of allowed) {
		const distance = editDistance(key, candidate);
		if (distance < bestDistance) {
			best = candidate;
			bestDistance = distance;
		}
	}

	return best ? ` (did you mean '${best}'?)` : ` (allowed: ${allowed.join(', ')})`;
}

function editDistance(a: string, b: string): number {
	let previous = Array.from({length: b.length + 1}, (_, index) => index);
	for (let i = 1; i <= a.length; i++) {
		const current = [i];
		for (let j = 1; j <= b.length; j++) {
			current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
		}

		previous = current;
	}

	return previous[b.length]!;
}

