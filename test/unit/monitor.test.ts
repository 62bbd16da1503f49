import {mkdirSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {createFormatter, isSupervisorRecord, WhoDataMonitor, type MonitorBatchItem, type MonitorRecord, type ReconcileEvent, type WhoDataEvent, type WhoDataMonitorOptions} from '../../supervisor/src/index.js';
import {fixture, nextEvent, temporaryDirectory, waitUntil} from './helpers.js';

test('events arrive through for await, enriched from /proc, with exact JSON lines', async t => {
	const directory = temporaryDirectory();
	const monitor = await WhoDataMonitor.create({paths: [directory], loaderPath: fixture('canned-loader.mjs'), env: {...process.env, FAKE_EVENTS: '3'}, host: 'testhost'});
	const batches: MonitorBatchItem[][] = [];
	monitor.on('batch', (items: MonitorBatchItem[]) => batches.push(items));
	const seen: Array<WhoDataEvent | ReconcileEvent> = [];
	for await (const record of monitor) {
		if (!isSupervisorRecord(record)) {
			seen.push(record);
		}

		if (seen.length === 3) {
			break;
		}
	}

	t.deepEqual(seen.map(event => event.operation), ['add', 'modify', 'rename']);
	const [first] = seen;
	t.false('type' in first!);
	t.is(first!.path, `${directory}/file-0`);
	t.is(first!.host, 'testhost');
	t.is(first!.user_name, 'root');
	t.is(first!.login_user, null);
	// The fake loader reports itself as the actor, and it is alive: /proc knows it.
	t.true(first!.cmdline?.includes('canned-loader.mjs') ?? false);
	t.is(first!.cwd, process.cwd());
	t.is(first!.container_id, null);
	t.is(typeof first!.parent_name, 'string');
	await waitUntil(() => batches.length > 0);
	const json = JSON.parse(batches[0]![0]!.json) as Record<string, unknown>;
	t.is(json['path'], first!.path);
	t.regex(batches[0]![0]!.json, /"timestamp":\d{19},/);
	await monitor.close();
	t.is(monitor.counters.events_received_total, 3);
});

/** The first `count` events of the canned loader, and the JSON lines and items of their batches. */
async function cannedEvents(count: number, env: Record<string, string>, options: Partial<WhoDataMonitorOptions> = {}) {
	const directory = temporaryDirectory();
	const monitor = await WhoDataMonitor.create({paths: [directory], loaderPath: fixture('canned-loader.mjs'), env: {...process.env, FAKE_EVENTS: String(count), ...env}, ...options});
	const lines: string[] = [];
	const items: MonitorBatchItem[] = [];
	monitor.on('batch', (batch: MonitorBatchItem[]) => {
		lines.push(...batch.map(item => item.json));
		items.push(...batch);
	});
	const events: WhoDataEvent[] = [];
	for await (const record of monitor) {
		if (!isSupervisorRecord(record) && record.source === 'kernel') {
			events.push(record);
		}

		if (events.length === count) {
			break;
		}
	}

	await waitUntil(() => lines.length >= count);
	await monitor.close();
	return {events, lines, items};
}

/** How many times the raw JSON line has a member `key` (JSON.parse keeps only the last of twins). */
function membersNamed(line: string, key: string): number {
	return line.split(`"${key}":`).length - 1;
}

test('the process start the loader gives proves who made the change, and stays out of the output', async t => {
	const {events, lines} = await cannedEvents(2, {FAKE_PROCESS_START: 'self'});
	for (const event of events) {
		t.true(event.cmdline?.includes('canned-loader.mjs') ?? false);
		t.false('process_start_ns' in event);
	}

	for (const line of lines) {
		t.notRegex(line, /process_start/);
		t.regex(line, /"source":"kernel","cmdline":"[^"]*canned-loader\.mjs/);
	}
});

test('an event whose process start is not the one /proc shows for its pid is not enriched', async t => {
	// The canned loader is alive with that pid, but the event says another process made it.
	const {events, lines} = await cannedEvents(2, {FAKE_PROCESS_START: 'other'});
	for (const event of events) {
		t.is(event.cmdline, null);
		t.is(event.cwd, null);
		t.false('process_start_ns' in event);
	}

	t.notRegex(lines.join('\n'), /process_start/);
});

