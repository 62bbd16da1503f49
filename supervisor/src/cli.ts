import {accessSync, constants, readFileSync} from 'node:fs';
import type {Server} from 'node:http';
import {hostname} from 'node:os';
import {createRequire} from 'node:module';
import {join} from 'node:path';
import {execa} from 'execa';
import type {Argv} from 'yargs';
import {checkPrivileges, formatCheckTable, runChecks} from './check.js';
import {SinkBuffer} from './buffer.js';
import {checkLoaderTunable, compileRoute, compileRoutes, loadConfigFile, parseConfig, type PipelineConfig} from './config.js';
import {ControlServer, queryStatus, type StatusProvider} from './control.js';
import {FimError, LoaderMissingError, RuntimeError, UsageError} from './errors.js';
import {compileFilter, parseIds, parseOperations, type FilterSpec} from './filters.js';
import {createFormatter, formatNames, supervisorJsonLine, type FormatName} from './formats.js';
import {createLogger, type LogFormat} from './log.js';
import {defaultLoaderPath} from './loader-path.js';
import type {Metrics} from './metrics.js';
import {bufferEntryOf, takenByRoute, WhoDataMonitor, type Logger, type MonitorBatchItem} from './monitor.js';
import {normalizeWatchPaths} from './paths.js';
import {Pipeline} from './pipeline.js';
import {useSchedPolicy} from './sched.js';
import {sinkFromUrl} from './sink-url.js';
import {checkOneStdoutSink} from './sink-config.js';
import type {SinkError} from './sinks.js';
import {createStdoutSink} from './stream-sink.js';
import {describePipeline, pipelineWarnings} from './validate.js';
import {groupThousands} from './format-count.js';
import {defaultStateDirectory, prepareStateDirectory} from './state-dir.js';
import {loaderBackends, schedPolicies, supportedProtocol, type LoaderBackend, type SchedPolicy} from './supervise.js';
import type {KernelEventFields} from './types.js';

/*
 * yargs through its CommonJS build: the ES module lays out --help with cliui's ES build, whose
 * wrap cuts lines at the column width in the middle of a word ("control soc" / "ket)"); the
 * CommonJS one wraps between words.
 */
const yargs = createRequire(import.meta.url)('yargs/yargs') as (args: readonly string[]) => Argv;

/**
 * fimctl: the command line. The only module that calls process.exit.
 * Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 unsupported system.
 */

const packageVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {version: string}).version;

type GlobalArgs = {verbose: boolean; 'log-format': LogFormat};

type StartArgs = GlobalArgs & {
	paths: string[];
	/** The command's name, then what came after `--` (paths that start with a dash) */
	_: Array<string | number>;
	config?: string;
	format?: FormatName;
	sink?: string[];
	metrics?: string;
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
	backend?: LoaderBackend;
	'coalesce-ms'?: number;
	'max-delay-us'?: number;
	'busy-delay-us'?: number;
	'sched-policy'?: SchedPolicy;
	'ringbuf-mb'?: number;
	'stats-interval'?: number;
	'state-dir'?: string;
	'scan-rate'?: number;
	enrich: boolean;
	'allow-absent'?: boolean;
};

