/**
 * Throughput of each sink, and fimctl's memory with several at once: `fimctl start` fed by the
 * benchmark loader (scripts/bench-fake-loader.mjs: realistic event lines, enrichment on), one
 * `--sink` per run, against a receiver in its own process (rsyslogd from Debian for syslog,
 * scripts/bench-receiver.mjs for http and fluent). A run is timed from the first event the
 * receiver has to the last (fimctl's start-up is left out).
 * Figures, not a verdict. Run it alone on the machine:
 *
 *   flock -x /tmp/fim-machine.lock node dist/scripts/bench-sinks.js            # 200,000 events per sink
 *   BENCH_EVENTS=50000 node dist/scripts/bench-sinks.js stdout file            # some sinks only
 *   node dist/scripts/bench-sinks.js --soak 600 --rate 1000                    # RSS over time, file+syslog+http
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {createReadStream, existsSync, mkdtempSync, rmSync, statSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {createInterface} from 'node:readline';
import {freePort, Rsyslog} from '../test/e2e/sinks/rsyslog.js';
import {procStatus} from './proc-status.js';

const root = resolve('.');
const total = Number(process.env['BENCH_EVENTS'] ?? 200_000);

type Receiver = {url: string; count(): Promise<number>; stop(): Promise<void>};

/** Receivers running now: stopped on SIGINT/SIGTERM too, so that none outlives the benchmark. */
const running = new Set<Receiver>();
function track(receiver: Receiver): Receiver {
	running.add(receiver);
	const {stop} = receiver;
	receiver.stop = async () => {
		running.delete(receiver);
		await stop();
	};

	return receiver;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
	process.on(signal, () => {
		void Promise.all([...running].map(async receiver => receiver.stop())).finally(() => process.exit(1));
	});
}

/** Lines in a file, counted as it grows (rsyslog's output, the file sink's). */
function lineCounter(path: string): () => Promise<number> {
	let counted = 0;
	let offset = 0;
	return async () => {
		if (!existsSync(path)) {
			return 0;
		}

		const size = statSync(path).size;
		if (size > offset) {
			await new Promise<void>(done => {
				const stream = createReadStream(path, {start: offset, end: size - 1});
				stream.on('data', (chunk: Buffer | string) => {
					const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
					for (let index = buffer.indexOf(10); index !== -1; index = buffer.indexOf(10, index + 1)) {
						counted++;
					}
				});
				stream.on('end', done);
			});
			offset = size;
		}

		return counted;
	};
}

async function processReceiver(mode: 'http' | 'fluent', query = ''): Promise<Receiver> {
	const child = spawn(process.execPath, [join(root, 'scripts/bench-receiver.mjs'), mode], {stdio: ['ignore', 'pipe', 'inherit']});
	let count = 0;
	const port = await new Promise<number>(done => {
		createInterface({input: child.stdout!}).on('line', line => {
			const [key, value] = line.split(' ');
			if (key === 'port') {
				done(Number(value));
			} else {
				count = Number(value);
			}
		});
	});
	return track({
		url: mode === 'http' ? `http://127.0.0.1:${port}/ingest${query}` : `fluent://127.0.0.1:${port}${query}`,
		count: async () => count,
		stop: async () => {
			child.kill('SIGTERM');
		},
	});
}

async function syslogReceiver(mode: 'udp' | 'tcp' | 'unix'): Promise<Receiver> {
	const rsyslog = new Rsyslog(await freePort('tcp'), await freePort('udp'));
	await rsyslog.start();
	const url = mode === 'unix' ? `syslog+unix://${rsyslog.socketPath}` : mode === 'tcp' ? `syslog+tcp://127.0.0.1:${rsyslog.tcpPort}` : `syslog://127.0.0.1:${rsyslog.udpPort}`;
	return track({url, count: lineCounter(rsyslog.output), stop: async () => rsyslog.stop()});
}

