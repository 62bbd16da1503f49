import {spawn} from 'node:child_process';
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';
import anyTest from 'ava';
import {execa} from 'execa';
import {fimctlUntilFirstLine, fixture, repoRoot, temporaryDirectory, waitUntil} from './helpers.js';

// One at a time: each test starts fimctl and a canned loader, two node processes. Started
// together on 2 vCPUs, they waited past the 10 s limit for fimctl's first line (19 tests timed
// out in one fresh-clone run of the whole unit suite).
const test = anyTest.serial;

const fimctl = join(repoRoot, 'bin/fimctl');

function noStackTrace(t: {false(value: boolean, message?: string): void}, stderr: string): void {
	t.false(/\n\s+at /.test(stderr), `stack trace in: ${stderr}`);
}

test('start prints one JSON event per line on stdout, diagnostics on stderr, and exits 0 on SIGTERM', async t => {
	const directory = temporaryDirectory();
	const child = execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', fixture('canned-loader.mjs')], {env: {FAKE_EVENTS: '4'}, reject: false, buffer: true});
	let stdout = '';
	child.stdout.on('data', (chunk: Buffer) => {
		stdout += chunk.toString();
	});
	await waitUntil(() => stdout.split('\n').length > 4);
	child.kill('SIGTERM');
	const result = await child;
	t.is(result.exitCode, 0);
	const events = stdout.trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
	t.deepEqual(events.map(event => event['operation']), ['add', 'modify', 'rename', 'attrib']);
	for (const event of events) {
		t.false('type' in event);
		for (const field of ['timestamp', 'operation', 'path', 'pid', 'uid', 'auid', 'process_name', 'exe', 'cmdline', 'cwd', 'parent_name', 'user_name', 'group_name', 'login_user', 'container_id', 'host']) {
			t.true(field in event, `missing ${field}`);
		}
	}

	t.regex(String(result.stderr), /fimctl: info: watching /);
	t.regex(String(result.stderr), /terminated; stopping/);
});

test('text format, filters from flags', async t => {
	const directory = temporaryDirectory();
	const child = execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), '--format', 'text', '--ops', 'rename,delete', directory, '--loader', fixture('canned-loader.mjs')], {env: {FAKE_EVENTS: '5'}, reject: false});
	let stdout = '';
	child.stdout.on('data', (chunk: Buffer) => {
		stdout += chunk.toString();
	});
	await waitUntil(() => stdout.split('\n').length > 2);
	child.kill('SIGINT');
	const result = await child;
	t.is(result.exitCode, 0);
	const lines = stdout.trim().split('\n');
	t.is(lines.length, 2);
	t.regex(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z rename +\/.*file-2 user=root login=- process=node pid=\d+ exe=\//);
	t.regex(lines[1]!, / delete /);
});

test('a closed stdout (EPIPE) ends fimctl cleanly with one line', async t => {
	const directory = temporaryDirectory();
	const result = await execa('sh', ['-c', `"${fimctl}" start --state-dir "${temporaryDirectory('fim-state-')}" "${directory}" --loader "${fixture('canned-loader.mjs')}" | head -n 1 >/dev/null; sleep 0.3; echo done`], {env: {FAKE_EVENTS: '20000'}, reject: false, timeout: 20_000, all: true});
	t.is(result.exitCode, 0);
	const stderr = String(result.all);
	noStackTrace(t, stderr);
	t.regex(stderr, /stdout was closed by its reader; stopping/);
});

/** Records in a spool directory (buffer.ts: frames of u32 length, f64 timestamp, line), unread ones only. */
function spooledRecords(directory: string): number {
	const position = existsSync(join(directory, 'read-position.json')) ? JSON.parse(readFileSync(join(directory, 'read-position.json'), 'utf8')) as {segment: number; offset: number} : undefined;
	let records = 0;
	for (const name of readdirSync(directory).filter(name => name.endsWith('.spool'))) {
		const bytes = readFileSync(join(directory, name));
		for (let offset = Number(name.slice(0, 20)) === position?.segment ? position.offset : 0; offset < bytes.length; offset += 12 + bytes.readUInt32LE(offset)) {
			records++;
		}
	}

	return records;
}