type CheckArgs = GlobalArgs & {loader?: string; backend?: LoaderBackend};

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
		.command('start [paths..]', 'Watch paths and send one event per change to stdout, or to the sinks of --sink and --config', startOptions, args => {
			logFormat = args['log-format'] as LogFormat;
			verbose = Boolean(args.verbose);
			outcome = start(args as unknown as StartArgs);
		})
		.command('validate', 'Check a config file (and --sink flags) and print the pipeline it describes', (y: Argv) => y
			.option('config', {alias: 'c', type: 'string', demandOption: true, describe: 'Config file (YAML or JSON)'})
			.option('sink', {type: 'string', array: true, nargs: 1, describe: 'Sinks as for start'})
			.option('format', {alias: 'f', choices: formatNames, describe: 'Format of the sinks that name none'})
			.epilogue(helpEpilogue(['$0 validate --config /etc/fim-whodata/config.yaml', 'Exit 0 and the pipeline if valid, 2 and one line if not'])), args => {
			logFormat = args['log-format'] as LogFormat;
			verbose = Boolean(args.verbose);
			outcome = validate(args as unknown as StartArgs);
		})
		.command('check', 'Check that the sensor can run on this system (exit 0 if it can)', (y: Argv) => y
			.option('loader', {type: 'string', describe: 'Loader binary (default: $FIM_LOADER or build/fim-loader)'})
			.option('backend', backendOption)
			.epilogue(helpEpilogue(['$0 check --backend fentry', 'Can the fentry backend run here? (the backend row says, or why not)'])), args => {
			logFormat = args['log-format'] as LogFormat;
			verbose = Boolean(args.verbose);
			outcome = check(args as unknown as CheckArgs);
		})
		.command('status', 'Show what a running `fimctl start` is doing (root: it asks its control socket)', (y: Argv) => y
			.option('state-dir', {type: 'string', describe: `State directory of the fimctl to ask (default ${defaultStateDirectory})`})
			.option('json', {type: 'boolean', default: false, describe: 'Print the status as one JSON object'})
			.epilogue(helpEpilogue()), args => {
			logFormat = args['log-format'] as LogFormat;
			outcome = status(args as unknown as StatusArgs);
		})
		.command('version', 'Print the versions of fimctl and the loader', (y: Argv) => y
			.option('loader', {type: 'string', describe: 'Loader binary'})
			.epilogue(helpEpilogue()), args => {
			outcome = version((args as unknown as CheckArgs).loader);
		})
		.demandCommand(1, 'give a command: start, validate, status, check or version')
		.strict()
		.recommendCommands()
		.version(packageVersion)
		.help()
		.alias('help', 'h')
		.wrap(Math.min(100, process.stdout.columns || 100))
		.epilogue(helpEpilogue())
		.exitProcess(false)
		.fail((message, error) => {
			// yargs lays some of its messages out on several lines: an error is one line
			throw error ?? new UsageError(message.split('\n').map(line => line.trim()).filter(Boolean).join(' '));
		});

	try {
		await parser.parseAsync();
		return outcome ? await outcome : 0;
	} catch (error) {
		return report(error, createLogger({verbose, format: logFormat}), verbose);
	}
}

const exitCodes = 'Exit codes: 0 success, 1 runtime error, 2 usage error, 3 unsupported system (also: a --backend the kernel refuses).';

/**
 * The end of a command's help: its examples, each command on a line of its own with what it does
 * under it, then the exit codes. yargs' own examples are two columns that give a command at most
 * half the width: a longer one was broken over lines, a URL in the middle of a word.
 */
function helpEpilogue(...examples: Array<[command: string, description: string]>): string {
	const lines = examples.length === 0 ? [] : ['Examples:', ...examples.flatMap(([command, description]) => [`  ${command}`, `      ${description}`]), ''];
	return [...lines, exitCodes].join('\n');
}

const backendOption = {
	choices: loaderBackends,
	describe: 'Kernel hooks: auto (fentry where the kernel allows it, else syscall tracepoints), or force tracepoint or fentry (exit 3 where refused); docs/protocol.md, Backends',
} as const;

