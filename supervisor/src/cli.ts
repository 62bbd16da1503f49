import {accessSync, constants, readFileSync} from 'node:fs';
import {join} from 'node:path';
import {execa} from 'execa';
import yargs, {type Argv} from 'yargs';
import {formatCheckTable, runChecks} from './check.js';
import {SinkBuffer} from './buffer.js';
import {compileRoute, loadConfigFile, parseConfig, type PipelineConfig} from './config.js';
import {ControlServer, queryStatus} from './control.js';
import {FimError, LoaderMissingError, UsageError} from './errors.js';
import {compileFilter, parseIds, parseOperations, type FilterSpec} from './filters.js';
import {formatNames, recordTextLine, supervisorJsonLine, type FormatName} from './formats.js';
import {createLogger, type LogFormat} from './log.js';
import {defaultLoaderPath} from './loader-path.js';
import {WhoDataMonitor, type Logger, type MonitorBatchItem} from './monitor.js';
import {normalizeWatchPaths} from './paths.js';
import {createStdoutSink} from './sinks.js';
import {defaultStateDirectory, prepareStateDirectory} from './state-dir.js';
import type {KernelEventFields} from './types.js';

/**
 * fimctl: the command line. The only module that calls process.exit.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 unsupported system.
 */

const packageVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {version: string}).version;

type GlobalArgs = {verbose: boolean; 'log-format': LogFormat};

type StartArgs = GlobalArgs & {
	paths: string[];
	config?: string;
	format?: FormatName;
	exclude?: string[];
	include?: string[];
	ops?: string;
	'include-process'?: string[];
	'exclude-process'?: string[];
	'include-exe'?: string[];
	'exclude-exe'?: string[];
	'include-uid'?: string[];
	'exclude-uid'?: string[];
	'include-auid'?: string[];
	'exclude-auid'?: string[];
	loader?: string;
	'coalesce-ms'?: number;
	'ringbuf-mb'?: number;
	'stats-interval'?: number;
	'state-dir'?: string;
	'scan-rate'?: number;
	enrich: boolean;
};

type CheckArgs = GlobalArgs & {loader?: string};

type StatusArgs = GlobalArgs & {'state-dir'?: string; json: boolean};

export async function main(argv: string[]): Promise<number> {
	let logFormat: LogFormat = argv.includes('json') && argv.some(arg => arg.startsWith('--log-format')) ? 'json' : 'text';
	let verbose = argv.includes('--verbose') || argv.includes('-v');
	let outcome: Promise<number> | undefined;
	const parser = yargs(argv)
		.scriptName('fimctl')
		.usage('$0 <command> [options]\n\nReal-time file integrity monitoring: who changed which file.')
		.option('verbose', {alias: 'v', type: 'boolean', default: false, describe: 'Debug diagnostics on stderr'})
		.option('log-format', {choices: ['text', 'json'] as const, default: 'text' as LogFormat, describe: 'Format of the diagnostics on stderr'})
		.command('start [paths..]', 'Watch paths and print one event per change on stdout', startOptions, args => {
			logFormat = args['log-format'] as LogFormat;
			verbose = Boolean(args.verbose);
			outcome = start(args as unknown as StartArgs);
		})
		.command('check', 'Check that the sensor can run on this system (exit 0 if it can)', (y: Argv) => y
			.option('loader', {type: 'string', describe: 'Loader binary (default: $FIM_LOADER or build/fim-loader)'}), args => {
			logFormat = args['log-format'] as LogFormat;
			verbose = Boolean(args.verbose);
			outcome = check(args as unknown as CheckArgs);
		})
		.command('status', 'Show what a running `fimctl start` is doing (root: it asks its control socket)', (y: Argv) => y
			.option('state-dir', {type: 'string', describe: `State directory of the fimctl to ask (default ${defaultStateDirectory})`})
			.option('json', {type: 'boolean', default: false, describe: 'Print the status as one JSON object'}), args => {
			logFormat = args['log-format'] as LogFormat;
			outcome = status(args as unknown as StatusArgs);
		})
		.command('version', 'Print the versions of fimctl and the loader', (y: Argv) => y
			.option('loader', {type: 'string', describe: 'Loader binary'}), args => {
			outcome = version((args as unknown as CheckArgs).loader);
		})
		.demandCommand(1, 'give a command: start, status, check or version')
		.strict()
		.recommendCommands()
		.version(packageVersion)
		.help()
		.alias('help', 'h')
		.wrap(Math.min(100, process.stdout.columns || 100))
		.epilogue('Exit codes: 0 success, 1 runtime error, 2 usage error, 3 unsupported system.')
		.exitProcess(false)
		.fail((message, error) => {
			throw error ?? new UsageError(message);
		});

	try {
		await parser.parseAsync();
		return outcome ? await outcome : 0;
	} catch (error) {
		return report(error, createLogger({verbose, format: logFormat}), verbose);
	}
}