async function fileReceiver(directory: string): Promise<Receiver> {
	const path = join(directory, 'events.json');
	return {url: `file://${path}`, count: lineCounter(path), stop: async () => {}};
}

const receivers: Record<string, (directory: string) => Promise<Receiver>> = {
	stdout: async () => ({url: 'stdout', count: async () => 0, stop: async () => {}}),
	file: fileReceiver,
	'syslog-udp': async () => syslogReceiver('udp'),
	'syslog-tcp': async () => syslogReceiver('tcp'),
	'syslog-unix': async () => syslogReceiver('unix'),
	http: async () => processReceiver('http'),
	'http-gzip': async () => processReceiver('http', '?compression=gzip'),
	fluent: async () => processReceiver('fluent'),
};

type Run = {events: number; seconds: number; peakMb: number; cpuSeconds: number; delivered: number[]};

/**
 * Throughput runs give each sink a 2,000-event memory buffer that blocks when full (the loader is
 * paused), so that a sink slower than the loader is measured rather than its spool or its drops;
 * the soak keeps the defaults.
 */
function blocking(url: string): string {
	return `${url}${url.includes('?') ? '&' : '?'}buffer.type=memory&buffer.when_full=block&buffer.max_events=2000`;
}

async function run(sinkUrls: string[], counters: Array<() => Promise<number>>, events: number, extraEnv: Record<string, string> = {}, onSample?: (seconds: number, rssMb: number) => void, withBlock = true): Promise<Run> {
	const directory = mkdtempSync(join(tmpdir(), 'fim-bench-watch-'));
	const args = ['start', directory, '--loader', join(root, 'scripts/bench-fake-loader.mjs'), ...sinkUrls.flatMap(url => ['--sink', withBlock ? blocking(url) : url])];
	const child: ChildProcess = spawn(join(root, 'bin/fimctl'), args, {env: {...process.env, BENCH_EVENTS: String(events), ...extraEnv}, stdio: ['ignore', 'pipe', 'pipe']});
	let stderr = '';
	child.stderr!.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	let stdoutLines = 0;
	child.stdout!.on('data', (chunk: Buffer) => {
		for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) {
			stdoutLines++;
		}
	});
	const counts = sinkUrls.map((url, index) => (url === 'stdout' ? async () => stdoutLines : counters[index]!));
	const started = performance.now();
	let peakMb = 0;
	let cpuSeconds = 0;
	let lastSample = started;
	let lastProgress = started;
	let lastTotal = -1;
	// Start-up (Node, the loader's hello) is not the sink's: time runs from the first delivery.
	let firstDelivery: number | undefined;
	for (;;) {
		// eslint-disable-next-line no-await-in-loop
		const delivered = await Promise.all(counts.map(async count => count()));
		const sum = delivered.reduce((all, count) => all + count, 0);
		if (sum !== lastTotal) {
			lastTotal = sum;
			lastProgress = performance.now();
			firstDelivery ??= lastProgress;
		}
		if (child.pid !== undefined && child.exitCode === null) {
			const status = procStatus(child.pid);
			peakMb = status.peakMb;
			cpuSeconds = status.cpuSeconds;
			if (onSample && performance.now() - lastSample >= 10_000) {
				lastSample = performance.now();
				onSample((lastSample - started) / 1000, status.rssMb);
			}
		}

		// UDP may lose datagrams: a receiver that got nothing new for 5 s has all it will get.
		const stalled = performance.now() - lastProgress > 5000;
		if (delivered.every(count => count >= events) || stalled) {
			const seconds = ((stalled ? lastProgress : performance.now()) - (firstDelivery ?? started)) / 1000;
			child.kill('SIGTERM');
			await new Promise(done => {
				child.once('exit', done);
			});
			rmSync(directory, {recursive: true, force: true});
			return {events, seconds, peakMb, cpuSeconds, delivered};
		}

		if (child.exitCode !== null) {
			throw new Error(`fimctl exited (${child.exitCode}) before delivering: ${delivered.join(', ')} of ${events}: ${stderr}`);
		}

		// eslint-disable-next-line no-await-in-loop
		await new Promise(done => {
			setTimeout(done, 50);
		});
	}
}

