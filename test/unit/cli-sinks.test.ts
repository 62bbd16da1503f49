import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';
import {hostname} from 'node:os';
import anyTest from 'ava';
import {execa} from 'execa';
import {ForwardServer} from './forward-server.js';
import {fixture, freePort, repoRoot, temporaryDirectory, waitUntil} from './helpers.js';

// One at a time: each test starts fimctl and a canned loader, two node processes. Started
// together on 2 vCPUs, they waited past the 10 s limit for fimctl's first line (19 tests timed
// out in one fresh-clone run of the whole unit suite).
const test = anyTest.serial;

const fimctl = join(repoRoot, 'bin/fimctl');

test('several --sink flags at once, each with its format and filters; a dead one holds up no other', async t => {
	const directory = temporaryDirectory();
	const file = join(directory, 'wazuh.json');
	const forward = new ForwardServer();
	const port = await forward.listen();
	const dead = await freePort();
	const child = execa(fimctl, [
		'start', directory, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'),
		'--sink', `file://${file}?format=wazuh&operations=delete`,
		'--sink', `fluent://127.0.0.1:${port}?id=collector`,
		'--sink', `http://127.0.0.1:${dead}/ingest?id=down&buffer.max_events=50`,
	], {env: {FAKE_EVENTS: '200'}, reject: false, forceKillAfterDelay: false});
	let stderr = '';
	child.stderr.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	await waitUntil(() => forward.events.length === 200, 20_000);
	await waitUntil(() => readFileSync(file, 'utf8').split('\n').length > 40);
	child.kill('SIGTERM');
	const result = await child;
	t.is(result.exitCode, 0, stderr);
	t.is(String(result.stdout), '', 'named sinks replace stdout');
	const deletes = readFileSync(file, 'utf8').trim().split('\n').map(line => JSON.parse(line) as {syscheck: {event: string; mode: string}});
	t.is(deletes.length, 40);
	t.true(deletes.every(alert => alert.syscheck.event === 'deleted' && alert.syscheck.mode === 'whodata'));
	t.deepEqual(forward.events.map(event => event.record['path']), Array.from({length: 200}, (_, index) => `${directory}/file-${index}`));
	t.regex(stderr, /sink down: .*ECONNREFUSED.*retrying with backoff while its buffer holds the events/);
	// 50 in memory, the rest in the spool: all kept for the next start, none lost.
	t.regex(stderr, /sink down: 200 event\(s\) not delivered to http:\/\/127\.0\.0\.1:\d+\/ingest before shutdown are kept in its spool for the next start/);
	t.notRegex(stderr, /are lost|discarded/);
	await forward.close();
});

