import {lstatSync, type Stats} from 'node:fs';
import {isoTimeFromNs, timestampDigits} from './format-time.js';
import type {MonitorBatchItem} from './monitor.js';
import {isSupervisorRecord, type Operation, type ProcessContext, type WhoDataEvent} from './types.js';

/**
 * The `wazuh` format: the shape of a Wazuh FIM whodata alert (`syscheck.*`), so that a Wazuh
 * agent reading our file sink with `<log_format>json</log_format>` hands its rules the fields
 * they know. docs/formats.md has the mapping and the field list.
 *
 * Wazuh has no rename: like Wazuh itself, a rename becomes `deleted` for the old path then
 * `added` for the new one, both with the whodata of the process that renamed.
 */

const wazuhEvent: Record<Operation, 'added' | 'modified' | 'deleted'> = {
	add: 'added',
	modify: 'modified',
	attrib: 'modified',
	delete: 'deleted',
	rename: 'added',
};

/**
 * `truncated` names the fields of the event, whose `path` is the new name of a rename: the
 * deleted half shows the old name as `syscheck.path`, and the new one only in `rename`.
 */
const deletedHalfNames = new Map([['path', 'new_path'], ['old_path', 'path']]);

export function wazuhLines(item: MonitorBatchItem): string[] {
	const {record} = item;
	if (isSupervisorRecord(record)) {
		return [JSON.stringify({timestamp: wazuhTime(timestampDigits(item)), fim_whodata: record})];
	}

	// A reconcile event has null whodata; its source says so, and no audit part is made for it.
	const event = record as WhoDataEvent;
	const digits = timestampDigits(item);
	if (event.operation === 'rename' && typeof event.old_path === 'string') {
		return [
			wazuhLine(event, item.context, digits, event.old_path, event.old_path_b64, 'deleted'),
			wazuhLine(event, item.context, digits, event.path, event.path_b64, 'added'),
		];
	}

	return [wazuhLine(event, item.context, digits, event.path, event.path_b64, wazuhEvent[event.operation] ?? 'modified')];
}

/**
 * `pathB64`: the path's bytes when they are not UTF-8 (`path` then holds U+FFFD for them). It is
 * the line's `fim_whodata.path_b64`, so that it always names `syscheck.path`: for the deleted half
 * of a rename, the old path's bytes.
 */
function wazuhLine(event: WhoDataEvent, context: ProcessContext | undefined, digits: string, path: string, pathB64: string | null | undefined, change: 'added' | 'modified' | 'deleted'): string {
	const whodata = event.source !== 'reconcile';
	const syscheck: Record<string, unknown> = {
		path,
		// A change found by a scan has no actor: Wazuh calls that mode "scheduled".
		mode: whodata ? 'whodata' : 'scheduled',
		event: change,
	};
	if (change !== 'deleted') {
		Object.assign(syscheck, attributesAfter(event, typeof pathB64 === 'string' ? Buffer.from(pathB64, 'base64') : path));
	}

	if (whodata) {
		syscheck['audit'] = audit(event, context);
	}

	const extras: Record<string, unknown> = {
		operation: event.operation,
		source: event.source,
		timestamp_ns: digits,
	};
	if (event.syscall !== null) { // unknown for a change a scan found: left out, as unknown values are
		extras['syscall'] = event.syscall;
	}

	if (event.operation === 'rename') {
		// Both names on both halves, each with its own bytes.
		const rename: Record<string, unknown> = {old_path: event.old_path ?? null, new_path: event.path};
		if (typeof event.old_path_b64 === 'string') {
			rename['old_path_b64'] = event.old_path_b64;
		}

		if (typeof event.path_b64 === 'string') {
			rename['new_path_b64'] = event.path_b64;
		}

		extras['rename'] = rename;
	}

	for (const key of ['host', 'cmdline', 'container_id', 'session_id', 'exe_b64', 'cmdline_b64', 'truncated'] as const) {
		if (event[key] !== undefined && event[key] !== null) {
			extras[key] = event[key];
		}
	}

	if (event.operation === 'rename' && change === 'deleted' && Array.isArray(event.truncated)) {
		extras['truncated'] = event.truncated.map(field => deletedHalfNames.get(field) ?? field);
	}

	if (typeof pathB64 === 'string') {
		extras['path_b64'] = pathB64;
	}

	return JSON.stringify({timestamp: wazuhTime(digits), syscheck, fim_whodata: extras});
}