test('the cmdline the kernel read names a process gone before /proc could be read, once, with the rest of the enrichment', async t => {
	const cmdline = 'sh -c echo x >> /root/.ssh/authorized_keys';
	const {events, lines} = await cannedEvents(2, {FAKE_PID: 'gone', FAKE_CMDLINE: cmdline});
	for (const line of lines) {
		t.is(membersNamed(line, 'cmdline'), 1, line);
		const parsed = JSON.parse(line) as Record<string, unknown>;
		t.is(parsed['cmdline'], cmdline);
		t.like(parsed, {cwd: null, container_id: null, parent_name: 'node', user_name: 'root', group_name: 'root', login_user: null});
		t.is(typeof parsed['host'], 'string');
		// the loader's members first, then the enrichment's: appended to its text, not rebuilt
		t.regex(line, /"exe":"[^"]*","cmdline":"[^"]*","syscall":"openat","cgroup_id":1,"source":"kernel","cwd":null,"container_id":null,"parent_name":/);
	}

	t.deepEqual(events.map(event => event.cmdline), [cmdline, cmdline]);

	// Without it, /proc alone: nothing left to read there.
	const before = await cannedEvents(1, {FAKE_PID: 'gone'});
	t.is(before.events[0]!.cmdline, null);
	t.is(membersNamed(before.lines[0]!, 'cmdline'), 1);
	t.is((JSON.parse(before.lines[0]!) as Record<string, unknown>)['cmdline'], null);
});

test('the kernel\'s cmdline wins over the one /proc shows later, in every format; /proc still gives cwd', async t => {
	// The canned loader is alive: /proc has its own command line, which is not the kernel's.
	const cmdline = 'sed -i s/a/b/ /etc/hosts';
	const {events, lines, items} = await cannedEvents(2, {FAKE_CMDLINE: cmdline, FAKE_PROCESS_START: 'self'});
	for (const line of lines) {
		t.is(membersNamed(line, 'cmdline'), 1, line);
		t.like(JSON.parse(line) as Record<string, unknown>, {cmdline, cwd: process.cwd()});
	}

	for (const event of events) {
		t.like(event, {cmdline, cwd: process.cwd()});
	}

	const item = items.find(item => !isSupervisorRecord(item.record))!;
	const ecs = JSON.parse(createFormatter('ecs')(item)[0]!) as {process: Record<string, unknown>};
	t.like(ecs.process, {command_line: cmdline, working_directory: process.cwd()});
	const wazuh = JSON.parse(createFormatter('wazuh')(item)[0]!) as {fim_whodata: Record<string, unknown>};
	t.is(wazuh.fim_whodata['cmdline'], cmdline);
	t.false('truncated' in wazuh.fim_whodata);
});

test('a kernel cmdline keeps its bytes and its own truncated; a /proc cmdline that would be cut flags nothing', async t => {
	const bytes = Buffer.from([...Buffer.from('printf \\377 > '), 0xFF, ...Buffer.from(' x')]);
	const cmdline = bytes.toString('utf8');
	// /proc's command line of the canned loader is longer than 8: cut and flagged, were it used
	const options = {enrich: {proc: {maxCmdlineLength: 8}}};
	const cut = await cannedEvents(1, {FAKE_CMDLINE: cmdline, FAKE_CMDLINE_B64: bytes.toString('base64'), FAKE_TRUNCATED: 'cmdline', FAKE_PROCESS_START: 'self'}, options);
	const [line] = cut.lines;
	for (const key of ['cmdline', 'cmdline_b64', 'truncated']) {
		t.is(membersNamed(line!, key), 1, `${key} in ${line}`);
	}

	t.like(JSON.parse(line!) as Record<string, unknown>, {cmdline, cmdline_b64: bytes.toString('base64'), truncated: ['cmdline'], cwd: process.cwd()});
	const item = cut.items.find(item => !isSupervisorRecord(item.record))!;
	const ecs = JSON.parse(createFormatter('ecs')(item)[0]!) as {process: Record<string, unknown>; fim_whodata: Record<string, unknown>};
	t.is(ecs.process['command_line'], cmdline);
	t.like(ecs.fim_whodata, {cmdline_b64: bytes.toString('base64'), truncated: ['cmdline']});
	const wazuh = JSON.parse(createFormatter('wazuh')(item)[0]!) as {fim_whodata: Record<string, unknown>};
	t.like(wazuh.fim_whodata, {cmdline, cmdline_b64: bytes.toString('base64'), truncated: ['cmdline']});

	const whole = await cannedEvents(1, {FAKE_CMDLINE: 'cp a b', FAKE_PROCESS_START: 'self'}, options);
	t.is(membersNamed(whole.lines[0]!, 'cmdline'), 1);
	t.false(whole.lines[0]!.includes('"truncated"'), whole.lines[0]);
	t.is(whole.events[0]!.cmdline, 'cp a b');
});

test('filters run in the supervisor and are counted', async t => {
	const directory = temporaryDirectory();
	const monitor = await WhoDataMonitor.create({
		paths: [directory],
		loaderPath: fixture('canned-loader.mjs'),
		env: {...process.env, FAKE_EVENTS: '5'},
		filter: {operations: ['delete', 'attrib']},
		enrich: false,
	});
	const events: WhoDataEvent[] = [];
	monitor.on('event', (event: WhoDataEvent) => events.push(event));
	await waitUntil(() => events.length === 2);
	t.deepEqual(events.map(event => event.operation), ['attrib', 'delete']);
	t.is(monitor.counters.events_discarded_total, 3);
	t.false('cmdline' in events[0]!);
	await monitor.close();
});

