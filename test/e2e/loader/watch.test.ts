// What is watched: only the given trees, changed at runtime through stdin commands; and the
// loader's own life cycle (hello, acks, bye).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { schedPolicyNumber, schedPolicyOf } from '../../../supervisor/src/sched.js';
import { assertEvents, bin, e2e, ino, Loader, loaderPath, py, run, whoRoot, withLoader } from './harness.js';

e2e('hello names the canonical watched paths and the protocol version', (t) =>
	withLoader(t, {}, async (l) => {
		t.like(l.hello, { type: 'hello', protocol: 1, paths: [l.dir, l.fenceDir] });
		t.true(Array.isArray(l.hello['hooks']) && (l.hello['hooks'] as unknown[]).length > 0);
	}));

e2e('--backend auto picks what the kernel allows and says why; --backend forces one or fails in one line', async (t) => {
	let auto = '';
	await withLoader(t, {}, async (l) => {
		auto = l.hello['backend'] as string;
		t.true(['tracepoint', 'fentry'].includes(auto), `backend ${auto}`);
		t.is(typeof l.hello['backend_reason'], 'string');
		t.true((l.hello['backend_reason'] as string).length > 0);
	});
	await withLoader(t, { args: ['--backend', 'tracepoint'] }, async (l) => {
		t.like(l.hello, { backend: 'tracepoint', backend_reason: 'chosen with --backend' });
		t.false((l.hello['hooks'] as string[]).includes('vfs_unlink'));
	});
	// fentry is forced where the kernel allows it (auto chose it), and refused alike where not
	if (auto === 'fentry') {
		await withLoader(t, { args: ['--backend', 'fentry'] }, async (l) => {
			t.like(l.hello, { backend: 'fentry' });
			t.true((l.hello['hooks'] as string[]).includes('vfs_unlink'));
		});
	} else {
		const r = await run(loaderPath, ['--backend', 'fentry', '--path', '/tmp'], { allowFail: true });
		t.is(r.code, 3, 'unsupported system');
		t.regex(r.stderr, /^fim-loader: error: --backend fentry: .+\n$/);
		t.is(r.stderr.split('\n').length, 2, 'one line');
	}
	const bad = await run(loaderPath, ['--backend', 'lsm', '--path', '/tmp'], { allowFail: true });
	t.is(bad.code, 2);
	t.regex(bad.stderr, /--backend: 'lsm' is not one of auto, tracepoint, fentry/);
});

e2e('the loader runs as SCHED_BATCH, or as started with --sched-policy keep, and hello says which', async (t) => {
	await withLoader(t, {}, async (l) => {
		t.is(l.hello['sched_policy'], 'batch');
		t.is(schedPolicyOf(l.hello['pid'] as number), schedPolicyNumber.batch);
	});
	await withLoader(t, { args: ['--sched-policy', 'keep'] }, async (l) => {
		t.is(l.hello['sched_policy'], 'normal');
		t.is(schedPolicyOf(l.hello['pid'] as number), schedPolicyNumber.normal);
	});
});

e2e('an unwatched sibling directory produces no event', (t) =>
	withLoader(t, {}, async (l) => {
		const s = l.sibling;
		const m = l.mark();
		await run(bin('touch'), [path.join(s, 'a')]);
		await run(bin('mkdir'), [path.join(s, 'd')]);
		await run(bin('mv'), [path.join(s, 'a'), path.join(s, 'd', 'b')]);
		await run(bin('chmod'), ['600', path.join(s, 'd', 'b')]);
		await py('open(A[0], "ab").write(b"x")', [path.join(s, 'd', 'b')]);
		await run(bin('rm'), ['-r', path.join(s, 'd')]);
		assertEvents(t, await l.settle(m), []);
	}));