function startOptions(y: Argv): Argv {
	return y
		.positional('paths', {type: 'string', array: true, describe: 'Directories (watched recursively) or files'})
		.option('config', {alias: 'c', type: 'string', describe: 'Config file (YAML or JSON: sources, transforms, sinks)'})
		.option('format', {alias: 'f', choices: formatNames, describe: 'Output format (default json)'})
		.option('exclude', {type: 'string', array: true, describe: 'Drop events whose path matches this glob'})
		.option('include', {type: 'string', array: true, describe: 'Keep only events whose path matches this glob'})
		.option('ops', {type: 'string', describe: 'Keep only these operations: add,modify,delete,rename,attrib'})
		.option('include-process', {type: 'string', array: true, describe: 'Keep only these process names'})
		.option('exclude-process', {type: 'string', array: true, describe: 'Drop these process names'})
		.option('include-exe', {type: 'string', array: true, describe: 'Keep only executables matching this glob'})
		.option('exclude-exe', {type: 'string', array: true, describe: 'Drop executables matching this glob'})
		.option('include-uid', {type: 'string', array: true, describe: 'Keep only these uids (comma list)'})
		.option('exclude-uid', {type: 'string', array: true, describe: 'Drop these uids (comma list)'})
		.option('include-auid', {type: 'string', array: true, describe: 'Keep only these login uids (comma list)'})
		.option('exclude-auid', {type: 'string', array: true, describe: 'Drop these login uids (comma list)'})
		.option('loader', {type: 'string', describe: 'Loader binary (default: $FIM_LOADER or build/fim-loader)'})
		.option('coalesce-ms', {type: 'number', describe: 'Modify coalescing window in ms (loader default 1000)'})
		.option('ringbuf-mb', {type: 'number', describe: 'Ring buffer size in MiB, a power of two (loader default 16)'})
		.option('stats-interval', {type: 'number', describe: 'Seconds between loader stats records (loader default 5)'})
		.option('enrich', {type: 'boolean', default: true, describe: 'Add /proc and user-database fields (--no-enrich to skip)'})
		.option('state-dir', {type: 'string', describe: `Baseline state, sink spools and control socket (default ${defaultStateDirectory}; config data_dir)`})
		.option('scan-rate', {type: 'number', describe: 'Entries per second a baseline or reconciliation scan may stat (default 20000; 0: no limit)'})
		.example('$0 start /etc /var/log', 'JSON events for two subtrees')
		.example('$0 start --format text /etc', 'One readable line per change')
		.example('$0 start --exclude \'**/*.swp\' --ops add,delete /srv', 'Filter in the supervisor')
		.example('$0 start /etc | fluent-bit -i stdin -o stdout', 'Feed Fluent Bit')
		.example('$0 start --config fim.yaml', 'Paths, filters and sink from a config file');
}

/** How long stopping waits for a slow reader before keeping the rest in the spool. */
const flushTimeoutMs = 5000;
/** How long reading the loader may wait for stdout to drain before the reader counts as stalled. */
const pacingMs = 50;

function parseConfigDefaults(): PipelineConfig {
	return parseConfig({sources: {whodata: {type: 'whodata'}}});
}

function filterFromFlags(args: StartArgs): FilterSpec {
	const spec: FilterSpec = {};
	const ids = (values: string[] | undefined, flag: string): number[] | undefined =>
		values === undefined ? undefined : values.flatMap(value => parseIds(value, flag));
	if (args.include) {
		spec.include_paths = args.include;
	}

	if (args.exclude) {
		spec.exclude_paths = args.exclude;
	}

	if (args.ops !== undefined) {
		spec.operations = parseOperations(args.ops);
	}

	spec.include_process_names = args['include-process'];
	spec.exclude_process_names = args['exclude-process'];
	spec.include_exes = args['include-exe'];
	spec.exclude_exes = args['exclude-exe'];
	spec.include_uids = ids(args['include-uid'], '--include-uid');
	spec.exclude_uids = ids(args['exclude-uid'], '--exclude-uid');
	spec.include_auids = ids(args['include-auid'], '--include-auid');
	spec.exclude_auids = ids(args['exclude-auid'], '--exclude-auid');
	for (const key of Object.keys(spec) as Array<keyof FilterSpec>) {
		if (spec[key] === undefined) {
			delete spec[key];
		}
	}

	return spec;
}