test('stopped while the reader of stdout takes nothing: out within its 5 s, the rest spooled and said so', async t => {
	const state = temporaryDirectory('fim-state-');
	// stdout a pipe nobody reads: it fills, then the buffer, then the spool
	const child = spawn(fimctl, ['-v', 'start', '--state-dir', state, temporaryDirectory(), '--loader', fixture('canned-loader.mjs')], {env: {...process.env, FAKE_EVENTS: '20000'}, stdio: ['ignore', 'pipe', 'pipe']});
	const exited = new Promise<number | null>(resolve => child.on('exit', resolve));
	let stderr = '';
	child.stderr.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	await waitUntil(() => stderr.includes('watching'));
	// every event read, memory full and the rest in the spool
	type Status = {events_received_total?: number; spool_bytes?: number};
	let status: Status = {};
	for (const deadline = Date.now() + 20_000; (status.events_received_total !== 20_000 || !status.spool_bytes) && Date.now() < deadline;) {
		// eslint-disable-next-line no-await-in-loop
		const answer = await execa(fimctl, ['status', '--state-dir', state, '--json'], {reject: false});
		status = answer.exitCode === 0 ? JSON.parse(String(answer.stdout)) as Status : {};
	}

	const stoppedAt = Date.now();
	child.kill('SIGTERM');
	const code = await exited;
	const seconds = (Date.now() - stoppedAt) / 1000;
	t.is(code, 0, stderr);
	// 5 s for stdout, not 5 for its buffer and 5 more for the stream (a 10 s stop before)
	t.true(seconds < 8, `${seconds} s`);
	// what the stall spooled before the stop is kept too, not only what memory held at the stop
	const spooled = spooledRecords(join(state, 'spool', 'stdout'));
	t.true(spooled > 10_000, `${spooled} records in the spool`);
	t.regex(stderr, new RegExp(`fimctl: warn: ${spooled} record\\(s\\) the reader did not take within 5 s are kept in the spool`));
	const stop = /fimctl: debug: events received 20000, passed on 20000, .*; stdout: (\d+) record\(s\) written, (\d+) record\(s\) kept in the spool, 0 discarded$/m.exec(stderr);
	t.truthy(stop, stderr);
	t.is(Number(stop?.[2]), spooled);
	t.is(Number(stop?.[1]) + spooled, 20_000);
});

test('the stop line counts gap records apart from events', async t => {
	// a loss the loader reports: a `loss` record, then the `reconcile` record of the scan it asks for
	const child = execa(fimctl, ['-v', 'start', '--state-dir', temporaryDirectory('fim-state-'), temporaryDirectory(), '--loader', fixture('canned-loader.mjs')], {env: {FAKE_EVENTS: '4', FAKE_LOST: '2'}, reject: false});
	let stdout = '';
	child.stdout.on('data', (chunk: Buffer) => {
		stdout += chunk.toString();
	});
	await waitUntil(() => stdout.includes('"kind":"reconcile"'));
	child.kill('SIGTERM');
	const result = await child;
	t.is(result.exitCode, 0);
	const records = String(result.stdout).trim().split('\n').map(line => JSON.parse(line) as {type?: string});
	const gapRecords = records.filter(record => record.type === 'supervisor').length;
	t.is(records.length - gapRecords, 4);
	t.true(gapRecords >= 2);
	t.regex(String(result.stderr), new RegExp(`^fimctl: debug: events received 4, passed on 4, discarded 0, lost 2; supervisor records passed on ${gapRecords}; stdout: ${records.length} record\\(s\\) written, 0 record\\(s\\) kept in the spool, 0 discarded$`, 'm'));
});

