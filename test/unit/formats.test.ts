import test from 'ava';
import {type EnrichmentView, eventJsonLine, eventTextLine, maxLineBytes, stringifyExact, supervisorTextLine, terminalSafe} from '../../supervisor/src/formats.js';
import type {KernelEventFields, WhoDataEvent} from '../../supervisor/src/types.js';

const raw = '{"type":"event","timestamp":1764090012345678901,"operation":"rename","path":"/var/log/app.log.1","old_path":"/var/log/app.log","file_type":"file","inode":131077,"dev":"254:0","pid":812,"tid":812,"ppid":640,"uid":0,"gid":0,"euid":0,"egid":0,"auid":1000,"session_id":3,"process_name":"logrotate","exe":"/usr/sbin/logrotate","syscall":"renameat2","cgroup_id":5678,"source":"kernel"}';

const enrichment = (fields: Partial<EnrichmentView['fields']> = {}, cmdlineTruncated = false): EnrichmentView => {
	const all = {cmdline: '/usr/sbin/logrotate /etc/logrotate.conf', cwd: '/', parent_name: 'cron', user_name: 'root', group_name: 'root', login_user: 'alice', container_id: null, host: 'web1', ...fields};
	return {
		fields: all,
		json: `,"cmdline":${JSON.stringify(all.cmdline)},"cwd":${JSON.stringify(all.cwd)},"container_id":null,"parent_name":${JSON.stringify(all.parent_name)},"user_name":"root","group_name":"root","login_user":"alice","host":"web1"`,
		cmdlineTruncated,
		kernelCmdline: false,
	};
};

test('the JSON line drops type, keeps the loader\'s exact nanoseconds, and adds enrichment', t => {
	const event = JSON.parse(raw) as KernelEventFields;
	const line = eventJsonLine(raw, event, enrichment());
	t.true(line.includes('"timestamp":1764090012345678901,'));
	const parsed = JSON.parse(line) as Record<string, unknown>;
	t.false('type' in parsed);
	t.like(parsed, {operation: 'rename', old_path: '/var/log/app.log', auid: 1000, login_user: 'alice', host: 'web1', cmdline: '/usr/sbin/logrotate /etc/logrotate.conf'});
});

test('without enrichment only type is removed', t => {
	const event = JSON.parse(raw) as KernelEventFields;
	t.is(eventJsonLine(raw, event, undefined), `{${raw.slice('{"type":"event",'.length)}`);
});

test('type in another position and *_b64 siblings are handled on the slow path, digits intact', t => {
	const moved = '{"timestamp":1764090012345678901,"type":"event","operation":"add","path":"/x/\uFFFD","path_b64":"L3gv/w==","pid":1}';
	const line = eventJsonLine(moved, JSON.parse(moved) as KernelEventFields, undefined);
	t.is(line, '{"timestamp":1764090012345678901,"operation":"add","path":"/x/\uFFFD","path_b64":"L3gv/w==","pid":1}');
});

test('fields the supervisor does not know, such as backend, stay in the JSON line on both paths', t => {
	const withBackend = raw.replace('"source":"kernel"', '"source":"kernel","backend":"fentry"');
	const event = JSON.parse(withBackend) as KernelEventFields;
	t.is((JSON.parse(eventJsonLine(withBackend, event, enrichment())) as Record<string, unknown>)['backend'], 'fentry');
	const moved = withBackend.replace('{"type":"event",', '{').replace('"source":"kernel"', '"source":"kernel","type":"event"');
	const slow = JSON.parse(eventJsonLine(moved, JSON.parse(moved) as KernelEventFields, enrichment())) as Record<string, unknown>;
	t.is(slow['backend'], 'fentry');
	t.false('type' in slow);
});

test('a truncated cmdline is flagged in truncated', t => {
	const event = JSON.parse(raw) as KernelEventFields;
	const parsed = JSON.parse(eventJsonLine(raw, event, enrichment({}, true))) as Record<string, unknown>;
	t.deepEqual(parsed['truncated'], ['cmdline']);
	t.true(eventJsonLine(raw, event, enrichment({}, true)).includes('1764090012345678901'));
});

test('no line exceeds the limit: long fields are cut and flagged', t => {
	const hugePath = `/srv/${'\u0001'.repeat(4000)}`;
	const text = `{"type":"event","timestamp":1764090012345678901,"operation":"add","path":${JSON.stringify(hugePath)},"pid":5,"truncated":["path"]}`;
	const event = JSON.parse(text) as KernelEventFields;
	const line = eventJsonLine(text, event, enrichment({cmdline: 'x'.repeat(3000), cwd: `/${'é'.repeat(3000)}`}));
	t.true(Buffer.byteLength(line) <= maxLineBytes);
	const parsed = JSON.parse(line) as Record<string, unknown>;
	t.deepEqual(parsed['truncated'], ['path', 'cmdline', 'cwd']);
	t.true(line.includes('"timestamp":1764090012345678901'));
});

/** An enrichment made for an event with the kernel's cmdline: its JSON has none. */
const kernelEnrichment = (cmdline: string): EnrichmentView => {
	const {fields, json} = enrichment({cmdline});
	return {fields, json: json.replace(/^,"cmdline":"(?:[^"\\]|\\.)*"/, ''), cmdlineTruncated: false, kernelCmdline: true};
};

test('a cmdline the kernel read stays where the loader put it, the enrichment appended without one', t => {
	const cmdline = 'logrotate -f /etc/logrotate.conf';
	const withCmdline = raw.replace('"syscall"', `"cmdline":${JSON.stringify(cmdline)},"syscall"`);
	const view = kernelEnrichment(cmdline);
	t.false(view.json.includes('cmdline'));
	const line = eventJsonLine(withCmdline, JSON.parse(withCmdline) as KernelEventFields, view);
	t.is(line, `{${withCmdline.slice('{"type":"event",'.length, -1)}${view.json}}`);
	t.is(line.split('"cmdline":').length, 2);
	t.like(JSON.parse(line) as Record<string, unknown>, {cmdline, cwd: '/', host: 'web1'});
});