function startOptions(y: Argv): Argv {
	return y
		.positional('paths', {type: 'string', array: true, describe: 'Directories (watched recursively) or files'})
		.option('config', {alias: 'c', type: 'string', describe: 'Config file (YAML or JSON: sources, transforms, sinks)'})
		.option('format', {alias: 'f', choices: formatNames, describe: 'Format of the sinks that name none (default json; docs/formats.md)'})
		.option('sink', {type: 'string', array: true, nargs: 1, describe: 'Send events there (repeatable; replaces stdout): stdout, file:///PATH, syslog[+tcp|+unix]://HOST:PORT, http(s)://URL, fluent[+tls]://HOST:PORT; options as ?key=value (docs/sinks.md)'})
		.option('exclude', {type: 'string', array: true, nargs: 1, describe: 'Drop events whose path matches this glob'})
		.option('include', {type: 'string', array: true, nargs: 1, describe: 'Keep only events whose path matches this glob'})
		.option('ops', {type: 'string', describe: 'Keep only these operations: add,modify,delete,rename,attrib'})
		.option('include-process', {type: 'string', array: true, nargs: 1, describe: 'Keep only these process names'})
		.option('exclude-process', {type: 'string', array: true, nargs: 1, describe: 'Drop these process names'})
		.option('include-exe', {type: 'string', array: true, nargs: 1, describe: 'Keep only executables matching this glob'})
		.option('exclude-exe', {type: 'string', array: true, nargs: 1, describe: 'Drop executables matching this glob'})
		.option('include-uid', {type: 'string', array: true, nargs: 1, describe: 'Keep only these uids (comma list)'})
		.option('exclude-uid', {type: 'string', array: true, nargs: 1, describe: 'Drop these uids (comma list)'})
		.option('include-auid', {type: 'string', array: true, nargs: 1, describe: 'Keep only these login uids (comma list)'})
		.option('exclude-auid', {type: 'string', array: true, nargs: 1, describe: 'Drop these login uids (comma list)'})
		.option('metrics', {type: 'string', describe: 'Serve Prometheus metrics at HOST:PORT/metrics (e.g. 127.0.0.1:9464); off by default'})
		.option('loader', {type: 'string', describe: 'Loader binary (default: $FIM_LOADER or build/fim-loader)'})
		.option('backend', {...backendOption, describe: `${backendOption.describe} (default auto; config: sources.<id>.backend)`})
		.option('coalesce-ms', {type: 'number', describe: 'Modify coalescing window in ms (loader default 1000)'})
		.option('max-delay-us', {type: 'number', describe: 'Longest an event waits in the kernel before the loader reads it, in µs: more saves CPU (fewer wake-ups), less lowers latency (loader default 250)'})
		.option('busy-delay-us', {type: 'number', describe: 'The same under a heavy stream (the loader\'s reads find 32 events or more), in µs, at least --max-delay-us (loader default 1000)'})
		.option('sched-policy', {choices: schedPolicies, describe: 'batch: fimctl and its loader run as SCHED_BATCH, so that their wake-ups do not preempt the processes making the changes (less CPU at a moderate rate); keep: the policy they were started with (default batch; config: sources.<id>.sched_policy)'})
		.option('ringbuf-mb', {type: 'number', describe: 'Ring buffer size in MiB, a power of two (loader default 16)'})
		.option('stats-interval', {type: 'number', describe: 'Seconds between loader stats records (loader default 5)'})
		.option('enrich', {type: 'boolean', default: true, describe: 'Add /proc and user-database fields (--no-enrich to skip)'})
		.option('allow-absent', {type: 'boolean', describe: 'Watch a path that does not exist yet (~/.ssh/authorized_keys) from when it is made, instead of refusing it as a mistake (config: sources.<id>.allow_absent)'})
		.option('state-dir', {type: 'string', describe: `Baseline state, sink spools and control socket (default ${defaultStateDirectory}; config data_dir)`})
		.option('scan-rate', {type: 'number', describe: 'Entries per second a baseline or reconciliation scan may stat (default 20000; 0: no limit)'})
		.epilogue(helpEpilogue(
			['$0 start /etc /var/log', 'JSON events for two subtrees'],
			['$0 start --format text /etc', 'One readable line per change'],
			['$0 start --exclude \'**/*.swp\' --ops add,delete /srv', 'Filter in the supervisor'],
			['$0 start /etc | fluent-bit -i stdin -o stdout', 'Feed Fluent Bit'],
			['$0 start /etc --sink fluent://127.0.0.1:24224', 'To a Fluent Bit or Fluentd forward input, with acknowledgements'],
			['$0 start /etc --sink \'file:///var/log/fim/wazuh.json?format=wazuh&rotate.max_bytes=100M\'', 'A rotating file a Wazuh agent reads'],
			['$0 start /etc --sink stdout --sink syslog+tcp://127.0.0.1:601', 'Several sinks at once'],
			['$0 start --config fim.yaml --metrics 127.0.0.1:9464', 'Paths, filters and sinks from a config file; Prometheus metrics'],
		));
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
		throw new UsageError(`${flag}: expected a non-negative integer${Number.isNaN(value) ? '' : `, got ${String(value)}`}`);
	}

	return value;
}

/** A loader tunable from its flag or its config key (already checked there). */
function loaderTunable(key: string, flagValue: number | undefined, configValue: number | undefined): number | undefined {
	const flag = `--${key.replaceAll('_', '-')}`;
	const value = nonNegativeInteger(flagValue, flag);
	if (value !== undefined) {
		checkLoaderTunable(key, value, flag, message => {
			throw new UsageError(message);
		});
	}

	return value ?? configValue;
}

