import {spawn} from 'node:child_process';
import {mkdirSync, mkdtempSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import test from 'ava';
import {execa} from 'execa';
import {schedPolicyNumber, schedPolicyOf, threadSchedPolicies} from '../../supervisor/src/sched.js';
import {cleanUp, e2e, Fimctl, fimctl, fimctlStatus, killLeftoverLoaders, loader, loaderPid, root, sleep, workDirectory, type Json} from './fimctl-harness.js';

function loginUid(pid: number): number | null {
	const value = Number(readFileSync(`/proc/${pid}/loginuid`, 'latin1'));
	return value === 4_294_967_295 ? null : value;
}

e2e('fimctl start reports add, modify, rename and delete with who did them', async t => {
	const directory = workDirectory();
	const fim = new Fimctl([directory, '--format', 'json']);
	try {
		await fim.ready();
		// The actor runs as nobody, so that uid and user_name are not simply ours.
		const actor = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(root, 'test/fixtures/e2e-actor.mjs'), directory], {stdio: ['pipe', 'pipe', 'inherit']});
		const pid = actor.pid!;
		const events = await fim.until(() => {
			const mine = fim.records.filter(record => record['pid'] === pid && typeof record['operation'] === 'string');
			return mine.some(record => record['operation'] === 'delete') ? mine : undefined;
		}, 'the actor\'s delete');
		const byOperation = new Map(events.map(event => [event['operation'], event]));
		t.deepEqual([...byOperation.keys()].filter(operation => operation !== 'attrib'), ['add', 'modify', 'rename', 'delete']);
		const execPath = realpathSync(process.execPath);
		for (const event of byOperation.values()) {
			t.false('type' in event);
			t.false('process_start_ns' in event, 'the loader\'s process start stays inside the supervisor');
			t.like(event, {
				pid,
				uid: 65_534,
				euid: 65_534,
				gid: 65_534,
				auid: loginUid(pid),
				user_name: 'nobody',
				process_name: 'node',
				exe: execPath,
				source: 'kernel',
				host: (await execa('hostname')).stdout.trim(),
			});
			t.is(event['cmdline'], `${process.execPath} ${join(root, 'test/fixtures/e2e-actor.mjs')} ${directory}`);
			t.is(event['cwd'], process.cwd());
			t.is(event['container_id'], null);
			t.regex(String(event['timestamp']), /^\d{19}$/);
		}

		t.is(byOperation.get('add')?.['path'], join(directory, 'a.txt'));
		t.is(byOperation.get('modify')?.['path'], join(directory, 'a.txt'));
		t.like(byOperation.get('rename'), {path: join(directory, 'b.txt'), old_path: join(directory, 'a.txt')});
		t.is(byOperation.get('delete')?.['path'], join(directory, 'b.txt'));
		actor.stdin!.end();
		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

// The case whodata is for: a one-liner that appends a key and is gone before /proc could be
// read. Its command line comes from the kernel, read at the syscall.
e2e('a shell one-liner gone at once is named by its command line', async t => {
	const directory = workDirectory();
	const fim = new Fimctl([directory, '--format', 'json']);
	try {
		await fim.ready();
		const keys = join(directory, 'authorized_keys');
		const shell = spawn('/bin/sh', ['-c', 'echo ssh-ed25519 AAAA intruder >> "$0"', keys], {stdio: 'ignore'});
		const pid = shell.pid!;
		const events = await fim.until(() => {
			const mine = fim.records.filter(record => record['pid'] === pid && record['operation'] === 'modify');
			return mine.length > 0 ? fim.records.filter(record => record['pid'] === pid) : undefined;
		}, 'the one-liner\'s modify');
		t.deepEqual(events.map(event => event['operation']), ['add', 'modify']);
		for (const event of events) {
			t.like(event, {path: keys, process_name: 'sh', cmdline: `/bin/sh -c echo ssh-ed25519 AAAA intruder >> "$0" ${keys}`});
		}

		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

// A change from a container is most often made by a short-lived process (`docker exec … rm`),
// gone before /proc is read. The kernel's cgroup id names the container's cgroup, which lasts:
// here a shell that enters a container's cgroup, writes, and leaves it again, so that /proc
// would place it outside.
e2e('a change made in a container\'s cgroup names the container, though the process has left it', async t => {
	const directory = workDirectory();
	const mount = (await execa('findmnt', ['-n', '-o', 'TARGET', '-t', 'cgroup2'])).stdout.split('\n')[0]!;
	const home = join(mount, readFileSync('/proc/self/cgroup', 'utf8').split('\n').find(line => line.startsWith('0::'))!.slice(3));
	const containerId = 'e2e0'.repeat(16);
	const group = join(mount, `fim-e2e-${process.pid}`);
	const scope = join(group, `docker-${containerId}.scope`);
	mkdirSync(scope, {recursive: true});
	const fim = new Fimctl([directory, '--format', 'json']);
	try {
		await fim.ready();
		const file = join(directory, 'changed-in-container');
		const shell = spawn('/bin/sh', ['-c', 'echo $$ > "$1/cgroup.procs" && echo x >> "$2" && echo $$ > "$3/cgroup.procs" && sleep 2', 'sh', scope, file, home], {stdio: 'ignore'});
		const event = await fim.until(() => fim.records.find(record => record['pid'] === shell.pid && record['operation'] === 'modify'), 'the modify made in the container');
		t.like(event, {path: file, container_id: containerId});
		shell.kill();
		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
		for (const cgroup of [scope, group]) {
			// empty once the shell has left it; rmdir is how a cgroup is removed
			await waitForRmdir(cgroup);
		}
	}
});

async function waitForRmdir(path: string): Promise<void> {
	for (let tries = 0; ; tries++) {
		try {
			rmdirSync(path);
			return;
		} catch (error) {
			if (tries >= 50) {
				throw error;
			}

			// eslint-disable-next-line no-await-in-loop
			await sleep(100);
		}
	}
}

e2e('fimctl start and its loader run as SCHED_BATCH, every thread; --sched-policy keep leaves them as started', async t => {
	const {batch, normal} = schedPolicyNumber;
	for (const [args, policy] of [[[], batch], [['--sched-policy', 'keep'], normal]] as const) {
		const directory = workDirectory();
		const fim = new Fimctl([directory, ...args]);
		try {
			await fim.ready();
			const node = threadSchedPolicies(fim.process.pid!);
			t.true(node.length > 1, 'node has threads');
			t.deepEqual(node, node.map(() => policy), `fimctl ${args.join(' ')}`);
			t.is(schedPolicyOf(loaderPid(fim.process.pid!)), policy, `loader ${args.join(' ')}`);
			t.is(await fim.stop(), 0);
		} finally {
			cleanUp(fim, directory);
		}
	}
});

e2e('the same real changes as Wazuh alerts and ECS documents, in files next to stdout', async t => {
	const directory = workDirectory();
	const output = realpathSync(mkdtempSync(join(tmpdir(), 'fim-e2e-out-')));
	const fim = new Fimctl([directory, '--sink', 'stdout', '--sink', `file://${output}/wazuh.json?format=wazuh`, '--sink', `file://${output}/ecs.json?format=ecs`]);
	try {
		await fim.ready();
		const actor = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(root, 'test/fixtures/e2e-actor.mjs'), directory], {stdio: ['pipe', 'pipe', 'inherit']});
		const pid = actor.pid!;
		await fim.until(() => (fim.records.some(record => record['pid'] === pid && record['operation'] === 'delete') ? true : undefined), 'the actor\'s delete');
		t.is(await fim.stop(), 0);
		actor.stdin!.end();
		const execPath = realpathSync(process.execPath);

		const alerts = readFileSync(join(output, 'wazuh.json'), 'utf8').trim().split('\n').map(line => JSON.parse(line) as {syscheck: Json & {audit: Json}})
			.filter(alert => (alert.syscheck.audit?.['process'] as Json | undefined)?.['id'] === String(pid));
		const changes = alerts.map(alert => `${String(alert.syscheck['event'])} ${String(alert.syscheck['path'])}`);
		// attrib events are `modified` too: compare the first of each.
		const sequence = changes.filter((change, index) => changes.indexOf(change) === index);
		t.deepEqual(sequence, [`added ${directory}/a.txt`, `modified ${directory}/a.txt`, `deleted ${directory}/a.txt`, `added ${directory}/b.txt`, `deleted ${directory}/b.txt`]);
		for (const alert of alerts) {
			t.is(alert.syscheck['mode'], 'whodata');
			t.deepEqual(alert.syscheck.audit['user'], {id: '65534', name: 'nobody'});
			t.like(alert.syscheck.audit['process'] as Json, {id: String(pid), name: execPath});
		}

		const documents = readFileSync(join(output, 'ecs.json'), 'utf8').trim().split('\n').map(line => JSON.parse(line) as Json & {event: Json; process?: Json; user?: Json; file: Json})
			.filter(document => document.process?.['pid'] === pid);
		// Writes through two opens are two modify events: compare the first of each action.
		const actions = documents.map(document => document.event['action']).filter(action => action !== 'attributes_modified');
		t.deepEqual(actions.filter((action, index) => actions.indexOf(action) === index), ['created', 'updated', 'moved', 'deleted']);
		for (const document of documents) {
			t.like(document, {event: {kind: 'event', category: ['file']}, process: {pid, executable: execPath, name: 'node'}, user: {id: '65534', name: 'nobody'}});
			t.regex(String(document['@timestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
		}
	} finally {
		fim.process.kill('SIGKILL');
		rmSync(directory, {recursive: true, force: true});
		rmSync(output, {recursive: true, force: true});
	}
});

e2e('kill -9 of the loader: fimctl restarts it, reports the gap, and later changes are still seen', async t => {
	const directory = workDirectory();
	const fim = new Fimctl([directory]);
	try {
		await fim.ready();
		const pid = loaderPid(fim.process.pid!);
		t.true(readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('fim-loader'));
		process.kill(pid, 'SIGKILL');
		const restart = await fim.until(() => fim.records.find(record => record['type'] === 'supervisor' && record['kind'] === 'restart'), 'a restart record');
		t.like(restart, {exit: 'killed by SIGKILL', restarts: 1, paths: [directory]});
		t.true((restart['gap_start'] as number) <= (restart['gap_end'] as number));

		const file = join(directory, 'after-restart.txt');
		writeFileSync(file, 'still watched\n');
		// The scan after the restart may find the file too, before its live event is read: a
		// change after a gap may be reported twice (docs/records.md), the live one with whodata.
		const event = await fim.until(() => fim.records.find(record => record['path'] === file && record['source'] === 'kernel'), 'a live event after the restart');
		t.like(event, {operation: 'add', pid: process.pid, process_name: 'node'});
		const others = fim.records.filter(record => record['path'] === file && record !== event)
			.map(record => `${String(record['source'])} ${String(record['operation'])}`);
		t.true(others.every(other => other === 'kernel modify' || other === 'reconcile add'), others.join(', '));
		t.regex(fim.stderr, /loader (killed by SIGKILL|found exiting); restarting in 100 ms/);
		t.regex(fim.stderr, /loader restarted after killed by SIGKILL/);
		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

e2e('a watched path deleted, then the loader killed: the restarted loader watches it again once it is made', async t => {
	const directory = workDirectory();
	const watched = join(directory, 'cron.d');
	mkdirSync(watched);
	const fim = new Fimctl([watched]);
	try {
		await fim.ready();
		rmdirSync(watched);
		await fim.until(() => fim.records.find(record => record['path'] === watched && record['operation'] === 'delete'), 'the delete');
		process.kill(loaderPid(fim.process.pid!), 'SIGKILL');
		const restart = await fim.until(() => fim.records.find(record => record['type'] === 'supervisor' && record['kind'] === 'restart'), 'a restart record');
		t.like(restart, {paths: [watched]});
		const cmdline = readFileSync(`/proc/${loaderPid(fim.process.pid!)}/cmdline`, 'latin1').split('\0');
		t.deepEqual(cmdline.slice(cmdline.indexOf('--absent-path'), cmdline.indexOf('--absent-path') + 2), ['--absent-path', watched]);
		t.like(await fimctlStatus(fim.stateDirectory), {paths: [watched], absent_paths: [watched]});

		// What is made in it before the loader has read its add is found by the scan that add
		// starts (docs/protocol.md); so one change at a time.
		const file = join(watched, 'job');
		for (const [path, make] of [[watched, () => mkdirSync(watched)], [file, () => writeFileSync(file, '* * * * * root id\n')]] as const) {
			make();
			// eslint-disable-next-line no-await-in-loop
			const event = await fim.until(() => fim.records.find(record => record['path'] === path && record['source'] === 'kernel' && record['operation'] === 'add'), `the add of ${path}`);
			t.like(event, {pid: process.pid, process_name: 'node'});
		}

		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

e2e('--allow-absent: a file that does not exist yet (authorized_keys) is reported with who made it', async t => {
	const directory = workDirectory();
	const ssh = join(directory, '.ssh');
	mkdirSync(ssh);
	const keys = join(ssh, 'authorized_keys');
	const fim = new Fimctl(['--allow-absent', keys]);
	try {
		await fim.ready();
		t.like(await fimctlStatus(fim.stateDirectory), {paths: [keys], absent_paths: [keys]});
		writeFileSync(join(ssh, 'known_hosts'), 'a neighbour, not watched\n');
		writeFileSync(keys, 'ssh-ed25519 AAAA... intruder\n');
		const add = await fim.until(() => fim.records.find(record => record['path'] === keys && record['operation'] === 'add'), 'the add of authorized_keys');
		t.like(add, {source: 'kernel', pid: process.pid, process_name: 'node'});
		t.false(fim.records.some(record => String(record['path']).endsWith('known_hosts')));
		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

e2e('hostile file names made by the kernel come out as valid JSON, exact bytes recoverable', async t => {
	const directory = workDirectory();
	const names: Buffer[] = [
		Buffer.from('new\nline'),
		Buffer.from('tab\tand\u001B[31mescape'),
		Buffer.from('quote"back\\slash'),
		Buffer.from('\u202Etxt.exe'),
		Buffer.from('emoji-😀-é'),
		Buffer.from([0x62, 0x61, 0x64, 0xFF, 0xFE, 0x2E, 0x74]),
		Buffer.from([0xC3, 0x28, 0x2D, 0xE2, 0x82]),
	];
	const fim = new Fimctl([directory]);
	try {
		await fim.ready();
		for (const name of names) {
			writeFileSync(Buffer.concat([Buffer.from(`${directory}/`), name]), 'x');
		}

		for (const name of names) {
			const expected = Buffer.concat([Buffer.from(`${directory}/`), name]);
			// eslint-disable-next-line no-await-in-loop
			const event = await fim.until(() => fim.records.find(record => {
				const bytes = typeof record['path_b64'] === 'string' ? Buffer.from(record['path_b64'], 'base64') : Buffer.from(String(record['path']));
				return record['operation'] === 'add' && bytes.equals(expected) ? record : undefined;
			}), `the add of ${JSON.stringify(name.toString('latin1'))}`);
			const valid = Buffer.from(expected.toString('utf8')).equals(expected);
			t.is('path_b64' in event, !valid, `path_b64 only for names that are not UTF-8: ${JSON.stringify(event)}`);
			if (valid) {
				t.is(event['path'], expected.toString('utf8'));
			}
		}

		t.is(await fim.stop(), 0);
	} finally {
		cleanUp(fim, directory);
	}
});

e2e('fimctl check passes on this machine', async t => {
	const result = await execa(fimctl, ['check', '--loader', loader], {reject: false});
	t.is(result.exitCode, 0, `${String(result.stdout)}\n${String(result.stderr)}`);
	for (const check of ['root/capabilities', 'kernel version', 'BTF', 'tracefs', 'lockdown', 'loader', 'backend', 'ring buffer']) {
		t.regex(String(result.stdout), new RegExp(`^${check.replace('/', '\\/')} +(OK|WARN) `, 'm'));
	}
});

e2e('--backend: check shows what auto chose and why; a forced backend runs, or is refused in one line (exit 3)', async t => {
	const auto = await execa(fimctl, ['check', '--loader', loader], {reject: false});
	const chosen = /^backend +OK +(tracepoint|fentry) \((.+)\)$/m.exec(String(auto.stdout));
	t.truthy(chosen, String(auto.stdout));
	const tracepoint = await execa(fimctl, ['check', '--loader', loader, '--backend', 'tracepoint'], {reject: false});
	t.is(tracepoint.exitCode, 0);
	t.regex(String(tracepoint.stdout), /^backend +OK +tracepoint \(chosen with --backend\)$/m);
	const fentry = await execa(fimctl, ['check', '--loader', loader, '--backend', 'fentry'], {reject: false});
	const directory = workDirectory();
	// events name the backend in use, the one forced here
	const fim = new Fimctl([directory, '--backend', 'tracepoint']);
	try {
		await fim.ready();
		writeFileSync(join(directory, 'by-tracepoint'), '');
		const event = await fim.until(() => fim.records.find(record => record['path'] === join(directory, 'by-tracepoint')), 'the add');
		t.is(event['backend'], 'tracepoint');
		t.is(await fim.stop(), 0);
		if (chosen?.[1] === 'fentry') {
			t.is(fentry.exitCode, 0);
			t.regex(String(fentry.stdout), /^backend +OK +fentry \(chosen with --backend\)$/m);
			return;
		}

		// this kernel refuses fentry (auto said why): forcing it fails, in check and in start
		t.is(fentry.exitCode, 1);
		t.regex(String(fentry.stdout), /^backend +FAIL +fentry refused by this kernel: .+$/m);
		t.regex(String(fentry.stderr), /^fimctl: check failed: loader: .* did not load: --backend fentry: .+$/);
		t.is(String(fentry.stderr).split('\n').length, 1, 'one line');
		const start = await execa(fimctl, ['start', directory, '--loader', loader, '--backend', 'fentry', '--state-dir', fim.stateDirectory], {reject: false, timeout: 20_000});
		t.is(start.exitCode, 3);
		t.regex(String(start.stderr).split('\n').at(-1)!, /^fimctl: error: unsupported system: --backend fentry: the kernel refused .+$/);
		t.false(String(start.stderr).includes('    at '));
	} finally {
		cleanUp(fim, directory);
	}
});

e2e('bad input gets one line and a documented exit code', async t => {
	const notThere = await execa(fimctl, ['start', '/nonexistent/fim-e2e', '--loader', loader], {reject: false});
	t.is(notThere.exitCode, 2);
	t.is(String(notThere.stderr), 'fimctl: error: cannot watch /nonexistent/fim-e2e: no such file or directory');
	const directory = workDirectory();
	try {
		const asNobody = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', fimctl, 'start', directory, '--loader', loader], {reject: false, timeout: 20_000});
		t.is(asNobody.exitCode, 1);
		t.regex(String(asNobody.stderr), /permission denied/);
		t.false(String(asNobody.stderr).includes('    at '));
	} finally {
		rmSync(directory, {recursive: true, force: true});
	}
});

// Not a test of its own: a leftover loader would hold tracepoints for the next suite.
test.after.always('no fim-loader left running', () => {
	killLeftoverLoaders();
});
