import test from 'ava';
import {createFormatter} from '../../supervisor/src/formats.js';
import type {MonitorBatchItem} from '../../supervisor/src/monitor.js';
import type {SupervisorRecord, WhoDataEvent} from '../../supervisor/src/types.js';

const ecs = createFormatter('ecs');

function item(fields: Partial<WhoDataEvent>): MonitorBatchItem {
	const record = {
		timestamp: 1_764_090_012_345_678_800, operation: 'rename', path: '/var/log/app.log.1', old_path: '/var/log/app.log', file_type: 'file', inode: 131_077,
		dev: '254:0', pid: 812, tid: 813, ppid: 640, uid: 0, gid: 4, euid: 0, egid: 4, auid: 1000, session_id: 3, process_name: 'logrotate',
		exe: '/usr/sbin/logrotate', syscall: 'renameat2', cgroup_id: 5678, source: 'kernel', cmdline: '/usr/sbin/logrotate /etc/logrotate.conf', cwd: '/',
		parent_name: 'cron', user_name: 'root', group_name: 'adm', login_user: 'alice', container_id: null, host: 'web1', ...fields,
	} as WhoDataEvent;
	return {record, json: '{"timestamp":1764090012345678901,"operation":"rename"}', context: {parent_exe: '/usr/sbin/cron', parent_cwd: '/', effective_user_name: 'root'}};
}

function at(document: unknown, path: string): unknown {
	return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], document);
}

/** The fields the issue lists, with the types the ECS 8.x reference gives them (keyword ids are strings). */
const ecsFieldTypes: Record<string, string> = {
	'@timestamp': 'string',
	'event.kind': 'string',
	'event.category': 'array',
	'event.type': 'array',
	'event.action': 'string',
	'file.path': 'string',
	'file.name': 'string',
	'file.directory': 'string',
	'file.inode': 'string',
	'file.type': 'string',
	'process.pid': 'number',
	'process.name': 'string',
	'process.executable': 'string',
	'process.command_line': 'string',
	'process.parent.pid': 'number',
	'process.thread.id': 'number',
	'user.id': 'string',
	'user.name': 'string',
	'user.effective.id': 'string',
	'group.id': 'string',
	'host.hostname': 'string',
	'ecs.version': 'string',
};

test('an ECS document has every listed field with its ECS type', t => {
	const lines = ecs(item({}));
	t.is(lines.length, 1);
	const document = JSON.parse(lines[0]!) as Record<string, unknown>;
	for (const [path, type] of Object.entries(ecsFieldTypes)) {
		const value = at(document, path);
		t.is(Array.isArray(value) ? 'array' : typeof value, type, path);
	}

	t.is(document['@timestamp'], '2025-11-25T17:00:12.345678901Z');
	t.like(document, {
		event: {kind: 'event', category: ['file'], type: ['change'], action: 'moved', module: 'fim_whodata'},
		file: {path: '/var/log/app.log.1', name: 'app.log.1', directory: '/var/log', extension: '1', inode: '131077', device: '254:0', type: 'file'},
		process: {pid: 812, name: 'logrotate', executable: '/usr/sbin/logrotate', command_line: '/usr/sbin/logrotate /etc/logrotate.conf', working_directory: '/', thread: {id: 813}, parent: {pid: 640, name: 'cron', executable: '/usr/sbin/cron'}},
		user: {id: '0', name: 'root', effective: {id: '0', name: 'root'}},
		group: {id: '4', name: 'adm'},
		host: {hostname: 'web1'},
		fim_whodata: {operation: 'rename', syscall: 'renameat2', source: 'kernel', old_path: '/var/log/app.log', auid: 1000, login_user: 'alice', session_id: 3, egid: 4, cgroup_id: 5678},
	});
	t.false('container' in document);
});

