import {readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import anyTest from 'ava';
import {execa} from 'execa';
import {parseConfig} from '../../supervisor/src/config.js';
import {LoaderRefusedError, UsageError} from '../../supervisor/src/errors.js';
import {WhoDataMonitor} from '../../supervisor/src/monitor.js';
import {fimctlUntilFirstLine, fixture, repoRoot, temporaryDirectory} from './helpers.js';

// One at a time: each test starts fimctl and a canned loader, two node processes. Started
// together on 2 vCPUs, they waited past the 10 s limit for fimctl's first line (19 tests timed
// out in one fresh-clone run of the whole unit suite).
const test = anyTest.serial;

// --backend from fimctl, the config file and the library to the loader, against the fake loader
// (which names the forced backend in its hello, or refuses it like a kernel that forbids fentry).

const fimctl = join(repoRoot, 'bin/fimctl');
const canned = fixture('canned-loader.mjs');

function argvRuns(log: string): string[][] {
	return readFileSync(log, 'utf8').trim().split('\n').map(line => JSON.parse(line) as string[]);
}

function backendArgument(argv: string[]): string | undefined {
	const at = argv.indexOf('--backend');
	return at === -1 ? undefined : argv[at + 1];
}

test('fimctl start --backend is passed to the loader; the config key too, the flag winning; none by default', async t => {
	const directory = temporaryDirectory();
	const config = join(directory, 'fim.yaml');
	writeFileSync(config, `sources:\n  files:\n    type: whodata\n    paths: [${directory}]\n    backend: tracepoint\n`);
	const runs: Array<[string[], string | undefined, string]> = [
		[['--backend', 'fentry'], 'fentry', 'fentry'],
		[['--config', config], 'tracepoint', 'tracepoint'],
		[['--config', config, '--backend', 'auto'], 'auto', 'fake'],
		[[], undefined, 'fake'],
	];
	for (const [flags, passed, inHello] of runs) {
		const log = join(temporaryDirectory(), 'argv.log');
		// eslint-disable-next-line no-await-in-loop
		const result = await fimctlUntilFirstLine(['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', canned, '--verbose', ...flags], {env: {FAKE_EVENTS: '1', FAKE_ARGV_LOG: log}});
		t.is(result.exitCode, 0, flags.join(' '));
		t.is(backendArgument(argvRuns(log)[0]!), passed, flags.join(' '));
		t.regex(String(result.stderr), new RegExp(`loader ready: backend ${inHello},`), flags.join(' '));
	}
});

test('a forced backend the kernel refuses: exit 3 and the loader\'s reason, no restart, no stack trace', async t => {
	const directory = temporaryDirectory();
	const log = join(directory, 'argv.log');
	const result = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', canned, '--backend', 'fentry'], {env: {FAKE_REFUSE_BACKEND: 'fentry', FAKE_ARGV_LOG: log}, reject: false, timeout: 20_000});
	t.is(result.exitCode, 3);
	const last = String(result.stderr).trim().split('\n').at(-1)!;
	t.is(last, 'fimctl: error: unsupported system: --backend fentry: the kernel refused an fentry program on security_path_unlink: Operation not permitted');
	t.false(/\n\s+at /.test(String(result.stderr)));
	t.is(String(result.stderr).match(/the kernel refused/g)?.length, 1, `the reason is said once:\n${String(result.stderr)}`);
	t.is(argvRuns(log).length, 1, 'a refusal is not retried');
});

test('an unknown backend is a usage error (exit 2) from the flag and from the config file', async t => {
	const directory = temporaryDirectory();
	const flag = await execa(fimctl, ['start', '--state-dir', temporaryDirectory('fim-state-'), directory, '--loader', canned, '--backend', 'lsm'], {reject: false});
	t.is(flag.exitCode, 2);
	t.regex(String(flag.stderr), /backend.*"lsm".*"auto", "tracepoint", "fentry"/s);
	t.throws(() => parseConfig({sources: {files: {type: 'whodata', paths: ['/'], backend: 'lsm'}}}), {message: /sources\.files\.backend: expected one of auto, tracepoint, fentry/});
	t.is(parseConfig({sources: {files: {type: 'whodata', paths: ['/'], backend: 'fentry'}}}).source.backend, 'fentry');
});

test('WhoDataMonitor: the backend option reaches the loader; an unknown one is a UsageError, a refused one exit code 3', async t => {
	const directory = temporaryDirectory();
	const monitor = await WhoDataMonitor.create({paths: [directory], loaderPath: canned, backend: 'tracepoint', enrich: false, env: {...process.env, FAKE_EVENTS: '0'}});
	t.like(monitor.hello, {backend: 'tracepoint', backend_reason: 'chosen with --backend'});
	await monitor.close();

	await t.throwsAsync(WhoDataMonitor.create({paths: [directory], loaderPath: canned, backend: 'lsm' as 'auto'}), {instanceOf: UsageError, message: 'backend: "lsm" is not one of auto, tracepoint, fentry'});
	const refused = await t.throwsAsync(WhoDataMonitor.create({paths: [directory], loaderPath: canned, backend: 'fentry', env: {...process.env, FAKE_REFUSE_BACKEND: 'fentry'}}), {instanceOf: LoaderRefusedError});
	t.is(refused?.exitCode, 3);
	t.regex(refused?.message ?? '', /^unsupported system: --backend fentry: the kernel refused/);
});

const root = process.geteuid?.() === 0;

test('fimctl check --backend: a backend row with the loader\'s choice and reason, or why the kernel refused it', async t => {
	const loaded = await execa(fimctl, ['check', '--loader', canned, '--backend', 'fentry'], {reject: false});
	const refused = await execa(fimctl, ['check', '--loader', canned, '--backend', 'fentry'], {reject: false, env: {FAKE_REFUSE_BACKEND: 'fentry'}});
	if (!root) {
		// without privileges check does not start the loader; it says so
		t.regex(String(loaded.stdout), /^backend +WARN +fentry: not confirmed/m);
		return;
	}

	t.regex(String(loaded.stdout), /^backend +OK +fentry \(chosen with --backend\)$/m);
	t.is(refused.exitCode, 1);
	t.regex(String(refused.stdout), /^backend +FAIL +fentry refused by this kernel: the kernel refused an fentry program on security_path_unlink: Operation not permitted$/m);
	t.regex(String(refused.stderr), /^fimctl: check failed: loader: .* did not load: --backend fentry: the kernel refused an fentry program on security_path_unlink: Operation not permitted$/);
});