e2e('a path added at runtime starts producing events, a removed one stops', (t) =>
	withLoader(t, {}, async (l) => {
		const extra = path.join(l.base, 'extra');
		fs.mkdirSync(extra);
		const m0 = l.mark();
		await run(bin('touch'), [path.join(extra, 'before-add')]);
		assertEvents(t, await l.settle(m0), [], 'not watched yet');

		t.like(await l.command({ cmd: 'add', path: extra }), { type: 'ack', cmd: 'add', ok: true, path: extra });
		const list = await l.command({ cmd: 'list' });
		t.true((list['paths'] as string[]).includes(extra), JSON.stringify(list));
		const m1 = l.mark();
		const c = await run(bin('touch'), [path.join(extra, 'after-add')]);
		const d = await run(bin('rm'), [path.join(extra, 'before-add')]);
		assertEvents(t, await l.settle(m1), [
			{ operation: 'add', path: path.join(extra, 'after-add'), ...whoRoot(c) },
			{ operation: 'delete', path: path.join(extra, 'before-add'), ...whoRoot(d) },
		]);

		t.like(await l.command({ cmd: 'remove', path: extra }), { type: 'ack', cmd: 'remove', ok: true });
		const m2 = l.mark();
		await run(bin('touch'), [path.join(extra, 'after-remove')]);
		await run(bin('mkdir'), [path.join(extra, 'dir-after-remove')]);
		await run(bin('rm'), [path.join(extra, 'after-add')]);
		assertEvents(t, await l.settle(m2), [], 'removed: silent again');
		const m3 = l.mark();
		const w = await run(bin('touch'), [path.join(l.dir, 'still-watched')]);
		assertEvents(t, await l.settle(m3), [
			{ operation: 'add', path: path.join(l.dir, 'still-watched'), ...whoRoot(w) },
		]);
	}));

e2e('a watched path deleted and made again is watched again, from the change that makes it', (t) =>
	withLoader(t, {}, async (l) => {
		// roots whose parent (base) is not watched: only their own names there may be reported
		const dir = path.join(l.base, 'again');
		const file = path.join(l.base, 'again-file');
		fs.mkdirSync(dir);
		fs.writeFileSync(file, 'first\n');
		for (const p of [dir, file]) t.like(await l.command({ cmd: 'add', path: p }), { ok: true });

		const m0 = l.mark();
		const rd = await run(bin('rmdir'), [dir]);
		const rf = await run(bin('rm'), [file]);
		assertEvents(t, await l.settle(m0), [
			{ operation: 'delete', path: dir, ...whoRoot(rd) },
			{ operation: 'delete', path: file, ...whoRoot(rf) },
		]);

		const m1 = l.mark();
		const md = await run(bin('mkdir'), [dir]);
		const tf = await run(bin('touch'), [file]);
		assertEvents(t, await l.settle(m1), [
			{ operation: 'add', path: dir, ...whoRoot(md) },
			{ operation: 'add', path: file, inode: ino(file), ...whoRoot(tf) },
		]);

		const m2 = l.mark();
		const inside = await run(bin('touch'), [path.join(dir, 'inside')]);
		const wr = await run(bin('truncate'), ['-s', '5', file]);
		assertEvents(t, await l.settle(m2), [
			{ operation: 'add', path: path.join(dir, 'inside'), ...whoRoot(inside) },
			{ operation: 'modify', path: file, ...whoRoot(wr) },
		]);

		// their neighbours in the parent stay unwatched, by name and by fd
		const m3 = l.mark();
		await run(bin('touch'), [path.join(l.base, 'again-file2')]);
		await run(bin('mkdir'), [path.join(l.base, 'again2'), path.join(l.base, 'agai')]);
		await run(bin('mv'), [path.join(l.base, 'again2'), path.join(l.base, 'again3')]);
		assertEvents(t, await l.settle(m3), [], 'siblings of a watched root');
	}));

e2e('a watched directory made again: what is made in it before the loader reads its add is reported too', (t) =>
	withLoader(t, {}, async (l) => {
		const dir = path.join(l.base, 'again');
		fs.mkdirSync(dir);
		t.like(await l.command({ cmd: 'add', path: dir }), { ok: true });
		const m = await l.settle().then(() => l.mark());
		// stopped, the loader reads the directory's add only after the changes in it were made
		l.proc.kill('SIGSTOP');
		let c;
		try {
			c = await py('os.rmdir(A[0])\nos.mkdir(A[0])\nos.close(os.open(A[1], os.O_CREAT | os.O_WRONLY))\nos.mkdir(A[2])', [
				dir,
				path.join(dir, 'file'),
				path.join(dir, 'sub'),
			]);
		} finally {
			l.proc.kill('SIGCONT');
		}
		assertEvents(t, await l.settle(m), [
			{ operation: 'delete', path: dir, ...whoRoot(c) },
			{ operation: 'add', path: dir, ...whoRoot(c) },
			{ operation: 'add', path: path.join(dir, 'file'), ...whoRoot(c) },
			{ operation: 'add', path: path.join(dir, 'sub'), ...whoRoot(c) },
		]);
	}));

