#!/usr/bin/env node
// What `fimctl start` costs at a moderate rate, node and loader apart, as `make bench` measures
// it but in one configuration and with a longer window: the quick loop for work on the
// supervisor's cost (`make bench` remains the reference).
//
//   node scripts/bench-fimctl.mjs [--rate OPS] [--seconds S] [--burst S] [--state-dir DIR]
//                                 [--node-flags "FLAGS"] [--bare] [-- FIMCTL START OPTIONS]
//
// 1. `build/bench/workload mixed --procs 1 --rate OPS` in a watched tmpfs directory for S seconds
//    (default 2,000 ops/s for 20 s), each op stamped; fimctl's stdout read and stamped by
//    `workload harness`: latency p50 / p99 / max; CPU (utime + stime) of node and of the loader
//    over the window, as % of one core; VmRSS / VmHWM of both.
// 2. With --burst S: `workload attrib --procs 2` unpaced for S seconds while the consumer stops
//    reading (the burst of `make bench`), then VmHWM again: how far the supervisor's memory
//    grows when its reader stalls under load.
// --node-flags runs bin/fimctl through `node FLAGS` (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
// replacing the V8 flags of its interpreter line. --bare runs scripts/bench-bare-consumer.mjs
// (as SCHED_BATCH) in fimctl's place: node parsing and writing back each record and nothing more,
// the floor under fimctl's CPU at that rate. Root only (it loads BPF programs).

import fs from 'node:fs';
import path from 'node:path';
import {
  FIMCTL, WORKLOAD, log, sleep, fmt, workload, cpuSeconds, childPids, commOf, waitGone, bareConsumerArgv, procMem, Harness, readDump, matchLatency, mountTmpfs, unmountTmpfs,
  cleanupOnSignals, parseFlags, usageExit,
} from './bench-lib.mjs';

const USAGE = 'usage: bench-fimctl.mjs [--rate OPS] [--seconds S] [--burst S] [--state-dir DIR] [--node-flags "FLAGS"] [--bare] [-- FIMCTL START OPTIONS]';
const dashDash = process.argv.indexOf('--');
const own = dashDash === -1 ? process.argv.slice(2) : process.argv.slice(2, dashDash);
const extra = dashDash === -1 ? [] : process.argv.slice(dashDash + 1);
const o = parseFlags(
  own,
  {
    '--rate': ['rate', Number],
    '--seconds': ['seconds', Number],
    '--burst': ['burst', Number],
    '--state-dir': ['stateDir', String],
    '--node-flags': ['nodeFlags', String],
    '--bare': ['bare'],
  },
  { rate: 2000, seconds: 20, burst: 0, stateDir: null, nodeFlags: null, bare: false },
  (err) => usageExit('bench-fimctl', USAGE, err),
);
if (process.getuid() !== 0) usageExit('bench-fimctl', USAGE, 'must run as root (it loads BPF programs)');
// `make` builds the product only; the workload and its harness come with the bench tools.
if (!fs.existsSync(WORKLOAD)) usageExit('bench-fimctl', USAGE, `${path.relative(process.cwd(), WORKLOAD)} is missing: run \`make bench-tools\` first`);

let h = null;
let dir = null;
cleanupOnSignals('bench-fimctl', () => {
  h?.kill();
  if (dir) unmountTmpfs(dir);
});

dir = mountTmpfs('/tmp', 'fim-bench-fimctl.');
const watched = path.join(dir, 'watched');
const logs = path.join(dir, 'logs');
fs.mkdirSync(watched);
fs.mkdirSync(logs);
const state = o.stateDir ?? path.join(dir, 'state');
const fimctl = o.nodeFlags === null
  ? [FIMCTL]
  : [process.execPath, ...o.nodeFlags.split(' ').filter(Boolean), FIMCTL];
const argv = o.bare ? bareConsumerArgv(watched) : [...fimctl, 'start', watched, '--state-dir', state, ...extra];
log(`fimctl: ${argv.join(' ')}`);