/** The pipeline that `start` and `validate` run: the config file, plus `--sink` flags. */
function pipelineFromArgs(args: StartArgs): PipelineConfig {
	const config = args.config ? loadConfigFile(args.config) : parseConfigDefaults();
	const flagSinks = (args.sink ?? []).map((url, index) => sinkFromUrl(url, index + 1, [config.transforms.at(-1)?.id ?? config.source.id]));
	if (flagSinks.length > 0) {
		// Sinks named on the command line replace the implicit stdout, and join the file's.
		const sinks = [...config.sinks.filter(sink => !sink.implicit), ...flagSinks];
		const ids = new Set<string>();
		for (const sink of sinks) {
			if (ids.has(sink.id)) {
				throw new UsageError(`two sinks have the id '${sink.id}' (give --sink URLs an id with ?id=NAME)`);
			}

			ids.add(sink.id);
		}

		const flagOf = (id: string) => args.sink![flagSinks.findIndex(sink => sink.id === id)];
		checkOneStdoutSink(sinks, id => (flagOf(id) === undefined ? `sinks.${id}` : `--sink ${flagOf(id)!}`), message => {
			throw new UsageError(message);
		});
		config.sinks = sinks;
		config.sink = sinks[0]!;
	}

	return config;
}

async function start(args: StartArgs): Promise<number> {
	const logger = createLogger({verbose: args.verbose, format: args['log-format']});
	const config = pipelineFromArgs(args);
	const route = compileRoute(config);
	const flagFilter = compileFilter(filterFromFlags(args), 'flags');
	const accept = (event: KernelEventFields): boolean => flagFilter(event) && route(event);
	const paths = [...config.source.paths, ...(args.paths ?? []), ...args._.slice(1).map(String)];
	const stdoutSink = config.sinks.find(sink => sink.type === 'stdout');
	const format = stdoutSink?.format ?? args.format ?? 'json';
	// With several sinks each checks its own route; the monitor's filter lets through what any wants.
	const routed = config.sinks.length > 1;
	const stdoutRoute = stdoutSink ? compileRoutes(config).get(stdoutSink.id)! : undefined;
	const loaderPath = args.loader ?? config.source.loader ?? defaultLoaderPath();
	try {
		accessSync(loaderPath, constants.X_OK);
	} catch (error) {
		throw new LoaderMissingError(loaderPath, {cause: error});
	}

	// Mistakes in what was asked are reported before anything is claimed (the monitor says the
	// symlinks and relative paths it resolves, once).
	const allowAbsent = args['allow-absent'] ?? config.source.allow_absent ?? false;
	normalizeWatchPaths(paths, () => {}, process.cwd(), allowAbsent);
	// Before the state directory is made: without privileges the loader fails anyway, and a
	// start that cannot run must leave nothing behind.
	const privileges = checkPrivileges();
	if (privileges.status !== 'ok') {
		throw new RuntimeError(`permission denied (run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): ${privileges.detail}`);
	}

	const stateDirectory = prepareStateDirectory(args['state-dir'] ?? config.data_dir ?? defaultStateDirectory);
	const schedPolicy = args['sched-policy'] ?? config.source.sched_policy ?? 'batch';
	await useSchedPolicy(schedPolicy, logger);
	const options = {
		paths,
		loaderPath,
		filter: accept,
		enrich: args.enrich && config.source.enrich,
		allowAbsent,
		stateDir: stateDirectory,
		scanRate: nonNegativeInteger(args['scan-rate'] ?? config.source.scan_rate, '--scan-rate'),
		backend: args.backend ?? config.source.backend,
		restart: config.source.restart,
		tuning: {
			coalesceMs: loaderTunable('coalesce_ms', args['coalesce-ms'], config.source.coalesce_ms),
			maxDelayUs: loaderTunable('max_delay_us', args['max-delay-us'], config.source.max_delay_us),
			busyDelayUs: loaderTunable('busy_delay_us', args['busy-delay-us'], config.source.busy_delay_us),
			ringbufMb: loaderTunable('ringbuf_mb', args['ringbuf-mb'], config.source.ringbuf_mb),
			statsInterval: loaderTunable('stats_interval', args['stats-interval'], config.source.stats_interval),
			schedPolicy,
		},
		logger,
	};
	// Claimed first: a second fimctl on the same state directory is refused before it touches anything.
	let describe: StatusProvider = () => ({starting: true, pid: process.pid});
	const control = await ControlServer.listen(stateDirectory, () => describe());
	const host = hostname();
	let pipeline: Pipeline | undefined;
	let monitor: WhoDataMonitor;
	let metrics: Metrics | undefined;
	let metricsServer: Server | undefined;
	try {
		// Sinks other than stdout, opened before the loader runs (a file that cannot be opened fails here).
		pipeline = await Pipeline.create(config, {logger, host, defaultFormat: args.format, stateDirectory});
		if (args.metrics !== undefined) {
			// Imported only when asked for: prom-client and an HTTP server are memory every other fimctl would carry.
			const {Metrics} = await import('./metrics.js');
			metrics = new Metrics(pipeline, config.source.id);
			metricsServer = await metrics.serve(args.metrics);
			logger.info(`metrics on http://${args.metrics}/metrics`);
		}

		monitor = await WhoDataMonitor.create({...options, host});
	} catch (error) {
		metricsServer?.close();
		await pipeline?.close();
		await control.close();
		throw error;
	}

	const sinks = pipeline;
	metrics?.watch(monitor);
	logger.info(`watching ${monitor.paths.join(', ')}`);
	sinks.attach(monitor, routed);

	const sink = createStdoutSink();
	const render = createFormatter(format);
	const renderLine = format === 'json'
		? (item: MonitorBatchItem) => `${item.json}\n`
		: (item: MonitorBatchItem) => `${render(item).join('\n')}\n`;
	// A slow reader never holds up the loader: records wait in the sink's buffer (memory, then
	// the spool), and only `when_full: block` pauses the loader once both are full.
	const buffer = stdoutSink && SinkBuffer.open(sink, {
		id: stdoutSink.id,
		...stdoutSink.buffer,
		spoolDirectory: join(stateDirectory, 'spool', stdoutSink.id),
		renderGap: record => renderLine({record, json: supervisorJsonLine(record)}),
		onWarning: message => {
			logger.warn(message);
		},
	});
	// What stdout's buffer keeps at stop is told from what went in and what came out of it. The
	// records an earlier run left in its spool were counted by no one: with them, it is told in bytes.
	const spoolFromEarlierRun = (buffer?.stats().spool_bytes ?? 0) > 0;
	let handedToStdout = 0;
	// each run of discards puts one record of the buffer's own in the stream
	let discardRecords = 0;
	buffer?.on('discard', () => {
		discardRecords++;
	});
	const rate = new EventRate(monitor);
	describe = async () => ({...statusOf(monitor, buffer, sinks, config, stateDirectory, rate), absent_paths: await absentPathsOf(monitor)});
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

	buffer?.on('idle', () => {
		stalled = false;
		resumeReading();
	});
	buffer?.on('drain', () => {
		if (blocked) {
			blocked = false;
			if (!paced) {
				monitor.resume();
			}
		}
	});
	monitor.on('batch', (items: MonitorBatchItem[]) => {
		if (!buffer) {
			return;
		}

		const mine = routed ? items.filter(item => takenByRoute(item, stdoutRoute!)) : items;
		const entries = mine.map(item => bufferEntryOf(item, renderLine(item)));
		handedToStdout += entries.length;
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
			await sinks.close();
			metricsServer?.close();
			metricsServer?.closeAllConnections();
			// stdout's 5 s, for its buffer and then the stream's own pending bytes together
			const deadline = Date.now() + flushTimeoutMs;
			const left = buffer ? await buffer.close(flushTimeoutMs) : {spooled: 0, discarded: 0};
			const stdoutStats = buffer?.stats();
			// close() counts only what memory held; what the stall had spooled before is kept too
			const kept = !stdoutStats || stdoutStats.spool_bytes === 0 ? undefined
				: spoolFromEarlierRun ? `${stdoutStats.spool_bytes} byte(s) of records`
					: `${handedToStdout + discardRecords - stdoutStats.sent_total - stdoutStats.discarded_total} record(s)`;
			if (kept) {
				logger.warn(`${kept} the reader did not take within ${flushTimeoutMs / 1000} s are kept in the spool under ${stateDirectory}; they are written first at the next start`);
			}

			if (left.discarded > 0) {
				logger.error(`${left.discarded} record(s) the reader did not take within ${flushTimeoutMs / 1000} s are lost (the sink has no spool)`);
			}

			await Promise.race([sink.end(), new Promise(resolve => {
				setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
			})]);
			const {counters} = monitor;
			// "passed on", not "sent": into the sinks' buffers; stdout's part says what was written
			const stdoutLine = stdoutStats ? `; stdout: ${stdoutStats.sent_total} record(s) written, ${kept ?? '0 record(s)'} kept in the spool, ${stdoutStats.discarded_total} discarded` : '';
			logger.debug(`events received ${counters.events_received_total}, passed on ${counters.events_sent_total}, discarded ${counters.events_discarded_total}, lost ${counters.events_lost_total}; supervisor records passed on ${counters.supervisor_records_sent_total}${stdoutLine}`);
			resolve(code);
		};

		// `on`, not `once`: execa's exit hook re-raises a signal that no other listener holds,
		// which would kill us mid-shutdown; a second signal during shutdown is simply ignored.
		process.on('SIGINT', () => void stop(0, 'interrupted; stopping'));
		process.on('SIGTERM', () => void stop(0, 'terminated; stopping'));
		process.on('SIGHUP', () => {
			logger.info('SIGHUP: reopening files');
			sinks.reopen();
		});
		if (buffer) {
			sink.on('closed', (reason: string) => void stop(0, `${reason}; stopping`));
			sink.on('error', (error: FimError) => {
				monitor.counters.errors_total.sending++;
				void stop(error.exitCode, error.message, 'error');
			});
		}

		sinks.on('fatal', (error: SinkError, id: string) => {
			monitor.counters.errors_total.sending++;
			void stop(error.exitCode, `sink ${id}: ${error.message}`, 'error');
		});
		monitor.on('error', (error: FimError) => {
			void stop(error.exitCode, error.message, 'error');
		});
	});
}

