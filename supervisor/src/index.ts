/**
 * fim-whodata: watch paths and learn who changed which file.
 *
 *   const monitor = await WhoDataMonitor.create({paths: ['/etc']});
 *   for await (const record of monitor) { ... }
 */
export {WhoDataMonitor, type WhoDataMonitorOptions, type MonitorBatchItem, type MonitorCounters, type Logger} from './monitor.js';
export {
	isSupervisorRecord,
	isReconcileEvent,
	operations,
	type WhoDataEvent,
	type ReconcileEvent,
	type KernelEventFields,
	type EnrichmentFields,
	type MonitorRecord,
	type SupervisorRecord,
	type SupervisorRecordKind,
	type Operation,
	type FileType,
	type HelloRecord,
	type ProcessContext,
	type StatsRecord,
} from './types.js';
export {compileFilter, type FilterSpec, type EventPredicate} from './filters.js';
export {loadConfigFile, parseConfig, type PipelineConfig} from './config.js';
export {eventTextLine, recordTextLine, createFormatter, formatNames, type FormatName, type Formatter} from './formats.js';
export {Pipeline, type PipelineOptions, type SinkRuntime} from './pipeline.js';
export type {SinkConfig, SinkType} from './sink-config.js';
export {SinkError, type Sink, type SinkEntry, type SendOutcome} from './sinks.js';
export {loaderBackends, type LoaderBackend, type LoaderTuning} from './supervise.js';
export type {RestartPolicyOptions} from './restart-policy.js';
export {systemClock, ManualClock, type Clock} from './clock.js';
export {defaultLoaderPath} from './loader-path.js';
export {
	FimError,
	UsageError,
	RuntimeError,
	UnsupportedSystemError,
	ConfigError,
	LoaderMissingError,
	LoaderRefusedError,
	CrashLoopError,
} from './errors.js';
