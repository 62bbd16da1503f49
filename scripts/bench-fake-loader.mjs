#!/usr/bin/env node
// Benchmark loader: hello, then $BENCH_EVENTS realistic event lines (default 2,000,000) as fast
// as the pipe takes them, or $BENCH_RATE per second when set, then waits for EOF on stdin like
// the real loader.
// The events name live processes (this one and its parent) so the supervisor's /proc cache is
// exercised on hits, which is the steady state of a real workload.
import {readFileSync, readlinkSync} from 'node:fs';

const total = Number(process.env.BENCH_EVENTS ?? 2_000_000);
const paths = process.argv.slice(2).flatMap((arg, index, all) => (arg === '--path' ? [all[index + 1]] : []));
const base = paths[0] ?? '/bench';
const timestamp = (BigInt(Date.now()) * 1_000_000n).toString();
// Each actor as the loader names it: the kernel's command line and start time are in every line.
const actors = [process.pid, process.ppid].map(pid => {
	const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
	const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	return {
		pid,
		ppid: Number(fields[1]),
		comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
		exe: readlinkSync(`/proc/${pid}/exe`),
		cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '').replaceAll('\0', ' '),
		// /proc/PID/stat's start time is in ticks of 1/100 s, the loader's in ns
		startNs: (BigInt(fields[19]) * 10_000_000n).toString(),
	};
});
const operations = ['modify', 'modify', 'modify', 'add', 'attrib', 'rename', 'delete'];

let block = '';
const perBlock = 512;
for (let i = 0; i < perBlock; i++) {
	const {pid, ppid, comm, exe, cmdline, startNs} = actors[i % actors.length];
	const operation = operations[i % operations.length];
	const oldPath = operation === 'rename' ? JSON.stringify(`${base}/dir-${i % 7}/file-${i}.tmp`) : 'null';
	block += `{"type":"event","timestamp":${timestamp},"operation":"${operation}","path":"${base}/dir-${i % 7}/file-${i}.log","old_path":${oldPath},"file_type":"file","inode":${131_000 + i},"dev":"254:0","pid":${pid},"tid":${pid},"ppid":${ppid},"uid":0,"gid":0,"euid":0,"egid":0,"auid":1000,"session_id":3,"process_name":${JSON.stringify(comm)},"exe":${JSON.stringify(exe)},"cmdline":${JSON.stringify(cmdline)},"syscall":"write","cgroup_id":5678,"source":"kernel","backend":"tracepoint","process_start_ns":${startNs}}\n`;
}

const chunk = Buffer.from(block);
process.on('SIGTERM', () => process.exit(0));
process.stdout.write(`${JSON.stringify({type: 'hello', protocol: 1, loader_version: 'bench', pid: process.pid, backend: 'bench', hooks: [], paths, ringbuf_bytes: 16 << 20, coalesce_ms: 1000})}\n`);

let sent = 0;
const rate = Number(process.env.BENCH_RATE ?? 0);
// Paced: whole blocks on a 10 ms tick, as many as keep the running total at the rate.
function paced() {
	const start = Date.now();
	const timer = setInterval(() => {
		const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * rate));
		let text = '';
		while (sent + perBlock <= due) {
			text += block;
			sent += perBlock;
		}

		if (text) {
			process.stdout.write(text);
		}

		if (sent + perBlock > total) {
			clearInterval(timer);
		}
	}, 10);
}

function pump() {
	while (sent < total) {
		sent += perBlock;
		if (!process.stdout.write(chunk)) {
			process.stdout.once('drain', pump);
			return;
		}
	}
}

if (rate > 0) {
	paced();
} else {
	pump();
}

process.stdin.resume();
process.stdin.on('end', () => {
	process.stdout.write('{"type":"bye","reason":"stdin closed"}\n');
	process.exit(0);
});