e2e('a watched path moved away is not watched where it went; what is moved into its place is', (t) =>
	withLoader(t, {}, async (l) => {
		const dir = path.join(l.base, 'moving');
		const away = path.join(l.base, 'moved-away');
		const other = path.join(l.base, 'other');
		fs.mkdirSync(dir);
		fs.mkdirSync(other);
		t.like(await l.command({ cmd: 'add', path: dir }), { ok: true });

		const m0 = l.mark();
		const mv = await run(bin('mv'), [dir, away]);
		assertEvents(t, await l.settle(m0), [{ operation: 'rename', path: away, old_path: dir, ...whoRoot(mv) }]);

		const m1 = l.mark();
		await run(bin('touch'), [path.join(away, 'x')]);
		await run(bin('mkdir'), [path.join(away, 'y')]);
		await run(bin('rm'), [path.join(away, 'x')]);
		assertEvents(t, await l.settle(m1), [], 'where it went');

		const m2 = l.mark();
		const back = await run(bin('mv'), [other, dir]);
		const inside = await run(bin('touch'), [path.join(dir, 'z')]);
		assertEvents(t, await l.settle(m2), [
			{ operation: 'rename', path: dir, old_path: other, ...whoRoot(back) },
			{ operation: 'add', path: path.join(dir, 'z'), ...whoRoot(inside) },
		]);
		t.deepEqual((await l.command({ cmd: 'list' }))['paths'], [l.dir, l.fenceDir, dir]);
	}));

e2e('a directory above a watched path moved or deleted: the loader finds the path gone or replaced, and follows it', (t) =>
	withLoader(t, { args: ['--coalesce-ms', '100'] }, async (l) => {
		const app = path.join(l.base, 'app');
		const config = path.join(app, 'config');
		const old = path.join(l.base, 'app.old');
		fs.mkdirSync(config, { recursive: true });
		t.like(await l.command({ cmd: 'add', path: config }), { ok: true });
		const watchRecord = (state: string, from: number) =>
			l.waitFor((r) => r.type === 'watch' && r['path'] === config && r['state'] === state, 5000, from);

		// a deploy: the old tree moved aside, a new one in its place
		let m = l.mark();
		fs.renameSync(app, old);
		fs.mkdirSync(config, { recursive: true });
		t.is(typeof (await watchRecord('found', m))['timestamp'], 'number');
		m = l.mark();
		const inNew = await run(bin('touch'), [path.join(config, 'new')]);
		await run(bin('touch'), [path.join(old, 'config', 'left-behind')]);
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: path.join(config, 'new'), ...whoRoot(inNew) }]);

		// moved away with nothing in its place: gone; made again, deeper than the kernel sees
		m = l.mark();
		fs.renameSync(app, path.join(l.base, 'app.older'));
		await watchRecord('gone', m);
		t.deepEqual((await l.command({ cmd: 'list' }))['absent_paths'], [config]);
		m = l.mark();
		fs.mkdirSync(config, { recursive: true });
		await watchRecord('found', m);
		m = l.mark();
		const again = await run(bin('touch'), [path.join(config, 'again')]);
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: path.join(config, 'again'), ...whoRoot(again) }]);
	}));

e2e('a file system mounted on a watched directory: what changes on it is reported, and it can be unmounted', (t) =>
	withLoader(t, { args: ['--coalesce-ms', '100'] }, async (l) => {
		const point = path.join(l.base, 'point');
		fs.mkdirSync(point);
		t.like(await l.command({ cmd: 'add', path: point }), { ok: true });
		await run(bin('mount'), ['-t', 'tmpfs', 'tmpfs', point]);
		let mounted = true;
		try {
			await new Promise((resolve) => setTimeout(resolve, 500)); // a few looks at the watched paths
			const m = l.mark();
			const tf = await run(bin('touch'), [path.join(point, 'on-the-mount')]);
			assertEvents(t, await l.settle(m), [{ operation: 'add', path: path.join(point, 'on-the-mount'), ...whoRoot(tf) }]);
			// the watch stays on the directory under the mount: the mount is not held
			const u = await run(bin('umount'), [point], { allowFail: true });
			t.is(u.code, 0, u.stderr);
			mounted = u.code !== 0;
		} finally {
			if (mounted) await run(bin('umount'), ['-l', point], { allowFail: true });
		}
		t.false(l.records.some((r) => r.type === 'watch'), 'no watch record: the watched path never changed');
	}));

