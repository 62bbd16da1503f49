import {chmodSync, statSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {createFormatter} from '../../supervisor/src/formats.js';
import {permissionString} from '../../supervisor/src/format-wazuh.js';
import type {MonitorBatchItem} from '../../supervisor/src/monitor.js';
import type {SupervisorRecord, WhoDataEvent} from '../../supervisor/src/types.js';
import {temporaryDirectory} from './helpers.js';

const wazuh = createFormatter('wazuh');

/**
 * The `syscheck` part of the whodata alert in Wazuh's documentation (auditing who-data on Linux,
 * and the 4.x FIM advanced settings page for cwd/parent_name/parent_cwd and mode), less the
 * hashes, `*_before` and `diff`, which need a baseline of contents that we do not keep.
 */
const documented = {
	path: '/etc/hosts.allow',
	mode: 'whodata',
	size_after: '433',
	perm_after: 'rw-r--r--',
	uid_after: '0',
	gid_after: '0',
	mtime_after: '2018-07-10T14:05:28',
	inode_after: 268_234,
	event: 'modified',
	audit: {
		user: {id: '0', name: 'root'},
		group: {id: '0', name: 'root'},
		process: {id: '82845', name: '/bin/nano', ppid: '3195', cwd: '/root', parent_name: '/usr/bin/bash', parent_cwd: '/root'},
		login_user: {id: '1000', name: 'smith'},
		effective_user: {id: '0', name: 'root'},
	},
};

function eventItem(fields: Partial<WhoDataEvent>, digits = '1531224328452000001'): MonitorBatchItem {
	const record = {
		timestamp: Number(digits), operation: 'modify', path: '/etc/hosts.allow', old_path: null, file_type: 'file', inode: 268_234, dev: '254:0',
		pid: 82_845, tid: 82_845, ppid: 3195, uid: 0, gid: 0, euid: 0, egid: 0, auid: 1000, session_id: 3, process_name: 'nano', exe: '/bin/nano',
		syscall: 'write', cgroup_id: 1, source: 'kernel', cmdline: 'nano /etc/hosts.allow', cwd: '/root', parent_name: 'bash', user_name: 'root',
		group_name: 'root', login_user: 'smith', container_id: null, host: 'vpc-agent-debian', ...fields,
	} as WhoDataEvent;
	return {record, json: `{"timestamp":${digits},"operation":"${record.operation}"}`, context: {parent_exe: '/usr/bin/bash', parent_cwd: '/root', effective_user_name: 'root'}};
}

/** Every member of `sample` is in `actual` with the same JSON type, recursively. */
function sameShape(t: {is(a: unknown, b: unknown, message?: string): void; true(value: boolean, message?: string): void}, actual: unknown, sample: unknown, where = 'syscheck'): void {
	if (typeof sample === 'object' && sample !== null) {
		t.true(typeof actual === 'object' && actual !== null, `${where} is an object`);
		for (const [key, value] of Object.entries(sample)) {
			t.true(key in (actual as object), `${where}.${key} present`);
			sameShape(t, (actual as Record<string, unknown>)[key], value, `${where}.${key}`);
		}
	} else {
		t.is(typeof actual, typeof sample, `${where} type`);
	}
}

test('a whodata modify has every field of Wazuh\'s documented alert, with Wazuh\'s types', t => {
	const directory = temporaryDirectory();
	const file = join(directory, 'hosts.allow');
	writeFileSync(file, 'x'.repeat(433));
	chmodSync(file, 0o644);
	const {ino, uid, gid} = statSync(file);
	const lines = wazuh(eventItem({path: file, inode: ino}));
	t.is(lines.length, 1);
	const alert = JSON.parse(lines[0]!) as {timestamp: string; syscheck: Record<string, unknown>; fim_whodata: Record<string, unknown>};
	sameShape(t, alert.syscheck, {...documented, path: file, inode_after: ino});
	t.like(alert.syscheck, {path: file, mode: 'whodata', event: 'modified', size_after: '433', perm_after: 'rw-r--r--', uid_after: String(uid), gid_after: String(gid), inode_after: ino});
	t.regex(alert.syscheck['mtime_after'] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
	t.deepEqual(alert.syscheck['audit'], documented.audit);
	t.is(alert.timestamp, '2018-07-10T12:05:28.452+0000');
	t.like(alert.fim_whodata, {operation: 'modify', syscall: 'write', source: 'kernel', timestamp_ns: '1531224328452000001', host: 'vpc-agent-debian'});
});

test('a rename is deleted for the old path then added for the new one, both with whodata', t => {
	const lines = wazuh(eventItem({operation: 'rename', old_path: '/etc/old.conf', path: '/nonexistent/new.conf', syscall: 'renameat2'}));
	t.is(lines.length, 2);
	const [deleted, added] = lines.map(line => JSON.parse(line) as {syscheck: Record<string, unknown> & {audit: unknown}; fim_whodata: Record<string, unknown>});
	t.like(deleted!.syscheck, {path: '/etc/old.conf', event: 'deleted', mode: 'whodata'});
	t.like(added!.syscheck, {path: '/nonexistent/new.conf', event: 'added', mode: 'whodata', inode_after: 268_234});
	t.deepEqual(deleted!.syscheck.audit, documented.audit);
	t.deepEqual(added!.syscheck.audit, documented.audit);
	t.false('size_after' in deleted!.syscheck);
	t.false('inode_after' in deleted!.syscheck);
	t.deepEqual(added!.fim_whodata['rename'], {old_path: '/etc/old.conf', new_path: '/nonexistent/new.conf'});
});

test('operations map to Wazuh events; attributes of another file at the path are not reported', t => {
	const cases: Array<[WhoDataEvent['operation'], string]> = [['add', 'added'], ['modify', 'modified'], ['attrib', 'modified'], ['delete', 'deleted']];
	for (const [operation, event] of cases) {
		const alert = JSON.parse(wazuh(eventItem({operation, path: '/etc/hostname', inode: 1}))[0]!) as {syscheck: Record<string, unknown>};
		t.is(alert.syscheck['event'], event);
		// /etc/hostname exists but is not inode 1: its size is not this event's.
		t.false('size_after' in alert.syscheck);
	}
});

test('a file whose name is not UTF-8 has its attributes read by its bytes', t => {
	const directory = temporaryDirectory();
	const bytes = Buffer.concat([Buffer.from(`${directory}/moved`), Buffer.from([0xFE]), Buffer.from('.txt')]);
	writeFileSync(bytes, 'four');
	const path = bytes.toString('utf8'); // as the event's path says it: U+FFFD for the byte
	const fields = {operation: 'rename' as const, path, path_b64: bytes.toString('base64'), old_path: `${directory}/keep\uFFFD.txt`, inode: statSync(bytes).ino};
	const [deleted, added] = wazuh(eventItem(fields)).map(line => (JSON.parse(line) as {syscheck: Record<string, unknown>}).syscheck);
	t.like(added, {path, event: 'added', size_after: '4', inode_after: fields.inode});
	t.like(deleted, {event: 'deleted'});
});

test('each half of a rename carries the bytes of its own path in path_b64, and both names\' bytes in rename', t => {
	const name = (prefix: string, byte: number): {text: string; b64: string} => {
		const bytes = Buffer.concat([Buffer.from(prefix), Buffer.from([byte])]);
		return {text: bytes.toString('utf8'), b64: bytes.toString('base64')};
	};
	const halves = (fields: Partial<WhoDataEvent>): Array<Record<string, unknown>> => wazuh(eventItem({operation: 'rename', syscall: 'renameat2', inode: null, ...fields}))
		.map(line => (JSON.parse(line) as {fim_whodata: Record<string, unknown>}).fim_whodata);
	const old = name('/nonexistent/old', 0xFE);
	const renamed = name('/nonexistent/new', 0xFF);

	const [deleted, added] = halves({old_path: old.text, old_path_b64: old.b64, path: renamed.text, path_b64: renamed.b64});
	t.is(deleted!['path_b64'], old.b64);
	t.is(added!['path_b64'], renamed.b64);
	for (const half of [deleted!, added!]) {
		t.deepEqual(half['rename'], {old_path: old.text, new_path: renamed.text, old_path_b64: old.b64, new_path_b64: renamed.b64});
		t.false('old_path_b64' in half, 'the old path\'s bytes are in rename, beside its name');
	}

	// Only one name not UTF-8: the half of the other has no path_b64.
	const [plainDeleted, oddAdded] = halves({old_path: '/nonexistent/plain', path: renamed.text, path_b64: renamed.b64});
	t.false('path_b64' in plainDeleted!);
	t.is(oddAdded!['path_b64'], renamed.b64);
	const [oddDeleted, plainAdded] = halves({old_path: old.text, old_path_b64: old.b64, path: '/nonexistent/plain'});
	t.is(oddDeleted!['path_b64'], old.b64);
	t.false('path_b64' in plainAdded!);
	t.deepEqual(plainAdded!['rename'], {old_path: old.text, new_path: '/nonexistent/plain', old_path_b64: old.b64});
});

test('truncated on each half of a rename names that half\'s fields: the old path is the deleted half\'s path', t => {
	const truncatedOf = (truncated: string[]): unknown[] => wazuh(eventItem({operation: 'rename', syscall: 'renameat2', old_path: '/nonexistent/old', path: '/nonexistent/new', truncated}))
		.map(line => (JSON.parse(line) as {fim_whodata: Record<string, unknown>}).fim_whodata['truncated']);
	t.deepEqual(truncatedOf(['old_path']), [['path'], ['old_path']]);
	t.deepEqual(truncatedOf(['path']), [['new_path'], ['path']]);
	t.deepEqual(truncatedOf(['cmdline', 'old_path', 'path', 'exe']), [['cmdline', 'path', 'new_path', 'exe'], ['cmdline', 'old_path', 'path', 'exe']]);
	// not a rename: the one line shows the event's own names
	const deleted = JSON.parse(wazuh(eventItem({operation: 'delete', path: '/nonexistent/gone', truncated: ['path']}))[0]!) as {fim_whodata: Record<string, unknown>};
	t.deepEqual(deleted.fim_whodata['truncated'], ['path']);
});

test('a command line that is not UTF-8 keeps its bytes beside it in fim_whodata, as the executable does', t => {
	const bytes = Buffer.concat([Buffer.from('printf '), Buffer.from([0xFF]), Buffer.from(' > /etc/hosts.allow')]);
	const fimWhodata = (fields: Partial<WhoDataEvent>): Record<string, unknown> => (JSON.parse(wazuh(eventItem({path: '/nonexistent/hosts.allow', ...fields}))[0]!) as {fim_whodata: Record<string, unknown>}).fim_whodata;
	t.like(fimWhodata({cmdline: bytes.toString('utf8'), cmdline_b64: bytes.toString('base64')}), {cmdline: bytes.toString('utf8'), cmdline_b64: bytes.toString('base64')});
	t.false('cmdline_b64' in fimWhodata({}));
});

test('unknown whodata is left out, never guessed; a reconcile event is "scheduled" without audit', t => {
	const alert = JSON.parse(wazuh(eventItem({auid: null, login_user: null, user_name: null, cwd: null, euid: 1000}))[0]!) as {syscheck: {audit: Record<string, unknown>}};
	t.false('login_user' in alert.syscheck.audit);
	t.deepEqual(alert.syscheck.audit['user'], {id: '0'});
	t.deepEqual(alert.syscheck.audit['effective_user'], {id: '1000', name: 'root'});
	t.false('cwd' in (alert.syscheck.audit['process'] as object));

	const scan = JSON.parse(wazuh(eventItem({source: 'reconcile', syscall: null as unknown as string}))[0]!) as {syscheck: Record<string, unknown>; fim_whodata: Record<string, unknown>};
	t.is(scan.syscheck['mode'], 'scheduled');
	t.false('audit' in scan.syscheck);
	t.false('syscall' in scan.fim_whodata);
});

test('supervisor records keep their fields under fim_whodata', t => {
	const record: SupervisorRecord = {type: 'supervisor', kind: 'loss', timestamp: 1_764_090_012_000_000_000, host: 'h', message: '3 records lost', lost: 3};
	const line = JSON.parse(wazuh({record, json: JSON.stringify(record)})[0]!) as Record<string, unknown>;
	t.is(line['timestamp'], '2025-11-25T17:00:12.000+0000');
	t.deepEqual(line['fim_whodata'], record);
});

test('permission strings as ls writes them', t => {
	t.is(permissionString(0o100644), 'rw-r--r--');
	t.is(permissionString(0o4755), 'rwsr-xr-x');
	t.is(permissionString(0o2640), 'rw-r-S---');
	t.is(permissionString(0o1777), 'rwxrwxrwt');
	t.is(permissionString(0o1776), 'rwxrwxrwT');
});