function nonNegativeInteger(value: number | undefined, flag: string): number | undefined {
	if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
		throw new UsageError(`${flag}: expected a non-negative integer, got ${String(value)}`);
	}

	return value;
}

async function start(args: StartArgs): Promise<number> {
	const logger = createLogger({verbose: args.verbose, format: args['log-format']});
	const config: PipelineConfig = args.config
		? loadConfigFile(args.config)
		: parseConfigDefaults();
	const route = compileRoute(config);
	const flagFilter = compileFilter(filterFromFlags(args), 'flags');
	const accept = (event: KernelEventFields): boolean => flagFilter(event) && route(event);
	const paths = [...config.source.paths, ...(args.paths ?? [])];
	const format = args.format ?? config.sink.format;
	const loaderPath = args.loader ?? config.source.loader ?? defaultLoaderPath();
	try {
		accessSync(loaderPath, constants.X_OK);
	} catch (error) {
		throw new LoaderMissingError(loaderPath, {cause: error});
	}

	// Mistakes in what was asked are reported before anything is claimed (the monitor says the
	// symlinks and relative paths it resolves, once).
	normalizeWatchPaths(paths, () => {});
	const stateDirectory = prepareStateDirectory(args['state-dir'] ?? config.data_dir ?? defaultStateDirectory);
	const options = {
		paths,
		loaderPath,
		filter: accept,
		enrich: args.enrich && config.source.enrich,
		stateDir: stateDirectory,
		scanRate: nonNegativeInteger(args['scan-rate'] ?? config.source.scan_rate, '--scan-rate'),
		restart: config.source.restart,
		tuning: {
			coalesceMs: nonNegativeInteger(args['coalesce-ms'] ?? config.source.coalesce_ms, '--coalesce-ms'),
			ringbufMb: nonNegativeInteger(args['ringbuf-mb'] ?? config.source.ringbuf_mb, '--ringbuf-mb'),
			statsInterval: nonNegativeInteger(args['stats-interval'] ?? config.source.stats_interval, '--stats-interval'),
		},
		logger,
	};
	// Claimed first: a second fimctl on the same state directory is refused before it touches anything.
	let describe: () => Record<string, unknown> = () => ({starting: true});
	const control = await ControlServer.listen(stateDirectory, () => describe());
	let monitor: WhoDataMonitor;
	try {
		monitor = await WhoDataMonitor.create(options);
	} catch (error) {
		await control.close();
		throw error;
	}

	logger.info(`watching ${monitor.paths.join(', ')}`);

	const sink = createStdoutSink();
	const render = format === 'text'
		? (item: MonitorBatchItem) => recordTextLine(item.record)
		: (item: MonitorBatchItem) => item.json;
	// A slow reader never holds up the loader: records wait in the sink's buffer (memory, then
	// the spool), and only `when_full: block` pauses the loader once both are full.
	const buffer = SinkBuffer.open(sink, {
		id: config.sink.id,
		...config.sink.buffer,
		spoolDirectory: join(stateDirectory, 'spool', config.sink.id),
		renderGap: record => `${format === 'text' ? recordTextLine(record) : supervisorJsonLine(record)}\n`,
		onWarning: message => {
			logger.warn(message);
		},
	});
	const rate = new EventRate(monitor);
	describe = () => statusOf(monitor, buffer, config, stateDirectory, rate);
	// Pacing: while the reader keeps up, reading the loader waits for stdout to drain (the
	// loader's pipe and the kernel's ring buffer hold events meanwhile), so fimctl writes as it
	// reads. A reader that has not drained within pacingMs is stalled: the loader is read again
	// and records wait in the buffer (memory, then spool) until it has emptied.
	let blocked = false;
	let paced: NodeJS.Timeout | undefined;
	let stalled = false;
	const resumeReading = (): void => {
		if (paced) {
			clearTimeout(paced);
			paced = undefined;
			if (!blocked) {
				monitor.resume();
			}
		}
	};

	buffer.on('idle', () => {
		stalled = false;
		resumeReading();
	});
	buffer.on('drain', () => {
		if (blocked) {
			blocked = false;
			if (!paced) {
				monitor.resume();
			}
		}
	});
	monitor.on('batch', (items: MonitorBatchItem[]) => {
		const entries = items.map(item => ({line: `${render(item)}\n`, path: item.path, old_path: item.old_path}));
		if (!buffer.push(entries) && !blocked) {
			blocked = true;
			monitor.pause();
		}

		if (!buffer.idle && !stalled && !paced && !blocked) {
			monitor.pause();
			paced = setTimeout(() => {
				stalled = true;
				resumeReading();
			}, pacingMs);
		}
	});

	return new Promise<number>(resolve => {
		let stopping = false;
		const stop = async (code: number, message?: string, level: 'info' | 'warn' | 'error' = 'info'): Promise<void> => {
			if (stopping) {
				return;
			}

			stopping = true;
			if (message) {
				logger[level](message);
			}

			rate.stop();
			clearTimeout(paced);
			await monitor.close();
			await control.close();
			const left = await buffer.close(flushTimeoutMs);
			if (left.spooled > 0) {
				logger.warn(`${left.spooled} record(s) the reader did not take within ${flushTimeoutMs / 1000} s are kept in the spool under ${stateDirectory}; they are written first at the next start`);
			}

			if (left.discarded > 0) {
				logger.error(`${left.discarded} record(s) the reader did not take within ${flushTimeoutMs / 1000} s are lost (the sink has no spool)`);
			}

			await Promise.race([sink.end(), new Promise(resolve => {
				setTimeout(resolve, flushTimeoutMs).unref();
			})]);
			const {counters} = monitor;
			logger.debug(`events received ${counters.events_received_total}, sent ${counters.events_sent_total}, discarded ${counters.events_discarded_total}, lost ${counters.events_lost_total}`);
			resolve(code);
		};

		// `on`, not `once`: execa's exit hook re-raises a signal that no other listener holds,
		// which would kill us mid-shutdown; a second signal during shutdown is simply ignored.
		process.on('SIGINT', () => void stop(0, 'interrupted; stopping'));
		process.on('SIGTERM', () => void stop(0, 'terminated; stopping'));
		sink.on('closed', (reason: string) => void stop(0, `${reason}; stopping`));
		sink.on('error', (error: FimError) => {
			monitor.counters.errors_total.sending++;
			void stop(error.exitCode, error.message, 'error');
		});
		monitor.on('error', (error: FimError) => {
			void stop(error.exitCode, error.message, 'error');
		});
	});
}

