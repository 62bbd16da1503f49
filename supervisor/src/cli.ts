import {accessSync, constants, readFileSync} from 'node:fs';
import {execa} from 'execa';
import yargs, {type Argv} from 'yargs';
import {formatCheckTable, runChecks} from './check.js';
import {compileRoute, loadConfigFile, type PipelineConfig} from './config.js';
import {FimError, LoaderMissingError, UsageError} from './errors.js';
import {compileFilter, parseIds, parseOperations, type FilterSpec} from './filters.js';
import {createFormatter, formatNames, type FormatName} from './formats.js';
import {createLogger, type LogFormat} from './log.js';
import {defaultLoaderPath} from './loader-path.js';
import {WhoDataMonitor, type Logger, type MonitorBatchItem} from './monitor.js';
import {createStdoutSink} from './sinks.js';
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
		.command('version', 'Print the versions of fimctl and the loader', (y: Argv) => y
			.option('loader', {type: 'string', describe: 'Loader binary'}), args => {
			outcome = version((args as unknown as CheckArgs).loader);
		})
		.demandCommand(1, 'give a command: start, check or version')
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
		.example('$0 start /etc /var/log', 'JSON events for two subtrees')
		.example('$0 start --format text /etc', 'One readable line per change')
		.example('$0 start --exclude \'**/*.swp\' --ops add,delete /srv', 'Filter in the supervisor')
		.example('$0 start /etc | fluent-bit -i stdin -o stdout', 'Feed Fluent Bit')
		.example('$0 start --config fim.yaml', 'Paths, filters and sink from a config file');
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
		: {source: {id: 'whodata', type: 'whodata', paths: [], enrich: true}, transforms: [], sink: {id: 'stdout', type: 'stdout', inputs: ['whodata'], format: 'json'}};
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

	const monitor = await WhoDataMonitor.create({
		paths,
		loaderPath,
		filter: accept,
		enrich: args.enrich && config.source.enrich,
		tuning: {
			coalesceMs: nonNegativeInteger(args['coalesce-ms'] ?? config.source.coalesce_ms, '--coalesce-ms'),
			ringbufMb: nonNegativeInteger(args['ringbuf-mb'] ?? config.source.ringbuf_mb, '--ringbuf-mb'),
			statsInterval: nonNegativeInteger(args['stats-interval'] ?? config.source.stats_interval, '--stats-interval'),
		},
		logger,
	});
	logger.info(`watching ${monitor.paths.join(', ')}`);

	const sink = createStdoutSink();
	const render = createFormatter(format);
	let waitingForDrain = false;
	monitor.on('batch', (items: MonitorBatchItem[]) => {
		let text = '';
		for (const item of items) {
			for (const line of render(item)) {
				text += `${line}\n`;
			}
		}

		// Batches already read keep coming for a moment after pause(): wait for one drain only.
		if (!sink.write(text) && !waitingForDrain) {
			waitingForDrain = true;
			monitor.pause();
			sink.once('drain', () => {
				waitingForDrain = false;
				monitor.resume();
			});
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

			await monitor.close();
			await sink.end();
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