test('operations map to ECS event types and auditbeat actions', t => {
	const expected: Array<[WhoDataEvent['operation'], string, string]> = [
		['add', 'creation', 'created'], ['modify', 'change', 'updated'], ['delete', 'deletion', 'deleted'], ['attrib', 'change', 'attributes_modified'],
	];
	for (const [operation, type, action] of expected) {
		const document = JSON.parse(ecs(item({operation, old_path: null}))[0]!) as {event: {type: string[]; action: string}; fim_whodata: Record<string, unknown>};
		t.deepEqual(document.event.type, [type]);
		t.is(document.event.action, action);
		t.false('old_path' in document.fim_whodata);
	}
});

test('unknown values are left out; a reconcile event has no actor; containers get container.id', t => {
	const unknown = JSON.parse(ecs(item({cmdline: null, user_name: null, auid: null, login_user: null, container_id: 'a'.repeat(64)}))[0]!) as Record<string, Record<string, unknown>>;
	t.false('command_line' in unknown['process']!);
	t.false('name' in unknown['user']!);
	t.false('auid' in unknown['fim_whodata']!);
	t.deepEqual(unknown['container'], {id: 'a'.repeat(64)});

	const scan = JSON.parse(ecs(item({source: 'reconcile'}))[0]!) as Record<string, unknown>;
	t.false('process' in scan);
	t.false('user' in scan);
	t.is(at(scan, 'fim_whodata.source'), 'reconcile');
});

test('names that are not UTF-8 keep their bytes beside them: path_b64 for file.path, old_path_b64 for old_path', t => {
	const name = (prefix: string, byte: number): {text: string; b64: string} => {
		const bytes = Buffer.concat([Buffer.from(prefix), Buffer.from([byte])]);
		return {text: bytes.toString('utf8'), b64: bytes.toString('base64')};
	};
	const old = name('/var/log/old', 0xFE);
	const renamed = name('/var/log/new', 0xFF);
	const exe = name('/usr/bin/x', 0x80);
	const document = JSON.parse(ecs(item({old_path: old.text, old_path_b64: old.b64, path: renamed.text, path_b64: renamed.b64, exe: exe.text, exe_b64: exe.b64}))[0]!) as Record<string, unknown>;
	t.is(at(document, 'file.path'), renamed.text);
	t.is(at(document, 'process.executable'), exe.text);
	t.like(document, {fim_whodata: {old_path: old.text, path_b64: renamed.b64, old_path_b64: old.b64, exe_b64: exe.b64}});

	const plainOld = JSON.parse(ecs(item({path: renamed.text, path_b64: renamed.b64}))[0]!) as Record<string, unknown>;
	t.is(at(plainOld, 'fim_whodata.path_b64'), renamed.b64);
	t.false('old_path_b64' in (plainOld['fim_whodata'] as object));
});

test('a command line that is not UTF-8 keeps its bytes beside it: cmdline_b64 for process.command_line', t => {
	const bytes = Buffer.concat([Buffer.from('printf '), Buffer.from([0xC0]), Buffer.from(' > /var/log/app.log')]);
	const document = JSON.parse(ecs(item({cmdline: bytes.toString('utf8'), cmdline_b64: bytes.toString('base64')}))[0]!) as Record<string, unknown>;
	t.is(at(document, 'process.command_line'), bytes.toString('utf8'));
	t.is(at(document, 'fim_whodata.cmdline_b64'), bytes.toString('base64'));
	t.false('cmdline_b64' in (JSON.parse(ecs(item({}))[0]!) as {fim_whodata: object}).fim_whodata);
});

test('supervisor records become host events with their fields under fim_whodata.supervisor', t => {
	const record: SupervisorRecord = {type: 'supervisor', kind: 'restart', timestamp: 1_764_090_012_000_000_000, host: 'h', message: 'loader restarted', gap_start: 1, gap_end: 2, restarts: 1};
	const document = JSON.parse(ecs({record, json: JSON.stringify(record)})[0]!) as Record<string, unknown>;
	t.like(document, {'@timestamp': '2025-11-25T17:00:12.000000000Z', message: 'loader restarted', event: {category: ['host'], action: 'supervisor-restart'}, host: {hostname: 'h'}, fim_whodata: {supervisor: {kind: 'restart', gap_start: 1, gap_end: 2, restarts: 1}}});
});