test('at stop, each sink counts the gap records it delivered apart from its events', async t => {
	const directory = temporaryDirectory();
	const json = join(directory, 'out.json');
	const text = join(directory, 'out.txt');
	// a loss the loader reports: a `loss` record, then the `reconcile` record of the scan it asks for
	const child = execa(fimctl, ['-v', 'start', temporaryDirectory(), '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), '--sink', `file://${json}?id=json`, '--sink', `file://${text}?id=text&format=text`], {env: {FAKE_EVENTS: '4', FAKE_LOST: '2'}, reject: false});
	await waitUntil(() => existsSync(json) && readFileSync(json, 'utf8').includes('"kind":"reconcile"') && existsSync(text) && readFileSync(text, 'utf8').includes('supervisor reconcile'));
	child.kill('SIGTERM');
	const result = await child;
	t.is(result.exitCode, 0, String(result.stderr));
	const records = readFileSync(json, 'utf8').trim().split('\n').map(line => JSON.parse(line) as {type?: string});
	const gapRecords = records.filter(record => record.type === 'supervisor').length;
	t.is(records.length - gapRecords, 4);
	t.true(gapRecords >= 2);
	for (const id of ['json', 'text']) {
		t.regex(String(result.stderr), new RegExp(`^fimctl: debug: sink ${id}: 4 event\\(s\\) delivered, 0 discarded; supervisor records delivered ${gapRecords}$`, 'm'));
	}
});

test('at stop, what a sink did not deliver, refused or kept, is counted as events and gap records apart', async t => {
	const directory = temporaryDirectory();
	const json = join(directory, 'out.json');
	// a destination that refuses every batch (400): refused entries are discarded, not sent again
	const refusing = createServer((request, response) => {
		request.resume();
		request.on('end', () => response.writeHead(400).end('no'));
	});
	await new Promise<void>(done => {
		refusing.listen(0, '127.0.0.1', done);
	});
	const {port} = refusing.address() as AddressInfo;
	const dead = await freePort();
	// a loss the loader reports: a `loss` record, then the `reconcile` record of the scan it asks for
	const child = execa(fimctl, [
		'-v', 'start', temporaryDirectory(), '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'),
		'--sink', `file://${json}?id=json`,
		'--sink', `http://127.0.0.1:${port}/ingest?id=refusing`,
		'--sink', `http://127.0.0.1:${dead}/ingest?id=kept`,
		'--sink', `http://127.0.0.1:${dead}/ingest?id=lost&buffer.type=memory`,
	], {env: {FAKE_EVENTS: '4', FAKE_LOST: '2'}, reject: false, forceKillAfterDelay: false});
	await waitUntil(() => existsSync(json) && readFileSync(json, 'utf8').includes('"kind":"reconcile"'));
	child.kill('SIGTERM');
	const result = await child;
	refusing.close();
	t.is(result.exitCode, 0, String(result.stderr));
	const records = readFileSync(json, 'utf8').trim().split('\n').map(line => JSON.parse(line) as {type?: string});
	const gapRecords = records.filter(record => record.type === 'supervisor').length;
	t.is(records.length - gapRecords, 4);
	t.true(gapRecords >= 2);
	const stderr = String(result.stderr);
	t.regex(stderr, new RegExp(`^fimctl: warn: sink refusing: 0 event\\(s\\) delivered, 4 discarded; supervisor records delivered 0, discarded ${gapRecords}$`, 'm'));
	t.regex(stderr, new RegExp(`^fimctl: warn: sink kept: 4 event\\(s\\) and ${gapRecords} supervisor record\\(s\\) not delivered to .* are kept in its spool for the next start$`, 'm'));
	t.regex(stderr, new RegExp(`^fimctl: warn: sink lost: 4 event\\(s\\) and ${gapRecords} supervisor record\\(s\\) not delivered to .* are lost$`, 'm'));
	t.regex(stderr, new RegExp(`^fimctl: warn: sink lost: 0 event\\(s\\) delivered, 4 discarded; supervisor records delivered 0, discarded ${gapRecords}$`, 'm'));
});

test('a sink that cannot start is an error before the loader runs; bad --sink URLs are usage errors', async t => {
	const directory = temporaryDirectory();
	const unwritable = await execa(fimctl, ['start', directory, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), '--sink', 'file:///nonexistent/dir/x.json'], {reject: false});
	t.is(unwritable.exitCode, 1);
	t.regex(String(unwritable.stderr), /fimctl: error: sink sink1: cannot open \/nonexistent\/dir\/x\.json: ENOENT/);
	const bad = await execa(fimctl, ['start', directory, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), '--sink', 'fluent://127.0.0.1:24224?buffer.when_full=wait'], {reject: false});
	t.is(bad.exitCode, 2);
	t.regex(String(bad.stderr), /fimctl: error: --sink fluent:\/\/127\.0\.0\.1:24224\?buffer\.when_full=wait: buffer\.when_full: expected one of block, drop_newest, got "wait"/);
	const twice = await execa(fimctl, ['start', directory, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), '--sink', 'stdout?id=a', '--sink', `file://${directory}/x.json?id=a`], {reject: false, timeout: 10_000});
	t.is(twice.exitCode, 2);
	t.regex(String(twice.stderr), /two sinks have the id 'a'/);
	const stdoutTwice = await execa(fimctl, ['start', directory, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), '--sink', 'stdout', '--sink', 'stdout?format=text'], {reject: false, timeout: 10_000});
	t.is(stdoutTwice.exitCode, 2);
	t.is(String(stdoutTwice.stderr), 'fimctl: error: --sink stdout?format=text: a second sink on stdout (--sink stdout is one): stdout takes one stream of records; send another format to a file sink');
});

