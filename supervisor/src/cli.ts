import {accessSync, constants, readFileSync} from 'node:fs';
import {execa} from 'execa';
import yargs, {type Argv} from 'yargs';
import {formatCheckTable, runChecks} from './check.js';
import type {Server} from 'node:http';
import {hostname} from 'node:os';
import {compileRoute, flagsOnlyConfig, loadConfigFile, type PipelineConfig} from './config.js';
import {FimError, LoaderMissingError, UsageError} from './errors.js';
import {compileFilter, parseIds, parseOperations, type FilterSpec} from './filters.js';
import {formatNames, type FormatName} from './formats.js';
import {createLogger, type LogFormat} from './log.js';
import {defaultLoaderPath} from './loader-path.js';
import {WhoDataMonitor, type Logger} from './monitor.js';
import {Metrics} from './metrics.js';
import {Pipeline} from './pipeline.js';
import {sinkFromUrl} from './sink-url.js';
import {describePipeline, pipelineWarnings} from './validate.js';
import type {SinkError} from './sinks.js';
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
	'coalesce-ms'?: number;
	'ringbuf-mb'?: number;
	'stats-interval'?: number;
	enrich: boolean;
};

type CheckArgs = GlobalArgs & {loader?: string};

export async function main(argv: string[]): Promise<number> {
	let logFormat: LogFormat = argv.includes('json') && argv.some(arg => arg.startsWith('--log-format')) ? 'json' : 'text';
	let verbose = argv.includes('--verbose') || argv.includes('-v');
	let outcome: Promise<number> | undefined;
	const parser = yargs(argv)
		.scriptName('fimctl')
		.usage('$0 <command> [options]\n\nReal-time file integrity monitoring: who changed which file.')
		.option('verbose', {alias: 'v', type: 'boolean', default: false, describe: 'Debug diagnostics on stderr'})
		.option('log-format', {choices: ['text', 'json'] as const, default: 'text' as LogFormat, describe: 'Format of the diagnostics on stderr'})
		.command('start [paths..]', 'Watch paths and send one event per change to stdout, or to the sinks named', startOptions, args => {
			logFormat = args['log-format'] as LogFormat;
			verbose = Boolean(args.verbose);
			outcome = start(args as unknown as StartArgs);
		})
		.command('validate', 'Check a config file (and --sink flags) and print the pipeline it describes', (y: Argv) => y
			.option('config', {alias: 'c', type: 'string', demandOption: true, describe: 'Config file (YAML or JSON)'})
			.option('sink', {type: 'string', array: true, describe: 'Sinks as for start'})
			.option('format', {alias: 'f', choices: formatNames, describe: 'Format of the sinks that name none'})
			.example('$0 validate --config /etc/fim-whodata/config.yaml', 'Exit 0 and the pipeline if valid, 2 and one line if not'), args => {
			logFormat = args['log-format'] as LogFormat;
			verbose = Boolean(args.verbose);
			outcome = validate(args as unknown as StartArgs);
		})
		.command('check', 'Check that the sensor can run on this system (exit 0 if it can)', (y: Argv) => y
			.option('loader', {type: 'string', describe: 'Loader binary (default: $FIM_LOADER or build/fim-loader)'}), args => {
			logFormat = args['log-format'] as LogFormat;
			verbose = Boolean(args.verbose);
			outcome = check(args as unknown as CheckArgs);
		})
		.command('version', 'Print the versions of fimctl and the loader', (y: Argv) => y
			.option('loader', {type: 'string', describe: 'Loader binary'}), args => {
			outcome = version((args as unknown as CheckArgs).loader);
		})
		.demandCommand(1, 'give a command: start, validate, check or version')
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
		.option('format', {alias: 'f', choices: formatNames, describe: 'Format of the sinks that name none (default json; docs/formats.md)'})
		.option('sink', {type: 'string', array: true, describe: 'Send events there (repeatable; replaces stdout): stdout, file:///PATH, syslog[+tcp|+unix]://HOST:PORT, http(s)://URL, fluent[+tls]://HOST:PORT; options as ?key=value (docs/sinks.md)'})
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
		.option('metrics', {type: 'string', describe: 'Serve Prometheus metrics at HOST:PORT/metrics (e.g. 127.0.0.1:9464); off by default'})
		.option('loader', {type: 'string', describe: 'Loader binary (default: $FIM_LOADER or build/fim-loader)'})
		.option('coalesce-ms', {type: 'number', describe: 'Modify coalescing window in ms (loader default 1000)'})
		.option('ringbuf-mb', {type: 'number', describe: 'Ring buffer size in MiB, a power of two (loader default 16)'})
		.option('stats-interval', {type: 'number', describe: 'Seconds between loader stats records (loader default 5)'})
		.option('enrich', {type: 'boolean', default: true, describe: 'Add /proc and user-database fields (--no-enrich to skip)'})
		.example('$0 start /etc /var/log', 'JSON events for two subtrees')
		.example('$0 start --format text /etc', 'One readable line per change')
		.example('$0 start --exclude \'**/*.swp\' --ops add,delete /srv', 'Filter in the supervisor')
		.example('$0 start /etc | fluent-bit -i stdin -o stdout', 'Feed Fluent Bit')
		.example('$0 start /etc --sink fluent://127.0.0.1:24224', 'To a Fluent Bit or Fluentd forward input, with acknowledgements')
		.example('$0 start /etc --sink \'file:///var/log/fim/wazuh.json?format=wazuh&rotate.max_bytes=100M\'', 'A rotating file a Wazuh agent reads')
		.example('$0 start /etc --sink stdout --sink syslog+tcp://127.0.0.1:601', 'Several sinks at once')
		.example('$0 start --config fim.yaml --metrics 127.0.0.1:9464', 'Paths, filters and sinks from a config file; Prometheus metrics');
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

/** The pipeline that `start` and `validate` run: the config file, plus `--sink` flags. */
function pipelineFromArgs(args: StartArgs): PipelineConfig {
	const config = args.config ? loadConfigFile(args.config) : flagsOnlyConfig();
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
	const paths = [...config.source.paths, ...(args.paths ?? [])];
	const loaderPath = args.loader ?? config.source.loader ?? defaultLoaderPath();
	try {
		accessSync(loaderPath, constants.X_OK);
	} catch (error) {
		throw new LoaderMissingError(loaderPath, {cause: error});
	}

	const host = hostname();
	const pipeline = await Pipeline.create(config, {logger, host, defaultFormat: args.format});
	let monitor: WhoDataMonitor;
	let metrics: Metrics | undefined;
	let metricsServer: Server | undefined;
	try {
		if (args.metrics !== undefined) {
			metrics = new Metrics(pipeline, config.source.id);
			metricsServer = await metrics.serve(args.metrics);
			logger.info(`metrics on http://${args.metrics}/metrics`);
		}

		monitor = await WhoDataMonitor.create({
			paths,
			loaderPath,
			filter: accept,
			enrich: args.enrich && config.source.enrich,
			host,
			tuning: {
				coalesceMs: nonNegativeInteger(args['coalesce-ms'] ?? config.source.coalesce_ms, '--coalesce-ms'),
				ringbufMb: nonNegativeInteger(args['ringbuf-mb'] ?? config.source.ringbuf_mb, '--ringbuf-mb'),
				statsInterval: nonNegativeInteger(args['stats-interval'] ?? config.source.stats_interval, '--stats-interval'),
			},
			logger,
		});
	} catch (error) {
		metricsServer?.close();
		await pipeline.close();
		throw error;
	}

	metrics?.watch(monitor);
	logger.info(`watching ${monitor.paths.join(', ')}`);
	for (const {config: sink, format} of pipeline.sinks) {
		logger.debug(`sink ${sink.id}: ${sink.type} ${format}`);
	}

	pipeline.attach(monitor);
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

			await monitor.close();
			await pipeline.close();
			metricsServer?.close();
			metricsServer?.closeAllConnections();
			const {counters} = monitor;
			logger.debug(`events received ${counters.events_received_total}, sent ${counters.events_sent_total}, discarded ${counters.events_discarded_total}, lost ${counters.events_lost_total}`);
			resolve(code);
		};

		// `on`, not `once`: execa's exit hook re-raises a signal that no other listener holds,
		// which would kill us mid-shutdown; a second signal during shutdown is simply ignored.
		process.on('SIGINT', () => void stop(0, 'interrupted; stopping'));
		process.on('SIGTERM', () => void stop(0, 'terminated; stopping'));
		process.on('SIGHUP', () => {
			logger.info('SIGHUP: reopening files');
			pipeline.reopen();
		});
		pipeline.on('fatal', (error: SinkError, id: string) => {
			monitor.counters.errors_total.sending++;
			if (error.closedByReader) {
				void stop(0, `${error.message}; stopping`);
			} else {
				void stop(error.exitCode, `sink ${id}: ${error.message}`, 'error');
			}
		});
		monitor.on('error', (error: FimError) => {
			void stop(error.exitCode, error.message, 'error');
		});
	});
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