try {
  h = new Harness('fimctl', argv, path.join(logs, 'fimctl.stderr'), { format: 'fimctl' });
  await h.start();
  const node = h.ready.loader_pid;
  for (let i = 0; !(await h.fence(watched, 1000)).ok; i++) {
    if (i >= 30) throw new Error('fimctl: no event after 30 s');
  }
  const loader = childPids(node).find((p) => commOf(p) === 'fim-loader');
  const procs = { node, 'fim-loader': loader };
  const cpu = () => Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, cpuSeconds(p)]));
  const mem = () => Object.entries(procs).map(([k, p]) => {
    const m = procMem(p);
    return `${k} ${fmt(m.rssKb / 1024, 1)} / ${fmt(m.hwmKb / 1024, 1)} MB`;
  }).join(', ');

  await h.cmd('mark', 'marked');
  const nOps = Math.ceil(o.rate * o.seconds) + 100;
  await h.cmd(`log ${nOps * 3}`, 'logging');
  const stamps = path.join(logs, 'stamps');
  const c0 = cpu();
  const w = await workload('mixed', ['--procs', '1', '--ms', String(o.seconds * 1000), '--rate', String(o.rate), '--dir', watched, '--tag', 'lat', '--stamps', stamps]);
  const f = await h.fence(watched, 120000);
  const c1 = cpu();
  const dump = path.join(logs, 'latency');
  await h.cmd(`dump ${dump}`, 'dumped');
  await h.cmd('log 0', 'logging');
  const L = matchLatency(`${stamps}.0`, readDump(dump));
  const seconds = w.elapsed_ns / 1e9;
  const evs = f.window_events / seconds;
  const share = Object.fromEntries(Object.keys(c0).map((k) => [k, (100 * (c1[k] - c0[k])) / seconds]));
  log(`latency: ${L.matched}/${w.ops} ops matched at ${fmt(w.ops_per_s)} ops/s, ${f.window_events} events (${fmt(evs)} ev/s); p50 ${fmt(L.p50)} µs, p99 ${fmt(L.p99)} µs, p99.9 ${fmt(L.p999)} µs, max ${fmt(L.max)} µs`);
  log(`CPU over ${fmt(seconds, 1)} s: ${Object.entries(share).map(([k, v]) => `${k} ${fmt(v, 1)}%`).join(', ')}; together ${fmt(share.node + share['fim-loader'], 1)}%`);
  log(`memory (VmRSS / VmHWM): ${mem()}`);
  if (o.burst > 0) {
    // The harness's own fence files that never came are among the losses fimctl reports.
    const workloadLoss = (w) => w.reported_lost - w.fence_lost;
    await h.cmd('mark', 'marked');
    const before = workloadLoss(await h.cmd('peek', 'peeked'));
    await h.cmd('pause', 'paused');
    let b;
    try {
      b = await workload('attrib', ['--procs', '2', '--ms', String(o.burst * 1000), '--dir', watched, '--tag', 'burst'], { timeoutMs: 300000 });
    } finally {
      await h.cmd('resume', 'resumed');
    }
    const fb = await h.fence(watched, 180000);
    const delivered = fb.window_by_op.attrib;
    // A kernel loss is reported at the loader's next stats record (every 5 s by default).
    let reported = workloadLoss(fb) - before;
    for (let waited = 0; delivered + reported < b.ops && waited < 7000; waited += 250) {
      await sleep(250);
      reported = workloadLoss(await h.cmd('peek', 'peeked')) - before;
    }
    log(`burst, consumer stalled: ${b.ops} chmods at ${fmt(b.ops_per_s)}/s, ${delivered} delivered, ${b.ops - delivered} missing, ${reported} reported lost (${reported - (b.ops - delivered)} more than missing)`);
    log(`memory after it (VmRSS / VmHWM): ${mem()}`);
  }
  await h.quit();
  h = null;
  await waitGone(loader);
  // fimctl's own warnings (a loss, a buffer that discarded) say what the figures above cannot
  const warnings = fs.readFileSync(path.join(logs, 'fimctl.stderr'), 'utf8').split('\n').filter((line) => / (warn|error): /.test(line));
  for (const line of warnings.slice(0, 10)) log(`  ${line}`);
} finally {
  h?.kill();
  unmountTmpfs(dir);
  dir = null;
}
