import {readdirSync} from 'node:fs';
import {execa} from 'execa';
import type {Logger} from './monitor.js';
import {procStatField} from './proc-cache.js';
import type {SchedPolicy} from './supervise.js';

/** The numbers of the scheduling policies, as /proc and sched_setscheduler(2) give them. */
export const schedPolicyNumber = {normal: 0, batch: 3, idle: 5} as const;

/**
 * The scheduling policy (field 41 of /proc/…/stat, 0 being the normal one) of a process or
 * thread: 'self', a pid, or 'PID/task/TID'.
 */
export function schedPolicyOf(task: number | string): number {
	return procStatField(task, 41);
}

/** The scheduling policy of each thread of a process, in /proc's order. */
export function threadSchedPolicies(pid: number): number[] {
	return readdirSync(`/proc/${pid}/task`).map(tid => schedPolicyOf(`${pid}/task/${tid}`));
}

/**
 * `fimctl start --sched-policy batch`: node is woken for every batch the loader writes, and
 * took 6.7-8.1% of a core at 2,500 events/s with the normal policy against 4.6-5.3% as
 * SCHED_BATCH (scripts/bench-fimctl.mjs), for the loader's reason (docs/protocol.md,
 * --sched-policy). Node has no call for it; chrt (util-linux) sets it on every thread, and the
 * threads started later inherit it. A policy someone chose (chrt, systemd's
 * CPUSchedulingPolicy) is kept. The library does not call this: the process that embeds a
 * WhoDataMonitor is its owner's to schedule.
 */
export async function useSchedPolicy(policy: SchedPolicy, logger: Logger): Promise<void> {
	if (policy !== 'batch' || schedPolicyOf('self') !== schedPolicyNumber.normal) {
		return;
	}

	const result = await execa('chrt', ['--all-tasks', '--batch', '--pid', '0', String(process.pid)], {reject: false, timeout: 5000});
	if (result.failed) {
		// one line: chrt's own message, else why it did not run ("spawn chrt ENOENT")
		const why = (result.stderr?.trim() || result.originalMessage || result.shortMessage || 'unknown error').replaceAll('\n', '; ');
		logger.warn(`--sched-policy batch: chrt failed (${why}); the normal policy is kept`);
	}
}