test('usage errors exit 2 with one line and no stack trace', async t => {
	const cases: Array<[string[], RegExp]> = [
		[['start', '/nonexistent/fim', '--loader', fixture('canned-loader.mjs')], /fimctl: error: cannot watch \/nonexistent\/fim: no such file or directory/],
		[['start', '--bogus', '/tmp', '--loader', fixture('canned-loader.mjs')], /Unknown argument: bogus/],
		[['start', '--exclude', '*.{a', '/tmp', '--loader', fixture('canned-loader.mjs')], /bad glob "\*\.\{a"/],
		[['start', '--ops', 'write', '/tmp', '--loader', fixture('canned-loader.mjs')], /--ops: unknown operation "write"/],
		[['start', '--include-uid', 'root', '/tmp', '--loader', fixture('canned-loader.mjs')], /--include-uid: "root" is not a numeric id/],
		[['start', '--loader', fixture('canned-loader.mjs')], /no path to watch/],
		[['start', '--format', 'xml', '/tmp', '--loader', fixture('canned-loader.mjs')], /Invalid values: Argument: format, Given: "xml", Choices: "json"/],
		[['start', '--ops', '', '/tmp', '--loader', fixture('canned-loader.mjs')], /--ops: expected at least one operation/],
		[['start', '--include-uid', '1,,2', '/tmp', '--loader', fixture('canned-loader.mjs')], /--include-uid: an empty item in "1,,2"/],
		[['frobnicate'], /Unknown argument: frobnicate/],
		[[], /give a command/],
	];
	for (const [args, pattern] of cases) {
		// eslint-disable-next-line no-await-in-loop
		const result = await execa(fimctl, args, {reject: false});
		t.is(result.exitCode, 2, `${args.join(' ')}: ${String(result.stderr)}`);
		t.regex(String(result.stderr), pattern);
		t.is(String(result.stderr).split('\n').length, 1, `one line: ${String(result.stderr)}`);
		noStackTrace(t, String(result.stderr));
		t.is(String(result.stdout), '');
	}
});

test('a bad config file is a usage error naming the key', async t => {
	const directory = temporaryDirectory();
	const file = join(directory, 'fim.yaml');
	writeFileSync(file, `sources:\n  s:\n    type: whodata\n    paths: [${directory}]\n    colaesce_ms: 5\n`);
	const result = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), '--config', file], {reject: false});
	t.is(result.exitCode, 2);
	t.regex(String(result.stderr), /unknown key 'sources\.s\.colaesce_ms' \(did you mean 'coalesce_ms'\?\)/);
});

test('a config file supplies paths, filters and format', async t => {
	const directory = temporaryDirectory();
	const file = join(directory, 'fim.json');
	writeFileSync(file, JSON.stringify({
		sources: {s: {type: 'whodata', paths: [directory], loader: fixture('canned-loader.mjs')}},
		transforms: {f: {type: 'filter', inputs: ['s'], operations: ['modify']}},
		sinks: {o: {type: 'stdout', inputs: ['f'], format: 'json'}},
	}));
	const child = execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), '--config', file], {env: {FAKE_EVENTS: '5'}, reject: false});
	let stdout = '';
	child.stdout.on('data', (chunk: Buffer) => {
		stdout += chunk.toString();
	});
	await waitUntil(() => stdout.includes('\n'));
	child.kill('SIGTERM');
	await child;
	t.is((JSON.parse(stdout.trim().split('\n')[0]!) as {operation: string}).operation, 'modify');
});

test('runtime failures exit 1; unsupported system exits 3', async t => {
	const directory = temporaryDirectory();
	const missing = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', '/nonexistent/fim-loader'], {reject: false});
	t.is(missing.exitCode, 1);
	t.regex(String(missing.stderr), /loader binary not found or not executable: \/nonexistent\/fim-loader/);

	const loop = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', fixture('exit-at-once.sh')], {reject: false, timeout: 20_000});
	t.is(loop.exitCode, 1);
	t.regex(String(loop.stderr), /fimctl: error: loader crash loop: 5 crashes within 60 s .*simulated verifier rejection/);
	noStackTrace(t, String(loop.stderr));

	const unsupported = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', fixture('refuse.sh')], {reject: false, env: {FAKE_EXIT: '3'}});
	t.is(unsupported.exitCode, 3);
	t.regex(String(unsupported.stderr), /unsupported system: BTF/);

	const denied = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', fixture('refuse.sh')], {reject: false, env: {FAKE_EXIT: '4'}});
	t.is(denied.exitCode, 1);
	t.regex(String(denied.stderr), /permission denied/);
});