test('the sent count is of events; supervisor records are counted apart', async t => {
	const directory = temporaryDirectory();
	// a loss the loader reports: one `loss` record among the four events
	const monitor = await WhoDataMonitor.create({paths: [directory], loaderPath: fixture('canned-loader.mjs'), env: {...process.env, FAKE_EVENTS: '4', FAKE_LOST: '2'}});
	const items: MonitorBatchItem[] = [];
	monitor.on('batch', (batch: MonitorBatchItem[]) => items.push(...batch));
	await waitUntil(() => items.some(item => isSupervisorRecord(item.record) && item.record.kind === 'loss') && items.filter(item => !isSupervisorRecord(item.record)).length === 4);
	await monitor.close();
	const records = items.filter(item => isSupervisorRecord(item.record)).length;
	t.is(records, items.length - 4);
	t.like(monitor.counters, {events_sent_total: 4, supervisor_records_sent_total: records, events_lost_total: 2});
});

test('addPath and removePath go to the loader; nested paths are not added twice', async t => {
	const directory = temporaryDirectory();
	const other = temporaryDirectory();
	mkdirSync(join(directory, 'sub'));
	const monitor = await WhoDataMonitor.create({paths: [directory], loaderPath: fixture('canned-loader.mjs'), env: {...process.env, FAKE_EVENTS: '0'}});
	const event = nextEvent<WhoDataEvent>(monitor, 'event');
	await monitor.addPath(other);
	t.is((await event).path, `${other}/after-add`);
	await monitor.addPath(join(directory, 'sub'));
	t.deepEqual(monitor.paths, [directory, other]);
	await monitor.removePath(other);
	t.deepEqual(monitor.paths, [directory]);
	await t.throwsAsync(monitor.addPath('/no/such/dir'), {message: 'cannot watch /no/such/dir: no such file or directory'});
	await monitor.close();
});

test('garbage from the loader is counted and logged at a limited rate; hostile names pass through intact', async t => {
	const warnings: string[] = [];
	const monitor = await WhoDataMonitor.create({
		paths: [temporaryDirectory()],
		loaderPath: fixture('garbage.mjs'),
		logger: {error() {}, warn: message => warnings.push(message), info() {}, debug() {}},
	});
	const batches: MonitorBatchItem[] = [];
	monitor.on('batch', (items: MonitorBatchItem[]) => batches.push(...items));
	await waitUntil(() => batches.some(item => (item.record as WhoDataEvent).path === '/fake/after'));
	// not JSON, an array, a string, invalid UTF-8 bytes, the overlong line
	t.is(monitor.counters.errors_total.receiving, 5);
	// an event record without its fields
	t.is(monitor.counters.errors_total.processing, 1);
	t.is(warnings.length, 1, warnings.join('\n'));

	const byKind = new Map(batches.map(item => [(item.record as Record<string, unknown>)['hostile'], item]));
	t.is((byKind.get('control')!.record as WhoDataEvent).path, '/fake/new\nline\ttab\u001B[31mred\u0000nul');
	t.is((byKind.get('quotes')!.record as WhoDataEvent).path, '/fake/quote"back\\slash');
	t.is((byKind.get('bidi')!.record as WhoDataEvent).path, '/fake/\u202Etxt.exe');
	const invalid = JSON.parse(byKind.get('invalid-utf8')!.json) as Record<string, unknown>;
	t.is(Buffer.from(invalid['path_b64'] as string, 'base64').toString('latin1'), '/fake/bad-\u00FF-utf8');
	for (const item of batches) {
		t.false(item.json.includes('\n'));
		t.notThrows(() => JSON.parse(item.json));
		t.true(Buffer.from(item.json).toString('utf8') === item.json);
	}

	await monitor.close();
});

test('a crash loop ends iteration with the error', async t => {
	const monitor = await WhoDataMonitor.create({
		paths: [temporaryDirectory()],
		loaderPath: fixture('crash-after-lines.sh'),
		env: {...process.env, FAKE_LINES: '1'},
		restart: {initialMs: 1, maxMs: 2, maxCrashes: 3},
	});
	const records: MonitorRecord[] = [];
	await t.throwsAsync(async () => {
		for await (const record of monitor) {
			records.push(record);
		}
	}, {message: /crash loop: 3 crashes.*simulated crash after 1 lines/});
	t.deepEqual(records.filter(record => isSupervisorRecord(record)).map(record => (record as {kind: string}).kind), ['restart', 'restart', 'give_up']);
	await t.throwsAsync(monitor.closed);
});

test('bad options fail before anything starts', async t => {
	await t.throwsAsync(WhoDataMonitor.create({paths: []}), {message: /no path to watch/});
	await t.throwsAsync(WhoDataMonitor.create({paths: ['/'], filter: {exclude_paths: ['[']}, loaderPath: fixture('canned-loader.mjs')}), {message: /bad glob/});
});