async function throughput(names: string[]): Promise<void> {
	console.log(`${total} events per run (one run each), enrichment on, json format`);
	console.log('sink           events/s   fimctl peak RSS   fimctl CPU s');
	for (const name of names) {
		const directory = mkdtempSync(join(tmpdir(), 'fim-bench-sink-'));
		// eslint-disable-next-line no-await-in-loop
		const receiver = await receivers[name]!(directory);
		try {
			// eslint-disable-next-line no-await-in-loop
			const result = await run([receiver.url], [receiver.count], total);
			const missing = result.events - result.delivered[0]!;
			const note = name !== 'stdout' && missing > 0 ? `   (${missing} not received)` : '';
			console.log(`${name.padEnd(13)} ${String(Math.round(Math.min(result.delivered[0]! || result.events, result.events) / result.seconds)).padStart(9)}   ${result.peakMb.toFixed(0).padStart(12)} MB   ${result.cpuSeconds.toFixed(1).padStart(12)}${note}`);
		} finally {
			// eslint-disable-next-line no-await-in-loop
			await receiver.stop();
			rmSync(directory, {recursive: true, force: true});
		}
	}

	const directory = mkdtempSync(join(tmpdir(), 'fim-bench-sink-'));
	const together = await Promise.all(['file', 'syslog-tcp', 'http', 'fluent'].map(async name => receivers[name]!(directory)));
	try {
		const result = await run(together.map(receiver => receiver.url), together.map(receiver => receiver.count), total);
		console.log(`${'4 at once'.padEnd(13)} ${String(Math.round(result.events / result.seconds)).padStart(9)}   ${result.peakMb.toFixed(0).padStart(12)} MB   ${result.cpuSeconds.toFixed(1).padStart(12)}   (file + syslog-tcp + http + fluent)`);
	} finally {
		await Promise.all(together.map(async receiver => receiver.stop()));
		rmSync(directory, {recursive: true, force: true});
	}
}

async function soak(seconds: number, rate: number): Promise<void> {
	const directory = mkdtempSync(join(tmpdir(), 'fim-bench-soak-'));
	const sinks = await Promise.all([fileReceiver(directory), syslogReceiver('tcp'), processReceiver('http')]);
	const events = Math.floor(seconds * rate / 512) * 512;
	console.log(`soak: ${events} events at ${rate}/s (${seconds} s) to file + syslog-tcp + http at once; fimctl RSS every 10 s`);
	try {
		const samples: number[] = [];
		const result = await run(sinks.map(sink => sink.url), sinks.map(sink => sink.count), events, {BENCH_RATE: String(rate)}, (at, rssMb) => {
			samples.push(rssMb);
			console.log(`  ${at.toFixed(0).padStart(4)} s  RSS ${rssMb.toFixed(1)} MB`);
		}, false);
		const firstMinute = samples.slice(0, 6);
		const lastMinute = samples.slice(-6);
		const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
		console.log(`delivered ${result.delivered.join(' / ')} of ${events} in ${result.seconds.toFixed(0)} s; RSS mean first minute ${mean(firstMinute).toFixed(1)} MB, last minute ${mean(lastMinute).toFixed(1)} MB, min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)}, peak ${result.peakMb.toFixed(1)} MB; CPU ${result.cpuSeconds.toFixed(1)} s`);
	} finally {
		await Promise.all(sinks.map(async sink => sink.stop()));
		rmSync(directory, {recursive: true, force: true});
	}
}

const argv = process.argv.slice(2);
if (argv[0] === '--soak') {
	const rateIndex = argv.indexOf('--rate');
	await soak(Number(argv[1] ?? 600), rateIndex === -1 ? 1000 : Number(argv[rateIndex + 1]));
} else {
	await throughput(argv.length > 0 ? argv : Object.keys(receivers));
}