e2e('--absent-path: a path that does not exist yet is watched from the change that makes it', async (t) => {
	const parent = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'fim-e2e-absent-')));
	const later = path.join(parent, 'later');
	try {
		await withLoader(t, { args: ['--absent-path', later] }, async (l) => {
			t.like(l.hello, { paths: [l.dir, l.fenceDir, later], absent_paths: [later] });
			t.regex(l.stderr, /watched path \S+\/later does not exist; it is watched from when it is made/);

			const m = l.mark();
			const md = await run(bin('mkdir'), [later]);
			const tf = await run(bin('touch'), [path.join(later, 'f')]);
			await run(bin('touch'), [path.join(parent, 'neighbour')]);
			await run(bin('mkdir'), [path.join(parent, 'late')]);
			assertEvents(t, await l.settle(m), [
				{ operation: 'add', path: later, ...whoRoot(md) },
				{ operation: 'add', path: path.join(later, 'f'), ...whoRoot(tf) },
			]);
			t.like(await l.command({ cmd: 'list' }), { ok: true, absent_paths: [] });
		});
		// one that exists is watched as --path would
		await withLoader(t, { args: ['--absent-path', later] }, async (l) => {
			t.like(l.hello, { absent_paths: [] });
			const m = l.mark();
			const tf = await run(bin('touch'), [path.join(later, 'g')]);
			assertEvents(t, await l.settle(m), [{ operation: 'add', path: path.join(later, 'g'), ...whoRoot(tf) }]);
		});
		// its directory missing too: found by the loader's look at the watched paths
		const deep = path.join(parent, 'not', 'yet');
		await withLoader(t, { args: ['--absent-path', deep, '--coalesce-ms', '100'] }, async (l) => {
			t.like(l.hello, { absent_paths: [deep] });
			t.regex(l.stderr, /watched path \S+\/not\/yet does not exist, nor its directory/);
			const m = l.mark();
			fs.mkdirSync(deep, { recursive: true });
			await l.waitFor((r) => r.type === 'watch' && r['path'] === deep && r['state'] === 'found', 5000, m);
			const tf = await run(bin('touch'), [path.join(deep, 'f')]);
			assertEvents(t, (await l.settle(m)).filter((e) => e.path !== deep), [{ operation: 'add', path: path.join(deep, 'f'), ...whoRoot(tf) }]);
		});
	} finally {
		fs.rmSync(parent, { recursive: true, force: true });
	}
	// what nothing can make: a usage error, in one line
	for (const [given, why] of [
		[`${parent}/no/..`, 'does not exist, and names no entry of a directory'], // not path.join: it would fold the '..'
		['/etc/passwd/x', 'Not a directory'],
	]) {
		const r = await run(loaderPath, ['--absent-path', given!], { allowFail: true });
		t.is(r.code, 2, given);
		t.is(r.stderr, `fim-loader: error: watched path ${given}: ${why}\n`);
	}
});

e2e('adding a path that does not exist is a failed ack, not a crash', (t) =>
	withLoader(t, {}, async (l) => {
		const ack = await l.command({ cmd: 'add', path: path.join(l.base, 'nope') });
		t.like(ack, { type: 'ack', ok: false, error: 'ENOENT' });
		const bad = await l.command({ cmd: 'frobnicate' });
		t.like(bad, { type: 'ack', ok: false, error: 'EINVAL' });
	}));

e2e('EOF on stdin ends the loader with exit 0 and bye', async (t) => {
	const { Loader } = await import('./harness.js');
	const l = await Loader.start();
	try {
		l.proc.stdin!.end();
		await l.waitFor((r) => r.type === 'bye', 10_000);
		const { code, last } = await l.stop();
		t.is(code, 0);
		t.like(last, { type: 'bye', reason: 'stdin closed' });
	} finally {
		l.cleanup();
	}
});

e2e('SIGHUP (a hangup sent to the process group) does not end the loader', (t) =>
	withLoader(t, {}, async (l) => {
		l.proc.kill('SIGHUP');
		t.like(await l.command({ cmd: 'list' }), { type: 'ack', ok: true });
		const m = l.mark();
		const c = await run(bin('touch'), [path.join(l.dir, 'after-hup')]);
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: path.join(l.dir, 'after-hup'), ...whoRoot(c) }]);
	}));

e2e('a ring buffer that overflows: stats count the loss and show the ring full, then empty again', async (t) => {
	t.timeout(60_000);
	const l = await Loader.start({ args: ['--ringbuf-mb', '1'] });
	try {
		const stats = async (): Promise<Record<string, unknown>> => {
			const from = l.mark();
			await l.command({ cmd: 'stats' });
			return l.waitFor((r) => r.type === 'stats', 10_000, from);
		};
		// Nothing reads the 1 MiB ring while 4,000 files are made.
		process.kill(l.proc.pid!, 'SIGSTOP');
		try {
			for (let i = 0; i < 4000; i++) fs.writeFileSync(path.join(l.dir, `burst-${i}`), `burst ${i}\n`);
		} finally {
			process.kill(l.proc.pid!, 'SIGCONT');
		}
		// No fence here: right after SIGCONT the ring is still full and would lose it. The
		// counters were kept by the kernel during the burst; stats reads them whenever it comes.
		const after = await stats();
		t.true((after['lost'] as number) > 0, `lost ${String(after['lost'])}`);
		t.is(after['ringbuf_bytes'], 1 << 20);
		// Full up to less than one record (the one that did not fit), and never more than full.
		const used = after['ringbuf_used_max_bytes'] as number;
		t.true(used > (1 << 20) - 4096 && used <= 1 << 20, `ringbuf_used_max_bytes ${used}`);
		const quiet = await stats();
		t.is(quiet['ringbuf_used_max_bytes'], 0, 'no record sent since the last stats');
		const { code } = await l.stop();
		t.is(code, 0);
	} finally {
		l.cleanup();
	}
});