const startedAt = Date.now();

/** Events per second over the last 10 s, from a sample of the counters each second. */
class EventRate {
	private readonly samples: Array<[number, number]> = [];
	private readonly timer: NodeJS.Timeout;

	constructor(private readonly monitor: WhoDataMonitor) {
		this.sample();
		this.timer = setInterval(() => {
			this.sample();
		}, 1000);
		this.timer.unref();
	}

	get perSecond(): number {
		this.sample();
		const [firstAt, firstCount] = this.samples[0]!;
		const [lastAt, lastCount] = this.samples.at(-1)!;
		return lastAt > firstAt ? Math.round((lastCount - firstCount) / ((lastAt - firstAt) / 1000) * 10) / 10 : 0;
	}

	stop(): void {
		clearInterval(this.timer);
	}

	private sample(): void {
		const {counters} = this.monitor;
		const now = Date.now();
		this.samples.push([now, counters.events_received_total + counters.events_reconciled_total]);
		while (this.samples.length > 2 && now - this.samples[0]![0] > 10_000) {
			this.samples.shift();
		}
	}
}

function statusOf(monitor: WhoDataMonitor, buffer: SinkBuffer, config: PipelineConfig, stateDirectory: string, rate: EventRate): Record<string, unknown> {
	const {counters} = monitor;
	const last = monitor.lastReconcile;
	const bufferStats = buffer.stats();
	return {
		pid: process.pid,
		version: packageVersion,
		state_dir: stateDirectory,
		started_at: new Date(startedAt).toISOString(),
		uptime_s: Math.round((Date.now() - startedAt) / 1000),
		paths: monitor.paths,
		events_per_second: rate.perSecond,
		events_received_total: counters.events_received_total,
		events_reconciled_total: counters.events_reconciled_total,
		events_sent_total: bufferStats.sent_total,
		events_discarded_total: counters.events_discarded_total + bufferStats.discarded_total,
		events_lost_total: counters.events_lost_total,
		loader_restarts_total: counters.loader_restarts_total,
		errors_total: counters.errors_total,
		spool_bytes: bufferStats.spool_bytes,
		sinks: [{id: config.sink.id, type: config.sink.type, buffer: {...config.sink.buffer, ...bufferStats}}],
		reconcile: {
			running: monitor.reconcileRunning,
			last: last === undefined ? null : {
				trigger: last.trigger,
				finished_at: new Date(last.finishedAt).toISOString(),
				duration_ms: last.finishedAt - last.startedAt,
				scanned: last.scanned,
				changes: last.changes,
			},
		},
	};
}

