/**
 * Figures for the baseline and the buffers, not a test:
 * - spool: records/s and MB/s through a sink buffer's disk spool (written, then read back);
 * - baseline: `fimctl start` on a tree of 100,000 files: time to the loader's attach, time and
 *   fimctl's peak RSS for the first scan (no rate limit, then the default 20,000/s), and the
 *   second start's reconciliation against that baseline;
 * - restart gap: kill -9 of the loader to the first live event read from fimctl again.
 *
 *   make && flock -x /tmp/fim-machine.lock node dist/scripts/bench-state.js     (as root)
 *   BENCH_FILES=20000 BENCH_KILLS=3 BENCH_PARTS=spool,restart ... to make it shorter
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {SpoolQueue} from '../supervisor/src/buffer.js';

const root = resolve('.');
const fimctl = join(root, 'bin/fimctl');
const loader = process.env['FIM_LOADER'] ?? join(root, 'build/fim-loader');
const files = Number(process.env['BENCH_FILES'] ?? 100_000);
const kills = Number(process.env['BENCH_KILLS'] ?? 10);

async function sleep(ms: number): Promise<void> {
	await new Promise(resolve => {
		setTimeout(resolve, ms);
	});
}

function peakRssMb(pid: number): number {
	const status = readFileSync(`/proc/${pid}/status`, 'latin1');
	return Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024;
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.floor(sorted.length / 2)]!;
}

/** fimctl start, watching its stderr and stdout lines with their arrival times. */
class Run {
	readonly child: ChildProcess;
	readonly started = performance.now();
	readonly lines: Array<{at: number; record: Record<string, unknown>}> = [];
	stderr: Array<{at: number; line: string}> = [];
	private pending = '';

	constructor(args: string[]) {
		this.child = spawn(fimctl, ['start', ...args, '--loader', loader], {stdio: ['ignore', 'pipe', 'pipe']});
		this.child.stdout!.setEncoding('utf8');
		this.child.stdout!.on('data', (chunk: string) => {
			const at = performance.now();
			const parts = (this.pending + chunk).split('\n');
			this.pending = parts.pop()!;
			for (const line of parts) {
				this.lines.push({at, record: JSON.parse(line) as Record<string, unknown>});
			}
		});
		this.child.stderr!.setEncoding('utf8');
		this.child.stderr!.on('data', (chunk: string) => {
			const at = performance.now();
			for (const line of chunk.split('\n').filter(line => line.length > 0)) {
				this.stderr.push({at, line});
			}
		});
	}

	async stderrLine(pattern: RegExp, ms = 600_000): Promise<{at: number; line: string}> {
		const deadline = performance.now() + ms;
		for (;;) {
			const found = this.stderr.find(entry => pattern.test(entry.line));
			if (found) {
				return found;
			}

			if (performance.now() > deadline || this.child.exitCode !== null) {
				throw new Error(`no stderr line ${String(pattern)}; stderr:\n${this.stderr.map(entry => entry.line).join('\n')}`);
			}

			// eslint-disable-next-line no-await-in-loop
			await sleep(10);
		}
	}

	async record(match: (record: Record<string, unknown>) => boolean, after = 0, ms = 600_000): Promise<{at: number; record: Record<string, unknown>}> {
		const deadline = performance.now() + ms;
		for (;;) {
			const found = this.lines.find(entry => entry.at >= after && match(entry.record));
			if (found) {
				return found;
			}

			if (performance.now() > deadline || this.child.exitCode !== null) {
				throw new Error('the record never came');
			}

			// eslint-disable-next-line no-await-in-loop
			await sleep(5);
		}
	}

	async stop(): Promise<void> {
		const exited = new Promise(resolve => {
			this.child.on('exit', resolve);
		});
		this.child.kill('SIGTERM');
		await exited;
	}
}

function benchSpool(): void {
	const directory = mkdtempSync(join(tmpdir(), 'fim-bench-spool-'));
	const count = 300_000;
	const line = `${JSON.stringify({timestamp: 1_764_090_012_345_678_900, operation: 'modify', path: '/var/log/app/some-service.log', pid: 812, exe: '/usr/bin/some-service', cmdline: 'x'.repeat(400)})}\n`;
	const queue = SpoolQueue.open({id: 'bench', type: 'disk', max_events: 1000, max_size: 4 * 1024 * 1024 * 1024, when_full: 'drop_newest', spoolDirectory: directory, renderGap: record => JSON.stringify(record)});
	const batch = Array.from({length: 100}, () => ({line}));
	const writeStart = performance.now();
	for (let pushed = 0; pushed < count; pushed += batch.length) {
		queue.push(batch);
	}

	const writeMs = performance.now() - writeStart;
	const spooled = queue.stats();
	const readStart = performance.now();
	let read = 0;
	for (;;) {
		const taken = queue.shift(1000);
		if (taken.length === 0) {
			break;
		}

		read += taken.length;
	}

	const readMs = performance.now() - readStart;
	const megabytes = count * Buffer.byteLength(line) / 1e6;
	console.log(`spool: ${count.toLocaleString('en-US')} records of ${Buffer.byteLength(line)} bytes (${spooled.spooled_total.toLocaleString('en-US')} through the spool, ${spooled.spool_files} segment files)`);
	console.log(`  write: ${Math.round(count / writeMs * 1000).toLocaleString('en-US')} records/s, ${(megabytes / writeMs * 1000).toFixed(0)} MB/s`);
	console.log(`  read back in order: ${Math.round(read / readMs * 1000).toLocaleString('en-US')} records/s, ${(megabytes / readMs * 1000).toFixed(0)} MB/s`);
	queue.close();
	rmSync(directory, {recursive: true, force: true});
}

