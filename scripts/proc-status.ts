import {readFileSync} from 'node:fs';
import {procStatField} from '../supervisor/src/proc-cache.js';

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100;

/** What the TypeScript benchmarks report of a process: RSS now and at its peak, CPU time so far. */
export function procStatus(pid: number): {rssMb: number; peakMb: number; cpuSeconds: number} {
	const status = readFileSync(`/proc/${pid}/status`, 'latin1');
	const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
	// utime and stime, fields 14 and 15 of proc(5)
	const cpuTicks = procStatField(pid, 14) + procStatField(pid, 15);
	return {rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024, cpuSeconds: cpuTicks / ticksPerSecond};
}