test('a line cut to size cuts the bytes of a kernel cmdline before its text, never leaving them whole', t => {
	const bytes = Buffer.concat([Buffer.from('sh -c '), Buffer.alloc(900, 0xFF)]);
	const cmdline = bytes.toString('utf8');
	const hugePath = `/srv/${'\u0001'.repeat(4000)}`;
	const text = `{"type":"event","timestamp":1764090012345678901,"operation":"add","path":${JSON.stringify(hugePath)},"pid":5,"cmdline":${JSON.stringify(cmdline)},"cmdline_b64":"${bytes.toString('base64')}","truncated":["path"]}`;
	const line = eventJsonLine(text, JSON.parse(text) as KernelEventFields, kernelEnrichment(cmdline));
	t.true(Buffer.byteLength(line) <= maxLineBytes);
	t.is(line.split('"cmdline":').length, 2);
	const parsed = JSON.parse(line) as Record<string, unknown>;
	t.deepEqual(parsed['truncated'], ['path', 'cmdline']);
	const kept = Buffer.from(parsed['cmdline_b64'] as string, 'base64');
	t.true(kept.length < bytes.length, 'the bytes are cut too');
	t.true(bytes.subarray(0, kept.length).equals(kept));
	t.true(cmdline.startsWith(parsed['cmdline'] as string));
});

test('stringifyExact restores only big integers, from the raw text', t => {
	t.is(stringifyExact({a: 1, t: 1764090012345678901}, '{"a":1,"t":1764090012345678901}'), '{"a":1,"t":1764090012345678901}');
});

test('text lines are readable and escape hostile names', t => {
	const event = {...JSON.parse(raw), ...enrichment().fields} as WhoDataEvent;
	t.is(eventTextLine(event), '2025-11-25T17:00:12.345Z rename /var/log/app.log.1 (from /var/log/app.log) user=root login=alice process=logrotate pid=812 exe=/usr/sbin/logrotate');
	const hostile = {...event, operation: 'add', old_path: null, path: '/tmp/a\u001B[2Jb\nc\u202Ed', user_name: null, login_user: null, auid: null} as WhoDataEvent;
	const line = eventTextLine(hostile);
	t.false(/[\u0000-\u001F\u202E]/.test(line));
	t.true(line.includes(String.raw`"/tmp/a\u001b[2Jb\nc\u202ed"`));
	t.true(line.includes('user=0 login=-'));
	t.is(terminalSafe('/plain/path'), '/plain/path');
	t.is(terminalSafe('/with space'), '"/with space"');
});

test('supervisor records in text show the gap', t => {
	const line = supervisorTextLine({type: 'supervisor', kind: 'restart', timestamp: 1_764_090_012_000_000_000, host: 'h', message: 'loader restarted', gap_start: 1_764_090_011_000_000_000, gap_end: 1_764_090_012_000_000_000});
	t.is(line, '2025-11-25T17:00:12.000Z supervisor restart: loader restarted gap 2025-11-25T17:00:11.000Z → 2025-11-25T17:00:12.000Z');
});

test('text lines show the bytes of names that are not UTF-8, so two such names never print alike', t => {
	const event = {...JSON.parse(raw), ...enrichment().fields} as WhoDataEvent;
	const name = (bytes: number[]): {path: string; path_b64: string} => {
		const buffer = Buffer.concat([Buffer.from('/srv/a'), Buffer.from(bytes), Buffer.from('b')]);
		return {path: buffer.toString('utf8'), path_b64: buffer.toString('base64')};
	};
	const lines = [[0xFF], [0xFE], [0xE2, 0x82], [0xED, 0xA0, 0x80]].map(bytes => eventTextLine({...event, ...name(bytes)}));
	t.true(lines[0]!.includes(String.raw` "/srv/a\xffb" (from /var/log/app.log) `));
	t.true(lines[1]!.includes(String.raw` "/srv/a\xfeb" `));
	t.true(lines[2]!.includes(String.raw` "/srv/a\xe2\x82b" `));
	t.true(lines[3]!.includes(String.raw` "/srv/a\xed\xa0\x80b" `), 'a surrogate\'s bytes are not UTF-8');
	t.false(lines.some(line => line.includes('\uFFFD')));

	// The escapes of the printable part stay as they were; a real U+FFFD is a character, not a byte.
	const hostile = Buffer.concat([Buffer.from('/tmp/x\n\u007F\u202E "\\é\uFFFD'), Buffer.from([0x80])]);
	const old = Buffer.concat([Buffer.from('/old'), Buffer.from([0xC0, 0xAF])]);
	const exe = Buffer.concat([Buffer.from('/usr/bin/t'), Buffer.from([0xF8])]);
	const line = eventTextLine({
		...event,
		path: hostile.toString('utf8'), path_b64: hostile.toString('base64'),
		old_path: old.toString('utf8'), old_path_b64: old.toString('base64'),
		exe: exe.toString('utf8'), exe_b64: exe.toString('base64'),
	});
	t.true(line.includes(String.raw` "/tmp/x\n\u007f\u202e \"\\é` + '\uFFFD' + String.raw`\x80" (from "/old\xc0\xaf") `));
	t.true(line.endsWith(String.raw` exe="/usr/bin/t\xf8"`));
	t.is(line.split('\n').length, 1);

	// path_b64 of a name that is UTF-8 after all changes nothing.
	t.is(eventTextLine({...event, path_b64: Buffer.from(event.path).toString('base64')}), eventTextLine(event));
});