test('a start without root or the capabilities leaves nothing on disk and says why in one line', async t => {
	if (process.geteuid?.() !== 0) {
		t.pass('needs root, to start fimctl as nobody');
		return;
	}

	// nobody may make the state directory here: the privilege check, not the file system, must refuse
	const parent = temporaryDirectory();
	chmodSync(parent, 0o1777);
	const state = join(parent, 'state');
	const result = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', fimctl, 'start', '--state-dir', state, parent, '--loader', fixture('refuse.sh')], {reject: false, env: {FAKE_EXIT: '4'}});
	t.is(result.exitCode, 1);
	t.is(String(result.stderr), 'fimctl: error: permission denied (run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): not root and missing CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF');
	t.false(existsSync(state), 'the state directory was made');
});

test('relative paths are resolved and said so', async t => {
	const directory = temporaryDirectory();
	const result = await fimctlUntilFirstLine(['start', '--state-dir', temporaryDirectory('fim-state-'), '.', '--loader', fixture('canned-loader.mjs')], {cwd: directory, env: {FAKE_EVENTS: '1'}});
	t.regex(String(result.stderr), /relative path "\." resolved to /);
});

test('--help and version', async t => {
	const help = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), '--help']);
	t.regex(String(help.stdout), /Examples:/);
	t.regex(String(help.stdout), /--exclude/);
	const version = await execa(fimctl, ['version', '--loader', '/nonexistent']);
	t.regex(String(version.stdout), /^fimctl \d+\.\d+\.\d+ \(protocol 1\)\nfim-loader not available \(\/nonexistent\)$/);
	const flag = await execa(fimctl, ['--version']);
	t.regex(String(flag.stdout), /^\d+\.\d+\.\d+$/);
});

// yargs' ES module build wrapped help lines at the column width inside words ("control soc" /
// "ket)"); the words of these descriptions must come out whole, wherever the lines break.
test('--help wraps its lines between words', async t => {
	const help = String((await execa(fimctl, ['--help'])).stdout);
	t.regex(help, /its\s+control\s+socket\)/);
	t.regex(help, /a --backend\s+the\s+kernel\s+refuses/);
	const start = String((await execa(fimctl, ['start', '--help'])).stdout);
	t.regex(start, /Send events there \(repeatable; replaces stdout\): stdout, file:\/\/\/PATH,\s+syslog/);
	for (const line of start.split('\n')) {
		t.true(line.length <= 100, `longer than the wrap width: ${line}`);
	}

	// an example is a command to copy: on a line of its own, whole, whatever its length
	t.regex(start, /^ {2}fimctl start \/etc --sink 'file:\/\/\/var\/log\/fim\/wazuh\.json\?format=wazuh&rotate\.max_bytes=100M'$/m);
	t.regex(start, /^ {2}fimctl start --config fim\.yaml --metrics 127\.0\.0\.1:9464$/m);
});

test('the help of every command ends with the exit codes', async t => {
	for (const command of [[], ['start'], ['validate'], ['check'], ['status'], ['version']]) {
		// eslint-disable-next-line no-await-in-loop
		const help = String((await execa(fimctl, [...command, '--help'])).stdout);
		t.regex(help, /Exit codes: 0 success, 1 runtime error, 2 usage error, 3 unsupported system/, command.join(' '));
	}
});

test('--log-format json puts JSON diagnostics on stderr', async t => {
	const result = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), '/nonexistent/fim', '--log-format', 'json', '--loader', fixture('canned-loader.mjs')], {reject: false});
	const line = JSON.parse(String(result.stderr).trim()) as {level: string; message: string};
	t.is(line.level, 'error');
	t.regex(line.message, /cannot watch/);
});