function makeTree(directory: string): void {
	if (existsSync(join(directory, '.complete'))) {
		return;
	}

	rmSync(directory, {recursive: true, force: true});
	const perDirectory = 1000;
	for (let made = 0; made < files; made++) {
		const sub = join(directory, `d${Math.floor(made / perDirectory)}`);
		if (made % perDirectory === 0) {
			mkdirSync(sub, {recursive: true});
		}

		writeFileSync(join(sub, `f${made}`), 'x');
	}

	writeFileSync(join(directory, '.complete'), '');
}

async function benchBaseline(): Promise<void> {
	const tree = join('/var/tmp', `fim-bench-tree-${files}`);
	makeTree(tree);
	for (const rate of [0, 20_000]) {
		const state = mkdtempSync(join(tmpdir(), 'fim-bench-state-'));
		const first = new Run([tree, '--state-dir', state, '--scan-rate', String(rate), '--no-enrich']);
		// eslint-disable-next-line no-await-in-loop
		const attached = await first.stderrLine(/info: watching /);
		// eslint-disable-next-line no-await-in-loop
		const made = await first.stderrLine(/baseline of .* made \(([\d,]+) entries scanned in ([\d.]+) s\)/);
		const [, entries, seconds] = /\(([\d,]+) entries scanned in ([\d.]+) s\)/.exec(made.line)!;
		const rss = peakRssMb(first.child.pid!);
		// eslint-disable-next-line no-await-in-loop
		await first.stop();
		console.log(`baseline, ${files.toLocaleString('en-US')} files, --scan-rate ${rate === 0 ? '0 (no limit)' : rate}: loader attached ${((attached.at - first.started) / 1000).toFixed(2)} s after exec; first scan of ${entries} entries ${seconds} s (ready ${((made.at - first.started) / 1000).toFixed(2)} s after exec); fimctl peak RSS ${rss.toFixed(0)} MB`);
		if (rate === 0) {
			const second = new Run([tree, '--state-dir', state, '--scan-rate', '0', '--no-enrich']);
			// eslint-disable-next-line no-await-in-loop
			const reconciled = await second.record(record => record['kind'] === 'reconcile');
			const rssSecond = peakRssMb(second.child.pid!);
			// eslint-disable-next-line no-await-in-loop
			await second.stop();
			console.log(`  next start, compared with that baseline: reconciliation ${String(reconciled.record['duration_ms'])} ms for ${String(reconciled.record['scanned'])} entries, ${String(reconciled.record['changes'])} changes; done ${((reconciled.at - second.started) / 1000).toFixed(2)} s after exec; peak RSS ${rssSecond.toFixed(0)} MB`);
		}

		rmSync(state, {recursive: true, force: true});
	}
}

async function benchRestartGap(): Promise<void> {
	const directory = mkdtempSync(join(tmpdir(), 'fim-bench-restart-'));
	const state = mkdtempSync(join(tmpdir(), 'fim-bench-state-'));
	// Every restart waits the first backoff (100 ms), and many kills are not a crash loop.
	const config = join(state, 'fim.yaml');
	writeFileSync(config, `sources:\n  files:\n    type: whodata\n    restart: {initial_ms: 100, max_ms: 100, max_crashes: 1000}\n`);
	const run = new Run(['--config', config, directory, '--state-dir', state, '--no-enrich']);
	await run.stderrLine(/info: watching /);
	// A change every 5 ms: the first one seen after a restart says events flow again.
	const writer = spawn(process.execPath, ['-e', `const fs=require('fs');let i=0;setInterval(()=>fs.writeFileSync(${JSON.stringify(join(directory, 'tick'))}+(i++%10),'x'),5)`], {stdio: 'ignore'});
	const toRecord: number[] = [];
	const toEvent: number[] = [];
	try {
		for (let kill = 1; kill <= kills; kill++) {
			// eslint-disable-next-line no-await-in-loop
			await sleep(1500);
			const loaderPid = Number(readFileSync(`/proc/${run.child.pid!}/task/${run.child.pid!}/children`, 'latin1').trim().split(' ')[0]);
			const killedAt = performance.now();
			const killedAtNs = Date.now() * 1e6;
			process.kill(loaderPid, 'SIGKILL');
			// A change made after the kill can only have been seen by the new loader.
			// eslint-disable-next-line no-await-in-loop
			const event = await run.record(record => record['source'] === 'kernel' && (record['timestamp'] as number) > killedAtNs, killedAt);
			// eslint-disable-next-line no-await-in-loop
			const restart = await run.record(record => record['kind'] === 'restart' && record['restarts'] === kill, killedAt);
			toRecord.push(restart.at - killedAt);
			toEvent.push(event.at - killedAt);
		}
	} finally {
		writer.kill('SIGKILL');
		await run.stop();
		rmSync(directory, {recursive: true, force: true});
		rmSync(state, {recursive: true, force: true});
	}

	console.log(`restart gap, ${kills} kills 1.5 s apart (each restart after the first backoff, 100 ms):`);
	console.log(`  kill -9 to the restart record (it waits for the old loader's exit status): median ${median(toRecord).toFixed(0)} ms, min ${Math.min(...toRecord).toFixed(0)}, max ${Math.max(...toRecord).toFixed(0)}`);
	console.log(`  kill -9 to the first live event of a change made after the kill: median ${median(toEvent).toFixed(0)} ms, min ${Math.min(...toEvent).toFixed(0)}, max ${Math.max(...toEvent).toFixed(0)}`);
}

const parts = (process.env['BENCH_PARTS'] ?? 'spool,baseline,restart').split(',');
if (parts.includes('spool')) {
	benchSpool();
}

if (parts.includes('baseline')) {
	await benchBaseline();
}

if (parts.includes('restart')) {
	await benchRestartGap();
}