/** Wazuh writes ids as strings and names beside them; unknown parts are left out. */
function idName(id: number | null | undefined, name: string | null | undefined): Record<string, string> | undefined {
	if (typeof id !== 'number') {
		return undefined;
	}

	return typeof name === 'string' ? {id: String(id), name} : {id: String(id)};
}

function audit(event: WhoDataEvent, context: ProcessContext | undefined): Record<string, unknown> {
	const process: Record<string, string> = {
		id: String(event.pid),
		// Wazuh's process name is the executable's path.
		name: event.exe ?? event.process_name,
		ppid: String(event.ppid),
	};
	const optional: Array<[string, string | null | undefined]> = [
		['cwd', event.cwd],
		['parent_name', context?.parent_exe ?? event.parent_name],
		['parent_cwd', context?.parent_cwd],
	];
	for (const [key, value] of optional) {
		if (typeof value === 'string') {
			process[key] = value;
		}
	}

	const result: Record<string, unknown> = {
		user: idName(event.uid, event.user_name),
		login_user: idName(event.auid, event.login_user),
		effective_user: idName(event.euid, event.euid === event.uid ? event.user_name : context?.effective_user_name),
		group: idName(event.gid, event.group_name),
		process,
	};
	for (const key of Object.keys(result)) {
		if (result[key] === undefined) {
			delete result[key];
		}
	}

	return result;
}

/**
 * `*_after` attributes. The event carries the inode; size, permissions, owner and mtime are read
 * from the file when the line is made (as Wazuh does after an audit event), and only if the file
 * there is still the one the kernel reported (same inode): otherwise they are left out.
 */
function attributesAfter(event: WhoDataEvent, path: string | Buffer): Record<string, unknown> {
	const attributes: Record<string, unknown> = {};
	if (typeof event.inode === 'number') {
		attributes['inode_after'] = event.inode;
	}

	let stats: Stats | undefined;
	try {
		stats = lstatSync(path, {throwIfNoEntry: false});
	} catch {
		stats = undefined;
	}

	if (stats && (typeof event.inode !== 'number' || stats.ino === event.inode)) {
		Object.assign(attributes, {
			size_after: String(stats.size),
			perm_after: permissionString(stats.mode),
			uid_after: String(stats.uid),
			gid_after: String(stats.gid),
			mtime_after: new Date(Math.floor(stats.mtimeMs / 1000) * 1000).toISOString().slice(0, 19),
			inode_after: stats.ino,
		});
	}

	return attributes;
}

/** `rw-r--r--`, with s/S and t/T for the set-id and sticky bits, as `ls -l` and Wazuh write it. */
export function permissionString(mode: number): string {
	const bit = (mask: number, char: string): string => ((mode & mask) === 0 ? '-' : char);
	const special = (execute: boolean, set: boolean, lower: string): string => {
		if (set) {
			return execute ? lower : lower.toUpperCase();
		}

		return execute ? 'x' : '-';
	};

	return bit(0o400, 'r') + bit(0o200, 'w') + special((mode & 0o100) !== 0, (mode & 0o4000) !== 0, 's')
		+ bit(0o40, 'r') + bit(0o20, 'w') + special((mode & 0o10) !== 0, (mode & 0o2000) !== 0, 's')
		+ bit(0o4, 'r') + bit(0o2, 'w') + special((mode & 0o1) !== 0, (mode & 0o1000) !== 0, 't');
}

/** Wazuh's alert timestamp: `2018-07-10T14:05:28.452+0000`. */
function wazuhTime(digits: string): string {
	return `${isoTimeFromNs(digits).slice(0, 23)}+0000`;
}