const startedAt = Date.now();

/**
 * Events per second over the last 10 s, from a sample of the counters each second; in the
 * first seconds after start, over the time since then.
 */
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

	/** The rate, and the seconds it was taken over (fewer than 10 just after start). */
	now(): {perSecond: number; seconds: number} {
		this.sample();
		const [firstAt, firstCount] = this.samples[0]!;
		const [lastAt, lastCount] = this.samples.at(-1)!;
		const seconds = (lastAt - firstAt) / 1000;
		return {perSecond: seconds > 0 ? Math.round((lastCount - firstCount) / seconds * 10) / 10 : 0, seconds: Math.round(seconds * 10) / 10};
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

/**
 * The watched paths that do not exist now, as the loader says; null when it cannot say within a
 * second (restarting, stopped): status answers all the same.
 */
async function absentPathsOf(monitor: WhoDataMonitor): Promise<string[] | null> {
	const late = new Promise<null>(resolve => {
		setTimeout(resolve, 1000, null).unref();
	});
	return Promise.race([monitor.absentPaths().catch(() => null), late]);
}

function statusOf(monitor: WhoDataMonitor, buffer: SinkBuffer | undefined, pipeline: Pipeline, config: PipelineConfig, stateDirectory: string, rate: EventRate): Record<string, unknown> {
	const {counters} = monitor;
	const last = monitor.lastReconcile;
	const {perSecond, seconds} = rate.now();
	const stdoutSink = config.sinks.find(sink => sink.type === 'stdout');
	const bufferStats = buffer?.stats() ?? {discarded_total: 0, spool_bytes: 0};
	const others = pipeline.sinks.map(({config: sink, sink: destination, queue}) => {
		const {events_sent_total: sent, events_discarded_total: discarded, retries_total: retries} = queue.counters;
		return {
			id: sink.id,
			type: sink.type,
			target: destination.target,
			buffer: {...sink.buffer, memory_events: queue.size, spool_bytes: queue.spoolBytes, spool_files: queue.spoolFiles, sent_total: sent, discarded_total: discarded, retries_total: retries},
		};
	});
	return {
		pid: process.pid,
		version: packageVersion,
		state_dir: stateDirectory,
		started_at: new Date(startedAt).toISOString(),
		uptime_s: Math.round((Date.now() - startedAt) / 1000),
		paths: monitor.paths,
		events_per_second: perSecond,
		events_per_second_window_s: seconds,
		events_received_total: counters.events_received_total,
		events_reconciled_total: counters.events_reconciled_total,
		// whatever the sinks: what each of them delivered is its own sent_total
		events_sent_total: counters.events_sent_total,
		// the filters' and every sink's: an event two sinks discard counts twice
		events_discarded_total: counters.events_discarded_total + bufferStats.discarded_total + others.reduce((sum, sink) => sum + sink.buffer.discarded_total, 0),
		events_lost_total: counters.events_lost_total,
		loader_restarts_total: counters.loader_restarts_total,
		errors_total: counters.errors_total,
		spool_bytes: bufferStats.spool_bytes + others.reduce((sum, sink) => sum + sink.buffer.spool_bytes, 0),
		sinks: [...(stdoutSink && buffer ? [{id: stdoutSink.id, type: stdoutSink.type, buffer: {...stdoutSink.buffer, ...buffer.stats()}}] : []), ...others],
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
	const number = (value: unknown): string => (typeof value === 'number' ? groupThousands(value) : '?');
	const render = (rows: Array<[string, string]>): string => rows.map(([key, value]) => `${key.padEnd(12)} ${value}\n`).join('');
	if (status['starting'] === true) {
		// asked in the second or so between the control socket and the loader's hello
		return render([['fimctl', `starting, pid ${String(status['pid'])}: the sensor is not running yet; ask again in a moment`]]);
	}

	const lines: Array<[string, string]> = [];

	const uptime = Number(status['uptime_s'] ?? 0);
	const hms = `${Math.floor(uptime / 3600)}h ${String(Math.floor(uptime / 60) % 60).padStart(2, '0')}m ${String(uptime % 60).padStart(2, '0')}s`;
	lines.push(['fimctl', `${String(status['version'])}, pid ${String(status['pid'])}, up ${hms} (since ${String(status['started_at'])})`]);
	const absent = status['absent_paths'] as string[] | null | undefined;
	lines.push(['watching', `${(status['paths'] as string[] | undefined ?? []).join(', ')}${absent?.length ? `; not there now, watched from when made: ${absent.join(', ')}` : ''}${absent === null ? '; which exist now: unknown (the loader did not answer)' : ''}`]);
	const sinks = status['sinks'] as Array<{id: string; type: string; buffer: Record<string, unknown>}> | undefined ?? [];
	const discarded = status['events_discarded_total'];
	const bySinks = sinks.reduce((sum, sink) => sum + Number(sink.buffer['discarded_total'] ?? 0), 0);
	const byFilters = typeof discarded === 'number' ? discarded - bySinks : undefined;
	lines.push(['events', `${number(status['events_per_second'])}/s over the last ${number(status['events_per_second_window_s'])} s; ${number(status['events_received_total'])} from the kernel, ${number(status['events_reconciled_total'])} found by reconciliation, ${number(status['events_sent_total'])} passed on, ${number(discarded)} discarded (${number(byFilters)} by filters, ${number(bySinks)} by sinks)`]);
	lines.push(['lost', `${number(status['events_lost_total'])} (records the kernel could not deliver)`]);
	lines.push(['restarts', `${number(status['loader_restarts_total'])} (of the loader)`]);
	for (const sink of sinks) {
		const {buffer} = sink;
		lines.push([`sink ${sink.id}`, `${sink.type}; memory ${number(buffer['memory_events'])}/${number(buffer['max_events'])} records, spool ${number(buffer['spool_bytes'])} bytes in ${number(buffer['spool_files'])} file(s) (max ${number(buffer['max_size'])}), ${number(buffer['discarded_total'])} discarded${buffer['waiting_for_sink'] ? ', waiting for its reader' : ''}`]);
	}

	const reconcile = status['reconcile'] as {running: boolean; last: Record<string, unknown> | null} | undefined;
	const last = reconcile?.last;
	lines.push(['reconcile', `${last ? `last after ${String(last['trigger'])} at ${String(last['finished_at'])}: ${number(last['scanned'])} entries in ${number(last['duration_ms'])} ms, ${number(last['changes'])} change(s)` : 'none finished yet'}${reconcile?.running ? '; one running now' : ''}`]);
	return render(lines);
}

async function validate(args: StartArgs): Promise<number> {
	const config = pipelineFromArgs(args);
	for (const warning of pipelineWarnings(config)) {
		process.stderr.write(`fimctl: warn: ${warning}\n`);
	}

	process.stdout.write(`config ${args.config!}: valid\n${describePipeline(config, args.format)}\n`);

	return 0;
}

async function check(args: CheckArgs): Promise<number> {
	const loaderPath = args.loader ?? defaultLoaderPath();
	const rows = await runChecks({loaderPath, backend: args.backend});
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
	// the loader names itself and the protocol it speaks: "fim-loader 0.1.0 (protocol 1)"
	const loaderLine = result.exitCode === 0 ? String(result.stdout).trim() : `fim-loader not available (${loaderPath})`;
	process.stdout.write(`fimctl ${packageVersion} (protocol ${supportedProtocol})\n${loaderLine}\n`);
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