async function status(args: StatusArgs): Promise<number> {
	const answer = await queryStatus(args['state-dir'] ?? defaultStateDirectory);
	process.stdout.write(args.json ? `${JSON.stringify(answer)}\n` : formatStatus(answer));
	return 0;
}

function formatStatus(status: Record<string, unknown>): string {
	const number = (value: unknown): string => (typeof value === 'number' ? value.toLocaleString('en-US') : '?');
	const lines: Array<[string, string]> = [];
	const uptime = Number(status['uptime_s'] ?? 0);
	const hms = `${Math.floor(uptime / 3600)}h ${String(Math.floor(uptime / 60) % 60).padStart(2, '0')}m ${String(uptime % 60).padStart(2, '0')}s`;
	lines.push(['fimctl', `${String(status['version'])}, pid ${String(status['pid'])}, up ${hms} (since ${String(status['started_at'])})`]);
	lines.push(['watching', (status['paths'] as string[] | undefined ?? []).join(', ')]);
	lines.push(['events', `${number(status['events_per_second'])}/s over the last 10 s; ${number(status['events_received_total'])} from the kernel, ${number(status['events_reconciled_total'])} found by reconciliation, ${number(status['events_sent_total'])} sent, ${number(status['events_discarded_total'])} discarded`]);
	lines.push(['lost', `${number(status['events_lost_total'])} (records the kernel could not deliver)`]);
	lines.push(['restarts', `${number(status['loader_restarts_total'])} (of the loader)`]);
	for (const sink of status['sinks'] as Array<{id: string; type: string; buffer: Record<string, unknown>}> | undefined ?? []) {
		const {buffer} = sink;
		lines.push([`sink ${sink.id}`, `${sink.type}; memory ${number(buffer['memory_events'])}/${number(buffer['max_events'])} records, spool ${number(buffer['spool_bytes'])} bytes in ${number(buffer['spool_files'])} file(s) (max ${number(buffer['max_size'])}), ${number(buffer['discarded_total'])} discarded${buffer['waiting_for_sink'] ? ', waiting for its reader' : ''}`]);
	}

	const reconcile = status['reconcile'] as {running: boolean; last: Record<string, unknown> | null} | undefined;
	const last = reconcile?.last;
	lines.push(['reconcile', `${last ? `last after ${String(last['trigger'])} at ${String(last['finished_at'])}: ${number(last['scanned'])} entries in ${number(last['duration_ms'])} ms, ${number(last['changes'])} change(s)` : 'none finished yet'}${reconcile?.running ? '; one running now' : ''}`]);
	return lines.map(([key, value]) => `${key.padEnd(12)} ${value}\n`).join('');
}

async function check(args: CheckArgs): Promise<number> {
	const loaderPath = args.loader ?? defaultLoaderPath();
	const rows = await runChecks({loaderPath});
	process.stdout.write(`${formatCheckTable(rows)}\n`);
	const failed = rows.find(row => row.status === 'fail');
	if (failed) {
		process.stderr.write(`fimctl: check failed: ${failed.check}: ${failed.detail}\n`);
		return 1;
	}

	return 0;
}

async function version(loader: string | undefined): Promise<number> {
	const loaderPath = loader ?? defaultLoaderPath();
	const result = await execa(loaderPath, ['--version'], {reject: false, timeout: 5000});
	const loaderVersion = result.exitCode === 0 ? String(result.stdout).trim() : `not available (${loaderPath})`;
	process.stdout.write(`fimctl ${packageVersion}\nfim-loader ${loaderVersion}\nprotocol 1\n`);
	return 0;
}

function report(error: unknown, logger: Logger, verbose: boolean): number {
	if (error instanceof FimError) {
		logger.error(error.message);
		return error.exitCode;
	}

	const message = error instanceof Error ? error.message : String(error);
	logger.error(`internal error: ${message}`);
	if (verbose && error instanceof Error && error.stack) {
		logger.debug(error.stack);
	}

	return 1;
}