test('validate prints the pipeline a config describes, warns of what will fail, exits 2 on a bad one', async t => {
	const directory = temporaryDirectory();
	const file = join(directory, 'fim.yaml');
	writeFileSync(file, `
sources:
  files: {type: whodata, paths: [${directory}, ${directory}/missing]}
transforms:
  quiet: {type: filter, inputs: [files], exclude_paths: ['**/*.swp']}
sinks:
  wazuh: {type: file, inputs: [quiet], format: wazuh, path: ${directory}/out/wazuh.json, rotate: {max_bytes: 1M, keep: 2}}
  siem: {type: syslog, inputs: [files], mode: tcp, address: '127.0.0.1:601', rfc: 3164}
`);
	const result = await execa(fimctl, ['validate', '--config', file, '--sink', 'fluent://127.0.0.1:24224?id=collector'], {reject: false});
	t.is(result.exitCode, 0, String(result.stderr));
	const lines = String(result.stdout).split('\n');
	t.is(lines[0], `config ${file}: valid`);
	t.regex(lines[1]!, new RegExp(`^sources +files +whodata +paths: ${directory}, ${directory}/missing; enrich: yes$`));
	t.regex(lines[2]!, /^transforms +quiet +filter +inputs: files; exclude_paths: \*\*\/\*\.swp$/);
	t.regex(lines[3]!, /^sinks +wazuh +file +inputs: quiet; format: wazuh; path: .*\/out\/wazuh\.json; rotate at 1048576 bytes, keep 2; buffer: 10000 events, drop_newest/);
	t.regex(lines[4]!, /^sinks +siem +syslog +inputs: files; format: json; tcp 127\.0\.0\.1:601; RFC 3164; user\.notice/);
	t.regex(lines[5]!, /^sinks +collector +fluent +inputs: quiet; format: json; forward to 127\.0\.0\.1:24224; tag fim\.whodata; acks/);
	t.regex(String(result.stderr), /warn: sources\.files\.paths: .*\/missing does not exist/);
	t.regex(String(result.stderr), /warn: sinks\.wazuh\.path: directory .*\/out does not exist/);

	writeFileSync(file, 'sinks:\n  x: {type: syslog, inputs: [s], address: nowhere}\nsources:\n  s: {type: whodata}\n');
	const bad = await execa(fimctl, ['validate', '-c', file], {reject: false});
	t.is(bad.exitCode, 2);
	t.is(String(bad.stderr), `fimctl: error: config ${file}: sinks.x.address: expected host:port, got "nowhere"`);
	t.is(String(bad.stdout), '');
});

