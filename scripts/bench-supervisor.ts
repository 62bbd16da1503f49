/**
 * Throughput of the supervisor: `fimctl start` fed by a loader that prints NDJSON as fast as it
 * can (scripts/bench-fake-loader.mjs), enrichment on, JSON out to a pipe this script drains.
 * Reports events/s, fimctl's peak RSS and its CPU time. Not a test: figures, not a verdict.
 *
 *   npm run bench:supervisor            # 2,000,000 events
 *   BENCH_EVENTS=500000 npm run bench:supervisor
 */
import {spawn} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {procStatus} from './proc-status.js';

const root = resolve('.');
const total = Number(process.env['BENCH_EVENTS'] ?? 2_000_000);


const directory = mkdtempSync(join(tmpdir(), 'fim-bench-'));
// Run as a user does, through bin/fimctl and its interpreter line (which sets V8 flags).
// BENCH_NODE_FLAGS instead runs it with node and those flags, to compare settings.
const nodeFlags = process.env['BENCH_NODE_FLAGS']?.split(' ').filter(flag => flag.length > 0);
const state = mkdtempSync(join(tmpdir(), 'fim-bench-state-'));
const fimctlArgs = ['start', directory, '--loader', join(root, 'scripts/bench-fake-loader.mjs'), '--state-dir', state];
const child = spawn(nodeFlags ? process.execPath : join(root, 'bin/fimctl'), nodeFlags ? [...nodeFlags, join(root, 'bin/fimctl'), ...fimctlArgs] : fimctlArgs, {
	env: {...process.env, BENCH_EVENTS: String(total)},
	stdio: ['ignore', 'pipe', 'inherit'],
});

let lines = 0;
let reported = false;
let bytes = 0;
let started: bigint | undefined;
let cpuAtStart = 0;
let samples = 0;
let rssSum = 0;

const sampler = setInterval(() => {
	if (child.pid !== undefined && started !== undefined) {
		rssSum += procStatus(child.pid).rssMb;
		samples++;
	}
}, 100);

child.stdout.on('data', (chunk: Buffer) => {
	if (started === undefined) {
		started = process.hrtime.bigint();
		cpuAtStart = procStatus(child.pid!).cpuSeconds;
	}

	bytes += chunk.length;
	for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) {
		lines++;
	}

	if (lines >= total && !reported) {
		reported = true;
		const seconds = Number(process.hrtime.bigint() - started) / 1e9;
		const end = procStatus(child.pid!);
		clearInterval(sampler);
		child.kill('SIGTERM');
		const cpu = end.cpuSeconds - cpuAtStart;
		const report = {
			events: lines,
			seconds: Number(seconds.toFixed(2)),
			events_per_second: Math.round(lines / seconds),
			mb_per_second: Number((bytes / seconds / 1024 / 1024).toFixed(1)),
			fimctl_rss_mb_avg: Number((rssSum / Math.max(samples, 1)).toFixed(1)),
			fimctl_rss_mb_peak: Number(end.peakMb.toFixed(1)),
			fimctl_cpu_seconds: Number(cpu.toFixed(2)),
			fimctl_cpu_percent_of_one_core: Math.round(cpu / seconds * 100),
			bytes_per_event: Math.round(bytes / lines),
		};
		process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
	}
});

child.on('exit', () => {
	clearInterval(sampler);
	rmSync(directory, {recursive: true, force: true});
	rmSync(state, {recursive: true, force: true});
	if (lines < total) {
		process.stderr.write(`bench: fimctl exited after ${lines} of ${total} events\n`);
		process.exitCode = 1;
	}
});
