import test from 'ava';
import {execa} from 'execa';
import {schedPolicyNumber} from '../../supervisor/src/sched.js';
import {fixture} from './helpers.js';

const {batch, normal, idle} = schedPolicyNumber;

/** The fixture, started with `startedAs` (chrt's option), then asking for `policy`. */
async function runPolicy(policy: string, {env = {}, startedAs = '--other'}: {env?: NodeJS.ProcessEnv; startedAs?: string} = {}): Promise<{warnings: string[]; threads: number[]}> {
	const {stdout} = await execa('/usr/bin/chrt', [startedAs, '0', process.execPath, fixture('sched-policy.mjs')], {env: {POLICY: policy, ...env}});
	return JSON.parse(stdout) as {warnings: string[]; threads: number[]};
}

test('batch puts every thread of the process under SCHED_BATCH; keep leaves them alone', async t => {
	const batched = await runPolicy('batch');
	t.deepEqual(batched.warnings, []);
	t.true(batched.threads.length > 1, 'node has threads');
	t.deepEqual(batched.threads, batched.threads.map(() => batch));
	const kept = await runPolicy('keep');
	t.deepEqual(kept.threads, kept.threads.map(() => normal));
});

test('a chrt that cannot run is one warning line, and the normal policy stays', async t => {
	const {warnings, threads} = await runPolicy('batch', {env: {PATH: '/nonexistent'}});
	t.deepEqual(warnings, ['--sched-policy batch: chrt failed (spawn chrt ENOENT); the normal policy is kept']);
	t.deepEqual(threads, threads.map(() => normal));
});

test('a policy chosen by whoever started the process is kept', async t => {
	const {warnings, threads} = await runPolicy('batch', {startedAs: '--idle'});
	t.deepEqual(warnings, []);
	t.deepEqual(threads, threads.map(() => idle), 'SCHED_IDLE');
});