test('--metrics serves Prometheus counters per component, buffer sizes and the latency histogram', async t => {
	const directory = temporaryDirectory();
	const port = await freePort();
	const child = execa(fimctl, ['start', directory, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), '--sink', `file://${directory}/events.json?id=archive`, '--metrics', `127.0.0.1:${port}`, '--exclude', '**/file-1*'], {env: {FAKE_EVENTS: '50'}, reject: false, forceKillAfterDelay: false});
	let body = '';
	await waitUntil(() => {
		fetch(`http://127.0.0.1:${port}/metrics`).then(async response => {
			body = await response.text();
		}, () => {});
		return /fim_events_sent_total\{component_id="archive",component_kind="sink",component_type="file"\} 39/.test(body);
	}, 20_000);
	child.kill('SIGTERM');
	t.is((await child).exitCode, 0);
	t.regex(body, /fim_events_received_total\{component_id="whodata",component_kind="source",component_type="whodata"\} 50/);
	// file-1 and file-10 … file-19 are filtered out.
	t.regex(body, /fim_events_discarded_total\{component_id="whodata",component_kind="source",component_type="whodata"\} 11/);
	t.regex(body, /fim_events_received_total\{component_id="archive",component_kind="sink",component_type="file"\} 39/);
	t.regex(body, /fim_event_latency_seconds_count\{component_id="archive"\} 39/);
	t.regex(body, /fim_sink_buffer_events\{component_id="archive"\} 0/);
	t.regex(body, /fim_sink_buffer_max_events\{component_id="archive"\} 10000/);
	t.regex(body, /fim_events_lost_total 0/);
	t.regex(body, /fim_loader_restarts_total 0/);
	t.regex(body, /fim_errors_total\{component_id="archive",stage="sending"\} 0/);
	t.regex(body, /fim_ringbuf_size_bytes 1048576/);
	t.regex(body, /fim_process_resident_memory_bytes \d+/);

	const bad = await execa(fimctl, ['start', directory, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), '--metrics', 'everywhere'], {reject: false});
	t.is(bad.exitCode, 2);
	t.regex(String(bad.stderr), /--metrics: expected HOST:PORT \(127\.0\.0\.1:9464\), got "everywhere"/);
});

test('a change found by reconciliation goes only to the sinks whose route takes it', async t => {
	const directory = temporaryDirectory();
	const out = temporaryDirectory();
	const state = temporaryDirectory('fim-state-');
	const start = (sinks: string[]) => {
		const child = execa(fimctl, ['start', directory, '--state-dir', state, '--loader', fixture('canned-loader.mjs'), ...sinks], {env: {FAKE_EVENTS: '0'}, reject: false, forceKillAfterDelay: false});
		let stderr = '';
		child.stderr.on('data', (chunk: Buffer) => {
			stderr += chunk.toString();
		});
		return {child, stderr: () => stderr};
	};

	// The first start makes the baseline; what changes while fimctl is down is found at the next.
	const first = start([]);
	await waitUntil(() => first.stderr().includes('baseline of'));
	first.child.kill('SIGTERM');
	t.is((await first.child).exitCode, 0, first.stderr());
	writeFileSync(join(directory, 'added-while-down'), 'x');

	const all = join(out, 'all.json');
	const deletes = join(out, 'deletes.json');
	const ecs = join(out, 'ecs.json');
	const second = start(['--sink', `file://${all}?id=all`, '--sink', `file://${deletes}?id=deletes&operations=delete`, '--sink', `file://${ecs}?id=ecs&format=ecs`]);
	await waitUntil(() => {
		try {
			return readFileSync(all, 'utf8').includes('added-while-down');
		} catch {
			return false;
		}
	}, 20_000);
	second.child.kill('SIGTERM');
	t.is((await second.child).exitCode, 0, second.stderr());
	const found = readFileSync(all, 'utf8').trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
	t.like(found.find(record => record['path'] === join(directory, 'added-while-down')), {operation: 'add', source: 'reconcile'});
	// the other formats have what its JSON line has, the host included
	const documents = readFileSync(ecs, 'utf8').trim().split('\n').map(line => JSON.parse(line) as {file?: {path: string}; host?: {hostname: string}});
	t.like(documents.find(document => document.file?.path === join(directory, 'added-while-down')), {host: {hostname: hostname()}});
	// The reconciliation's own summary (a supervisor record) goes to every sink and names it.
	const events = readFileSync(deletes, 'utf8').trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>).filter(record => record['type'] !== 'supervisor');
	t.deepEqual(events, [], 'an add is no delete');
});