test('after a loader restart, SIGTERM still stops fimctl cleanly with exit 0', async t => {
	const directory = temporaryDirectory();
	const child = execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', fixture('canned-loader.mjs')], {env: {FAKE_EVENTS: '0'}, reject: false});
	let stdout = '';
	let stderr = '';
	child.stdout.on('data', (chunk: Buffer) => {
		stdout += chunk.toString();
	});
	child.stderr.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	await waitUntil(() => stderr.includes('watching'));
	const loaderPid = Number(readFileSync(`/proc/${child.pid!}/task/${child.pid!}/children`, 'latin1').trim().split(' ')[0]);
	process.kill(loaderPid, 'SIGKILL');
	await waitUntil(() => stdout.includes('"kind":"restart"'));
	const restart = stdout.trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>).find(record => record['kind'] === 'restart');
	t.like(restart, {type: 'supervisor', kind: 'restart', exit: 'killed by SIGKILL', restarts: 1, paths: [directory]});
	child.kill('SIGTERM');
	const result = await child;
	t.is(result.exitCode, 0, String(result.stderr));
});

test('options may come before the paths, and paths after --, a dash first in their name', async t => {
	const directory = temporaryDirectory();
	const dashed = join(directory, '-dash');
	mkdirSync(dashed);
	const runs: Array<[string[], string]> = [
		[['--exclude', '**/*.swp', '--include-uid', '0', '--sink', 'stdout', directory], directory],
		[['--', '-dash'], dashed],
	];
	for (const [args, watched] of runs) {
		const log = join(temporaryDirectory(), 'argv.log');
		// eslint-disable-next-line no-await-in-loop
		const result = await fimctlUntilFirstLine(['start', '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), ...args], {cwd: directory, env: {FAKE_EVENTS: '1', FAKE_ARGV_LOG: log}});
		t.is(result.exitCode, 0, `${args.join(' ')}: ${String(result.stderr)}`);
		const argv = JSON.parse(readFileSync(log, 'utf8').split('\n')[0]!) as string[];
		t.deepEqual(argv.flatMap((arg, index) => (arg === '--path' ? [argv[index + 1]] : [])), [watched], args.join(' '));
	}
});

test('--allow-absent: a path that does not exist is given to the loader as --absent-path; without it, refused', async t => {
	const later = join(temporaryDirectory(), 'later');
	const refused = await execa(fimctl, ['start', later, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs')], {reject: false, timeout: 10_000});
	t.is(refused.exitCode, 2);
	t.is(String(refused.stderr), `fimctl: error: cannot watch ${later}: no such file or directory`);
	const log = join(temporaryDirectory(), 'argv.log');
	const result = await fimctlUntilFirstLine(['start', '--allow-absent', later, '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs')], {env: {FAKE_EVENTS: '1', FAKE_ARGV_LOG: log}});
	t.is(result.exitCode, 0, String(result.stderr));
	t.deepEqual((JSON.parse(readFileSync(log, 'utf8').split('\n')[0]!) as string[]).slice(0, 2), ['--absent-path', later]);
});

test('a loader tunable the loader would refuse is a usage error naming the flag', async t => {
	const result = await execa(fimctl, ['start', temporaryDirectory(), '--state-dir', temporaryDirectory('fim-state-'), '--loader', fixture('canned-loader.mjs'), '--max-delay-us', '5'], {reject: false, timeout: 10_000});
	t.is(result.exitCode, 2);
	t.is(String(result.stderr), 'fimctl: error: --max-delay-us: expected an integer from 10 to 1000000, got 5');
});

test('status before the loader said hello: starting, not undefined', async t => {
	const state = temporaryDirectory('fim-state-');
	const child = execa(fimctl, ['start', '--state-dir', state, temporaryDirectory(), '--loader', fixture('silent.sh')], {reject: false});
	try {
		await waitUntil(() => existsSync(join(state, 'control.sock')));
		const text = await execa(fimctl, ['status', '--state-dir', state], {reject: false});
		t.is(text.exitCode, 0);
		t.is(String(text.stdout), `fimctl       starting, pid ${child.pid!}: the sensor is not running yet; ask again in a moment`);
	} finally {
		child.kill('SIGTERM');
		await child;
	}
});

test('status: the discarded total adds every sink\'s discards to the filters\'', async t => {
	// a receiver that refuses every batch for good: the http sink discards what it gets
	const refusing = createServer((request, response) => {
		request.resume();
		request.on('end', () => response.writeHead(400).end());
	});
	await new Promise<void>(resolve => {
		refusing.listen(0, '127.0.0.1', resolve);
	});
	const {port} = refusing.address() as AddressInfo;
	const state = temporaryDirectory('fim-state-');
	// the canned events are add, modify, rename, attrib: --ops drops the attrib before any sink
	const child = execa(fimctl, ['start', '--state-dir', state, temporaryDirectory(), '--loader', fixture('canned-loader.mjs'), '--ops', 'add,modify,rename', '--sink', 'stdout', '--sink', `http://127.0.0.1:${port}/?id=refused&batch.timeout_secs=0`], {env: {FAKE_EVENTS: '4'}, reject: false});
	try {
		type Status = {events_discarded_total?: number; sinks?: Array<{id: string; buffer: {discarded_total: number}}>};
		let status: Status = {};
		for (const deadline = Date.now() + 10_000; status.sinks?.find(sink => sink.id === 'refused')?.buffer.discarded_total !== 3 && Date.now() < deadline;) {
			// eslint-disable-next-line no-await-in-loop
			const answer = await execa(fimctl, ['status', '--state-dir', state, '--json'], {reject: false});
			status = answer.exitCode === 0 ? JSON.parse(String(answer.stdout)) as Status : {};
		}

		t.like(status, {events_discarded_total: 4});
		const text = await execa(fimctl, ['status', '--state-dir', state]);
		t.regex(String(text.stdout), /^events +.*, 4 discarded \(1 by filters, 3 by sinks\)$/m);
		t.regex(String(text.stdout), /^sink refused +http; .*, 3 discarded$/m);
	} finally {
		child.kill('SIGTERM');
		await child;
		refusing.close();
	}
});

test('status: the sent total counts the events passed on, not gap records, with a file sink only', async t => {
	const state = temporaryDirectory('fim-state-');
	const file = join(temporaryDirectory(), 'events.json');
	// a loss the loader reports: a `loss` record, then the `reconcile` record of the scan it asks for
	const child = execa(fimctl, ['start', '--state-dir', state, temporaryDirectory(), '--loader', fixture('canned-loader.mjs'), '--sink', `file://${file}`], {env: {FAKE_EVENTS: '4', FAKE_LOST: '2'}, reject: false});
	try {
		await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').includes('"kind":"reconcile"'));
		type Status = {events_sent_total?: number; sinks?: Array<{buffer: {sent_total: number}}>};
		let status: Status = {};
		let lines: string[] = [];
		// the file has a batch a moment before its sink counts it, and more records may follow
		for (const deadline = Date.now() + 10_000; status.sinks?.[0]?.buffer.sent_total !== lines.length && Date.now() < deadline;) {
			// eslint-disable-next-line no-await-in-loop
			status = JSON.parse(String((await execa(fimctl, ['status', '--state-dir', state, '--json'])).stdout)) as Status;
			lines = readFileSync(file, 'utf8').trim().split('\n');
		}

		const gapRecords = lines.filter(line => line.startsWith('{"type":"supervisor"')).length;
		t.true(gapRecords >= 2);
		t.is(lines.length, 4 + gapRecords);
		t.like(status, {events_sent_total: 4, sinks: [{buffer: {sent_total: lines.length}}]});
		const text = await execa(fimctl, ['status', '--state-dir', state]);
		t.regex(String(text.stdout), /^events +.* 4 from the kernel, 0 found by reconciliation, 4 passed on, 0 discarded/m);
	} finally {
		child.kill('SIGTERM');
		await child;
	}
});

test('status just after start: events/s over the seconds since, and says so', async t => {
	const state = temporaryDirectory('fim-state-');
	const child = execa(fimctl, ['start', '--state-dir', state, temporaryDirectory(), '--loader', fixture('canned-loader.mjs')], {env: {FAKE_EVENTS: '1000'}, reject: false});
	let stderr = '';
	child.stderr.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	try {
		await waitUntil(() => stderr.includes('watching'));
		const json = await execa(fimctl, ['status', '--state-dir', state, '--json']);
		const status = JSON.parse(String(json.stdout)) as {events_per_second: number; events_per_second_window_s: number; uptime_s: number};
		t.true(status.events_per_second_window_s < 10, String(json.stdout));
		const text = await execa(fimctl, ['status', '--state-dir', state]);
		const seconds = /^events +[\d,.]+\/s over the last ([\d.]+) s;/m.exec(String(text.stdout))?.[1];
		t.true(Number(seconds) < 10, String(text.stdout));
	} finally {
		child.kill('SIGTERM');
		await child;
	}
});

test('status names the watched paths that are not there now, as the loader says', async t => {
	const state = temporaryDirectory('fim-state-');
	// fimctl lists its paths sorted
	const parent = temporaryDirectory();
	const kept = join(parent, 'a-kept');
	const gone = join(parent, 'b-gone');
	mkdirSync(kept);
	mkdirSync(gone);
	const child = execa(fimctl, ['start', '--state-dir', state, kept, gone, '--loader', fixture('canned-loader.mjs')], {env: {FAKE_EVENTS: '0'}, reject: false});
	let stderr = '';
	child.stderr.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	try {
		await waitUntil(() => stderr.includes('watching'));
		rmSync(gone, {recursive: true});
		const json = await execa(fimctl, ['status', '--state-dir', state, '--json']);
		t.like(JSON.parse(String(json.stdout)), {paths: [kept, gone], absent_paths: [gone]});
		const text = await execa(fimctl, ['status', '--state-dir', state]);
		t.regex(String(text.stdout), new RegExp(`^watching +${kept}, ${gone}; not there now, watched from when made: ${gone}$`, 'm'));
	} finally {
		child.kill('SIGTERM');
		await child;
	}
});

test('status answers over the control socket; a second start on the same state directory is refused', async t => {
	const directory = temporaryDirectory();
	const state = temporaryDirectory('fim-state-');
	const child = execa(fimctl, ['start', '--state-dir', state, directory, '--loader', fixture('canned-loader.mjs'), '--sink', 'stdout', '--sink', `file://${join(state, 'events.json')}`], {env: {FAKE_EVENTS: '4'}, reject: false});
	let stderr = '';
	child.stderr.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	try {
		await waitUntil(() => stderr.includes('watching'));
		const json = await execa(fimctl, ['status', '--state-dir', state, '--json'], {reject: false});
		t.is(json.exitCode, 0, String(json.stderr));
		const status = JSON.parse(String(json.stdout)) as Record<string, unknown>;
		t.like(status, {ok: true, pid: child.pid, paths: [directory], events_received_total: 4, events_lost_total: 0, loader_restarts_total: 0, spool_bytes: 0});
		t.is(typeof status['uptime_s'], 'number');
		t.is(typeof status['events_per_second'], 'number');
		t.like((status['sinks'] as unknown[])[0], {id: 'sink1', type: 'stdout', buffer: {max_events: 10_000, memory_events: 0, when_full: 'drop_newest'}});
		t.like((status['sinks'] as unknown[])[1], {id: 'sink2', type: 'file', buffer: {memory_events: 0, spool_bytes: 0, spool_files: 0}});
		const text = await execa(fimctl, ['status', '--state-dir', state]);
		t.regex(String(text.stdout), /^fimctl +0\.\d+\.\d+, pid \d+, up 0h 00m \d\ds/m);
		t.regex(String(text.stdout), /^lost +0 /m);
		t.regex(String(text.stdout), /^sink sink1 +stdout; memory 0\/10,000 records, spool 0 bytes in 0 file\(s\)/m);
		t.regex(String(text.stdout), /^sink sink2 +file; memory 0\/10,000 records, spool 0 bytes in 0 file\(s\)/m);
		t.regex(String(text.stdout), /^reconcile +/m);
		const second = await execa(fimctl, ['start', '--state-dir', state, directory, '--loader', fixture('canned-loader.mjs')], {reject: false});
		t.is(second.exitCode, 1);
		t.regex(String(second.stderr), /^fimctl: error: another fimctl is running with the state directory .* stop it, or give this one another --state-dir$/);
	} finally {
		child.kill('SIGTERM');
		await child;
	}

	const after = await execa(fimctl, ['status', '--state-dir', state], {reject: false});
	t.is(after.exitCode, 1);
	t.regex(String(after.stderr), /fimctl: error: no fimctl is running with the state directory/);
});
