import {existsSync} from 'node:fs';
import {dirname} from 'node:path';
import type {PipelineConfig} from './config.js';
import type {FormatName} from './formats.js';
import type {SinkConfig} from './sink-config.js';

/**
 * `fimctl validate`: the pipeline a config describes, as a table a person can check, and what
 * will probably fail at start (a watched path or a file sink's directory that does not exist).
 */

export function describePipeline(config: PipelineConfig, defaultFormat: FormatName = 'json'): string {
	const rows: string[][] = [];
	const {source} = config;
	const tuning = (['coalesce_ms', 'ringbuf_mb', 'stats_interval'] as const).filter(key => source[key] !== undefined).map(key => `${key} ${source[key]!}`);
	rows.push(['sources', source.id, source.type, [`paths: ${source.paths.length > 0 ? source.paths.join(', ') : '(from the command line)'}`, `enrich: ${source.enrich ? 'yes' : 'no'}`, ...tuning].join('; ')]);
	for (const transform of config.transforms) {
		const filters = Object.entries(transform.filter).map(([key, value]) => `${key}: ${(value as unknown[]).join(', ')}`);
		rows.push(['transforms', transform.id, transform.type, [`inputs: ${transform.inputs.join(', ')}`, ...filters].join('; ')]);
	}

	for (const sink of config.sinks) {
		rows.push(['sinks', sink.id, sink.type, describeSink(sink, defaultFormat)]);
	}

	const widths = [0, 1, 2].map(column => Math.max(...rows.map(row => row[column]!.length)));
	return rows.map(row => row.map((cell, column) => (column < 3 ? cell.padEnd(widths[column]!) : cell)).join('  ')).join('\n');
}

function describeSink(sink: SinkConfig, defaultFormat: FormatName): string {
	const parts = [`inputs: ${sink.inputs.join(', ')}`, `format: ${sink.format ?? defaultFormat}`];
	switch (sink.type) {
		case 'stdout': {
			break;
		}

		case 'file': {
			parts.push(`path: ${sink.path}`);
			if (sink.rotate) {
				const when = [sink.rotate.max_bytes === undefined ? '' : `${sink.rotate.max_bytes} bytes`, sink.rotate.max_age_secs === undefined ? '' : `${sink.rotate.max_age_secs} s`].filter(Boolean).join(' or ');
				parts.push(`rotate at ${when}, keep ${sink.rotate.keep}${sink.rotate.compress ? ', gzip' : ''}`);
			}

			break;
		}

		case 'syslog': {
			parts.push(`${sink.mode} ${sink.mode === 'unix' ? sink.path! : sink.address!}`, `RFC ${sink.rfc}`, `${sink.facility}.${sink.severity}`);
			break;
		}

		case 'http': {
			parts.push(`POST ${sink.uri}`, sink.mode === 'elasticsearch' ? `_bulk into ${sink.index}` : 'NDJSON');
			if (sink.compression === 'gzip') {
				parts.push('gzip');
			}

			const headers = Object.keys(sink.request.headers);
			if (headers.length > 0) {
				parts.push(`headers: ${headers.join(', ')}`);
			}

			break;
		}

		case 'fluent': {
			parts.push(`forward to ${sink.address}${sink.tls.enabled ? ' over TLS' : ''}`, `tag ${sink.tag}`, sink.ack ? 'acks' : 'no acks');
			break;
		}
	}

	if (sink.filter) {
		parts.push(...Object.entries(sink.filter).map(([key, value]) => `${key}: ${(value as unknown[]).join(', ')}`));
	}

	parts.push(`buffer: ${sink.buffer.max_events} events, ${sink.buffer.when_full}`, `batch: ${sink.batch.max_events} events${sink.batch.timeout_secs > 0 ? ` or ${sink.batch.timeout_secs} s` : ''}`);
	return parts.join('; ');
}

/** What will probably fail at start, one line each. */
export function pipelineWarnings(config: PipelineConfig): string[] {
	const warnings: string[] = [];
	for (const path of config.source.paths) {
		if (!existsSync(path)) {
			warnings.push(`sources.${config.source.id}.paths: ${path} does not exist (yet)`);
		}
	}

	for (const sink of config.sinks) {
		if (sink.type === 'file' && !existsSync(dirname(sink.path))) {
			warnings.push(`sinks.${sink.id}.path: directory ${dirname(sink.path)} does not exist`);
		}

		if ((sink.type === 'http' || sink.type === 'fluent') && sink.tls.ca_file !== undefined && !existsSync(sink.tls.ca_file)) {
			warnings.push(`sinks.${sink.id}.tls.ca_file: ${sink.tls.ca_file} does not exist`);
		}
	}

	return warnings;
}
