import {basename, dirname, extname} from 'node:path';
import {isoTimeFromNs, timestampDigits} from './format-time.js';
import type {MonitorBatchItem} from './monitor.js';
import {isSupervisorRecord, type Operation, type ProcessContext, type SupervisorRecord, type WhoDataEvent} from './types.js';

/**
 * The `ecs` format: Elastic Common Schema 8.x. ECS fields where ECS has one; the rest under
 * `fim_whodata.*`. Unknown values are left out (Elasticsearch treats a missing field and a null
 * alike, and ECS documents say so). docs/formats.md has the mapping.
 */

export const ecsVersion = '8.11.0';

/** Auditbeat's file_integrity action names, so that dashboards built for it keep working. */
const ecsAction: Record<Operation, string> = {
	add: 'created',
	modify: 'updated',
	delete: 'deleted',
	rename: 'moved',
	attrib: 'attributes_modified',
};

const ecsType: Record<Operation, string> = {
	add: 'creation',
	modify: 'change',
	delete: 'deletion',
	rename: 'change',
	attrib: 'change',
};

export function ecsLine(item: MonitorBatchItem): string {
	const {record} = item;
	const timestamp = isoTimeFromNs(timestampDigits(item));
	return JSON.stringify(isSupervisorRecord(record) ? ecsSupervisor(record, timestamp) : ecsEvent(record as WhoDataEvent, item.context, timestamp));
}

function ecsEvent(event: WhoDataEvent, context: ProcessContext | undefined, timestamp: string): Record<string, unknown> {
	const file = prune({
		path: event.path,
		name: basename(event.path),
		directory: dirname(event.path),
		extension: extname(event.path).slice(1) || undefined,
		// ECS keeps inodes as keywords: they are identifiers, not quantities.
		inode: typeof event.inode === 'number' ? String(event.inode) : undefined,
		device: event.dev,
		type: event.file_type,
	});
	const whodata = event.source !== 'reconcile';
	const document: Record<string, unknown> = {
		'@timestamp': timestamp,
		ecs: {version: ecsVersion},
		event: {
			kind: 'event',
			category: ['file'],
			type: [ecsType[event.operation] ?? 'change'],
			action: ecsAction[event.operation] ?? event.operation,
			module: 'fim_whodata',
			dataset: 'fim_whodata.file',
			outcome: 'success',
		},
		file,
	};
	if (whodata) {
		document['process'] = prune({
			pid: event.pid,
			name: event.process_name,
			executable: event.exe,
			command_line: event.cmdline,
			working_directory: event.cwd,
			thread: {id: event.tid},
			parent: prune({pid: event.ppid, name: event.parent_name, executable: context?.parent_exe}),
		});
		document['user'] = prune({
			id: String(event.uid),
			name: event.user_name,
			effective: prune({id: String(event.euid), name: event.euid === event.uid ? event.user_name : context?.effective_user_name}),
		});
		document['group'] = prune({id: String(event.gid), name: event.group_name});
	}

	if (typeof event.host === 'string') {
		document['host'] = {hostname: event.host};
	}

	if (typeof event.container_id === 'string') {
		document['container'] = {id: event.container_id};
	}

	document['fim_whodata'] = prune({
		operation: event.operation,
		syscall: event.syscall,
		source: event.source,
		old_path: event.old_path,
		egid: whodata ? event.egid : undefined,
		auid: event.auid,
		login_user: event.login_user,
		session_id: event.session_id,
		cgroup_id: whodata ? event.cgroup_id : undefined,
		path_b64: event.path_b64,
		old_path_b64: event.old_path_b64,
		exe_b64: event.exe_b64,
		cmdline_b64: event.cmdline_b64,
		truncated: event.truncated,
	});
	return document;
}

function ecsSupervisor(record: SupervisorRecord, timestamp: string): Record<string, unknown> {
	const {type: _type, host, message, ...fields} = record;
	return {
		'@timestamp': timestamp,
		ecs: {version: ecsVersion},
		event: {kind: 'event', category: ['host'], type: ['info'], action: `supervisor-${record.kind}`, module: 'fim_whodata', dataset: 'fim_whodata.supervisor'},
		message,
		host: {hostname: host},
		fim_whodata: {supervisor: fields},
	};
}

/** Drops null and undefined members, and returns undefined for what is left empty. */
function prune(object: Record<string, unknown>): Record<string, unknown> | undefined {
	const result: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(object)) {
		if (value !== null && value !== undefined) {
			result[key] = value;
		}
	}

	return Object.keys(result).length > 0 ? result : undefined;
}