// A 1 MiB ring and no periodic stats record within the hour: a stats record that comes is the
// loader's report of a loss. The file to change is made and its event read.
async function startForLoss(): Promise<{ l: Loader; file: string }> {
	const l = await Loader.start({ args: ['--ringbuf-mb', '1', '--stats-interval', '3600'] });
	const file = path.join(l.dir, 'storm');
	fs.writeFileSync(file, '');
	await l.settle();
	return { l, file };
}

/**
 * chmods `file` `ops` times while the loader's stdout is not read, then reads on; returns the
 * mark before. The loader blocks in write() and stops reading the ring: the 1 MiB ring holds
 * ~6,000 chmod records, the pipe and the loader's output buffer a few thousand lines, so
 * 15,000 chmods overflow them all.
 */
function chmodUnread(l: Loader, file: string, ops: number): number {
	const from = l.mark();
	l.proc.stdout!.pause();
	for (let i = 0; i < ops; i++) fs.chmodSync(file, i % 2 ? 0o644 : 0o600);
	l.proc.stdout!.resume();
	return from;
}

const nextStats = (l: Loader, from: number) => l.waitFor((r) => r.type === 'stats', 20_000, from);

e2e('a loss is told by a stats record right after it, not at the next periodic one', async (t) => {
	t.timeout(60_000);
	const { l, file } = await startForLoss();
	try {
		for (let i = 0; i < 200; i++) fs.chmodSync(file, i % 2 ? 0o600 : 0o644);
		await l.settle();
		t.false(l.records.some((r) => r.type === 'stats'), 'no stats record while nothing is lost');

		const ops = 50_000;
		const from = chmodUnread(l, file, ops);
		const resumedAt = Date.now();
		const report = await nextStats(l, from);
		t.log(`stats record ${Date.now() - resumedAt} ms after reading resumed: lost ${String(report['lost'])}`);
		t.true((report['lost'] as number) > 0, `lost ${String(report['lost'])}`);
		t.true(
			l.records.slice(from, l.records.indexOf(report)).some((r) => r.type === 'event'),
			'the report follows the events read after the loss',
		);

		// Every chmod is either delivered or counted, by the end.
		await l.settle();
		const delivered = l.eventsSince(from).filter((e) => e.path === file && e.operation === 'attrib').length;
		const { code, last } = await l.stop();
		t.is(code, 0);
		t.is(last?.type, 'bye');
		const final = l.records.filter((r) => r.type === 'stats').at(-1)!;
		t.true((final['lost'] as number) >= (report['lost'] as number));
		t.is(delivered + (final['lost'] as number), ops, `delivered ${delivered} + lost ${String(final['lost'])}`);
		t.deepEqual(l.badLines, []);
	} finally {
		l.cleanup();
	}
});

e2e('a loss soon after a reported one is told too, 250 ms after the first report at the soonest', async (t) => {
	t.timeout(60_000);
	const { l, file } = await startForLoss();
	try {
		// The second overflow comes within a quarter of a second of the first report, then
		// silence: it is told by the timer of the put-off look, or by the next batch.
		const first = await nextStats(l, chmodUnread(l, file, 15_000));
		const firstAt = Date.now();
		const second = await nextStats(l, chmodUnread(l, file, 15_000));
		const apartMs = ((second['timestamp'] as number) - (first['timestamp'] as number)) / 1e6;
		t.log(`second report ${Date.now() - firstAt} ms after the first was read, ${apartMs.toFixed(1)} ms after it was written; lost ${String(first['lost'])}, then ${String(second['lost'])}`);
		t.true((first['lost'] as number) > 0);
		t.true((second['lost'] as number) > (first['lost'] as number));
		// by the loader's clock (CLOCK_REALTIME; a little slack for its slewing)
		t.true(apartMs >= 245, `reports ${apartMs} ms apart: at most one per 250 ms`);
		const { code } = await l.stop();
		t.is(code, 0);
	} finally {
		l.cleanup();
	}
});
