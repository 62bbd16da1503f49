#!/usr/bin/env node
// `make bench`: fim-whodata and its peers, measured side by side on this machine, in one run.
//
//   none        no monitor
//   auditd      auditd with a watch rule (-w DIR -p wa), events read from its af_unix dispatcher
//               socket as Wazuh's whodata reads them (scripts/bench-audit.mjs)
//   inotifywait inotifywait -m -r on the directory, its output lines read (no whodata)
//   fim-loader  build/fim-loader alone, its NDJSON read
//   fimctl      bin/fimctl start DIR end to end (loader + supervisor), its stdout read
//   none+audit  no monitor, but on a kernel where audit has been enabled since boot (what auditd
//               leaves behind until reboot; only when auditd is part of the run)
//
// Each monitor's events are read by one consumer, build/bench/workload harness (bench/harness.c),
// which stamps every read; the workload (bench/workload.c) stamps every op.
//
// 1. Overhead: rounds alternating the configurations (A B C ... A B C ...), each sample a fresh
//    monitor and three workloads of 2 processes: mixed create+write / append / rename / delete in
//    the watched directory, 1-byte write(2) to an unwatched file, 1-byte write(2) to a pipe.
//    Medians; ratios to no monitor.
// 2. Per monitor, one instance: latency from the syscall to the consumer at a steady 2,000 ops/s
//    with the monitor's CPU meanwhile; whodata of short-lived processes; rising chmod rates until
//    events go missing (the highest zero-loss rate); a burst with the consumer stalled (how many
//    are lost, and whether the monitor says so); CPU seconds and peak RSS of its processes.
//
// usage: node scripts/bench.mjs [--quick] [--dir DIR] [--monitors LIST | --no-auditd] [--rounds N]
//                               [--out FILE | --no-save] [--quiet-wait SECONDS] [--verbose]
// Needs root. Run through `make bench` (or bench-quick), which builds what it runs and installs
// auditd and inotify-tools (scripts/bench-setup.sh).

import fs from 'node:fs';
import path from 'node:path';
import {
  ROOT, LOADER, WORKLOAD, FIMCTL, log, sleep, median, fmt, workload as runWorkload, cpuSeconds, childPids, commOf, procMem, foreignProgs,
  progIdsOf, waitGone, loadavg, QuietWaiter, cleanSamples, Findings, Harness, readDump, matchLatency, latencyPercentiles, mountTmpfs, unmountTmpfs, cleanupOnSignals,
  machineLine, toText, summaryOf, updateReadme, readmeBlock, runMain, parseFlags, usageExit,
} from './bench-lib.mjs';
import { AuditControl, AUDIT_KEY, findAuditd, kauditdPid } from './bench-audit.mjs';
import { chartSvg } from './bench-chart.mjs';

const MONITORS = {
  none: { label: 'no monitor' },
  auditd: { label: 'auditd', format: 'audit', whodata: true },
  inotify: { label: 'inotifywait', format: 'inotify', whodata: false },
  loader: { label: 'fim-loader', format: 'loader', whodata: true },
  fimctl: { label: 'fimctl', format: 'fimctl', whodata: true },
  'none+audit': { label: 'no monitor, audit context' },
};
// the events the mixed workload's ops make on fim-whodata's contract (the other monitors count
// their own way: auditd one per syscall, inotify one per write)
const MIXED_EVENTS_PER_OP = { loader: 1.25, fimctl: 1.25 };
const ALL = ['none', 'auditd', 'inotify', 'loader', 'fimctl'];
const LATENCY_RATE = 2000;
const SHORT_UID = 4242;
const SHORT_AUID = 4243;
const SHORT_EXE_NAME = 'fim-short-lived'; // 15 bytes: the whole name fits in comm
const FINDINGS = '/tmp/fim-bench-findings.md';

// ---- options -----------------------------------------------------------------------------------

const USAGE = `usage: bench.mjs [--quick] [--dir DIR] [--monitors LIST | --no-auditd] [--rounds N] [--latency-runs N] [--out FILE | --no-save] [--quiet-wait SECONDS] [--verbose]

  --quick           a shorter run (under 2 minutes; the default run takes under 10)
  --dir DIR         run the workloads in a new directory under DIR (default: a private tmpfs)
  --monitors LIST   comma list of ${ALL.join(',')} (default: all; none is always measured)
  --no-auditd       every monitor but auditd: audit is not touched at all
  --rounds N        overhead rounds (default 7, quick 2)
  --latency-runs N  latency runs per monitor (default 3, quick 1)
  --out FILE        where the report goes (default bench/results/<date>.md, and <date>.svg)
  --no-save         print the report only
  --quiet-wait S    how long in all to wait for other sessions' BPF programs to go (default 60)
  --verbose         every workload run on stderr`;

const usage = (err) => usageExit('bench', USAGE, err);

function parseArgs(argv) {
  const o = parseFlags(
    argv,
    {
      '--quick': ['quick'],
      '--dir': ['dir', String],
      '--monitors': ['monitors', (v) => v.split(',').map((m) => m.trim()).filter(Boolean)],
      '--no-auditd': ['noAuditd'],
      '--rounds': ['rounds', Number],
      '--latency-runs': ['latencyRuns', Number],
      '--out': ['out', String],
      '--no-save': ['save', false],
      '--quiet-wait': ['quietWait', Number],
      '--verbose': ['verbose'],
    },
    { quick: false, dir: null, monitors: [...ALL], noAuditd: false, rounds: null, latencyRuns: null, out: null, save: true, quietWait: null, verbose: false },
    usage,
  );
  if (o.noAuditd) o.monitors = o.monitors.filter((m) => m !== 'auditd');
  for (const m of o.monitors) if (!ALL.includes(m)) usage(`unknown monitor ${m} (known: ${ALL.join(', ')})`);
  if (!o.monitors.includes('none')) o.monitors.unshift('none');
  if (o.rounds !== null && !(Number.isInteger(o.rounds) && o.rounds > 0)) usage('--rounds must be a positive integer');
  if (o.latencyRuns !== null && !(Number.isInteger(o.latencyRuns) && o.latencyRuns > 0)) usage('--latency-runs must be a positive integer');
  if (o.quietWait !== null && !(o.quietWait >= 0)) usage('--quiet-wait must be a number of seconds');
  if (o.dir !== null && !fs.existsSync(o.dir)) usage(`--dir ${o.dir}: no such directory`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// Short samples repeated many times beat long ones on a VM whose speed drifts from second to
// second. The default run takes ~7 minutes, --quick under 2.
const P = opts.quick
  ? { rounds: 2, sampleMs: 300, retryBudgetS: 15, latencyMs: 3000, latencyRuns: 1, stepMs: 600, rates: [5e3, 25e3, 100e3, 200e3], burstMs: 800, shortlived: 100, readyTries: 30 }
  : { rounds: 7, sampleMs: 600, retryBudgetS: 120, latencyMs: 10000, latencyRuns: 3, stepMs: 1500, rates: [2e3, 5e3, 10e3, 25e3, 50e3, 100e3, 150e3, 200e3, 300e3], burstMs: 2000, shortlived: 300, readyTries: 30 };
if (opts.rounds) P.rounds = opts.rounds;
if (opts.latencyRuns) P.latencyRuns = opts.latencyRuns;

const T0 = Date.now();
// phase lines carry the time since start, so a slow part shows
const plog = (msg) => log(`[${((Date.now() - T0) / 1000).toFixed(0).padStart(3)} s] ${msg}`);
const workload = (mode, args, o = {}) => runWorkload(mode, args, { verbose: opts.verbose, ...o });
const quiet = new QuietWaiter(opts.quietWait ?? (opts.quick ? 15 : 60));
const findings = new Findings(FINDINGS, 'fim-whodata benchmark findings');

// ---- environment -------------------------------------------------------------------------------

const live = new Set();
const ranArgv = {}; // each monitor's command line, for the report
let audit = null;
let stateDir = null;
let workRoot = null; // a directory under --dir, removed at the end

function cleanup() {
  for (const h of live) h.kill();
  live.clear();
  if (audit) {
    try {
      audit.cleanup();
    } catch (e) {
      log(`bench: could not restore the audit state: ${e.message}; check \`auditctl -s\` and \`auditctl -l\``);
    }
  }
  if (workRoot) {
    fs.rmSync(workRoot, { recursive: true, force: true });
    workRoot = null;
  }
  if (stateDir) {
    unmountTmpfs(stateDir);
    stateDir = null;
  }
}

cleanupOnSignals('bench', cleanup);

function which(cmd) {
  for (const dir of (process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir, cmd);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function setup() {
  if (process.getuid() !== 0) {
    log('bench: error: must run as root (it loads BPF programs, starts auditd and mounts a tmpfs)');
    process.exit(4);
  }
  for (const f of [LOADER, WORKLOAD, path.join(ROOT, 'dist/supervisor/src/cli.js')]) {
    if (!fs.existsSync(f)) {
      log(`bench: error: ${path.relative(ROOT, f)} is missing: run it through \`make bench\``);
      process.exit(2);
    }
  }
  const need = { inotify: 'inotifywait', auditd: 'auditctl' };
  for (const m of opts.monitors) {
    if (need[m] && !which(need[m])) {
      log(`bench: error: ${need[m]} is not installed: \`make bench\` installs it (scripts/bench-setup.sh), or leave ${m} out with --monitors`);
      process.exit(2);
    }
  }
  if (opts.monitors.includes('auditd') && !findAuditd()) {
    log('bench: error: auditd is not installed: `make bench` installs it (scripts/bench-setup.sh)');
    process.exit(2);
  }
  // logs, stamps, the auditd configuration and the short-lived program live on a private tmpfs
  stateDir = mountTmpfs('/tmp', 'fim-bench-state.');
  if (opts.dir) workRoot = fs.mkdtempSync(path.join(path.resolve(opts.dir), 'fim-bench.'));
  const root = workRoot ?? path.join(stateDir, 'work');
  const d = {
    state: stateDir,
    root,
    watched: path.join(root, 'watched'),
    unwatched: path.join(root, 'unwatched'),
    logs: path.join(stateDir, 'logs'),
    bin: path.join(stateDir, 'bin'),
  };
  for (const k of ['root', 'watched', 'unwatched', 'logs', 'bin']) fs.mkdirSync(d[k], { recursive: true });
  d.watched = fs.realpathSync(d.watched);
  d.unwatched = fs.realpathSync(d.unwatched);
  // a directory the short-lived processes may write in, as the uid they run with
  d.short = path.join(d.watched, 'short');
  fs.mkdirSync(d.short);
  fs.chownSync(d.short, SHORT_UID, SHORT_UID);
  d.shortExe = path.join(d.bin, SHORT_EXE_NAME);
  fs.copyFileSync(WORKLOAD, d.shortExe);
  fs.chmodSync(d.shortExe, 0o755);
  d.shortExe = fs.realpathSync(d.shortExe); // the exe the kernel reports
  fs.chmodSync(d.bin, 0o755);
  fs.chmodSync(stateDir, 0o755);
  return d;
}

// ---- monitors ----------------------------------------------------------------------------------

const needsTaskNever = (id) => audit && id !== 'auditd' && id !== 'none+audit';

let fimctlStarts = 0;

// Starts a monitor on d.watched with its consumer; resolves once a change made in the directory
// comes through. Returns null for the configurations without one.
async function startMonitor(id, d, tag) {
  if (needsTaskNever(id)) audit.holdTaskNever();
  const def = MONITORS[id];
  if (!def.format) return null;
  const stderrFile = path.join(d.logs, `${id}.stderr`);
  let argv;
  let connect = null;
  if (id === 'loader') argv = [LOADER, '--path', d.watched, '--stats-interval', '1'];
  // a state directory of its own for each start, on the private tmpfs: no baseline of the
  // user's /var/lib/fim-whodata touched, and no reconciliation of what the others changed
  else if (id === 'fimctl') argv = [FIMCTL, 'start', d.watched, '--state-dir', path.join(d.state, `fimctl-state-${++fimctlStarts}`)];
  else if (id === 'inotify') argv = ['inotifywait', '-m', '-r', '-q', '-e', 'create,modify,attrib,moved_from,moved_to,delete', '--format', '%e %w%f', d.watched];
  else if (id === 'auditd') {
    argv = audit.auditdArgv();
    connect = audit.socket;
  }
  ranArgv[id] = argv;
  const h = new Harness(`${id}${tag}`, argv, stderrFile, { format: def.format, connect });
  live.add(h);
  const m = { id, h, stderrFile };
  await h.start();
  m.pid = h.ready.loader_pid;
  if (id === 'auditd') audit.afterStart(d.watched, m.pid);
  const t0 = Date.now();
  for (let i = 0; ; i++) {
    const f = await h.fence(d.watched, 1000);
    if (f.ok) break;
    if (i + 1 >= P.readyTries) throw new Error(`${id}: no event for a change in ${d.watched} after ${P.readyTries} s; see ${stderrFile}`);
  }
  m.readyMs = Date.now() - t0 + h.loadMs;
  m.procs = monitorProcs(m);
  m.ringbufBytes = id === 'loader' ? h.ready.hello.ringbuf_bytes : id === 'fimctl' ? 16 << 20 : 0;
  return m;
}

// Every process the monitor is made of, by role. auditd's kernel thread is counted apart: its
// CPU is the kernel's share of auditd's work, not auditd's own.
function monitorProcs(m) {
  if (m.id === 'fimctl') {
    const loader = childPids(m.pid).find((p) => commOf(p) === 'fim-loader');
    return { 'fimctl (node)': m.pid, ...(loader ? { 'fim-loader': loader } : {}) };
  }
  if (m.id === 'auditd') return { auditd: m.pid, 'kauditd (kernel thread)': kauditdPid() };
  return { [MONITORS[m.id].label]: m.pid };
}

async function stopMonitor(m) {
  if (m) {
    if (m.id === 'auditd') audit.deleteWatch();
    m.exit = await m.h.quit();
    if (m.procs['fim-loader']) await waitGone(m.procs['fim-loader']);
    live.delete(m.h);
    if (m.id === 'auditd') {
      audit.auditdPid = null;
      audit.restore();
    }
  }
  if (audit) audit.releaseTaskNever();
  return m?.exit;
}

function cpuOf(m) {
  const c = {};
  for (const [role, pid] of Object.entries(m.procs)) c[role] = pid ? cpuSeconds(pid) : NaN;
  return c;
}

function cpuDelta(a, b) {
  const d = {};
  for (const k of Object.keys(a)) d[k] = b[k] - a[k];
  return d;
}

// Loss the monitor reported so far, in its own terms: the loader's stats, fimctl's loss records,
// inotify's overflow lines, the kernel's audit `lost` counter. (auditd says that its dispatcher
// dropped events only to syslog, which a consumer of the socket does not see.) The loader and
// fimctl count every record they lose, among them the harness's own fence files that never
// came (fence_lost), which are not the workload's.
async function reportedLoss(m, window) {
  if (m.id === 'loader') {
    const s = await m.h.cmd('sync 15000', 'synced', 20000);
    return { count: (s.stats?.lost ?? NaN) - s.fence_lost, notes: 0 };
  }
  if (m.id === 'fimctl') return { count: window.reported_lost - window.fence_lost, notes: window.restarts };
  if (m.id === 'inotify') return { count: 0, notes: window.overflows };
  if (m.id === 'auditd') return { count: audit.lost(), notes: 0 };
  return { count: 0, notes: 0 };
}

const lossDelta = (a, b) => ({ count: b.count - a.count, notes: b.notes - a.notes });

// fimctl reports a loss at the loader's next stats record (every 5 s by default): give it that
// long to say so before counting the loss as unreported.
async function settleLoss(m, ops, delivered, before) {
  let w = await m.h.cmd('peek', 'peeked');
  let loss = lossDelta(before, await reportedLoss(m, w));
  if (m.id !== 'fimctl') return loss;
  for (let waited = 0; delivered + loss.count < ops && waited < 7000; waited += 250) {
    await sleep(250);
    w = await m.h.cmd('peek', 'peeked');
    loss = lossDelta(before, await reportedLoss(m, w));
  }
  return loss;
}

// ---- phase 1: overhead, rounds of every configuration ------------------------------------------

// A sample is disturbed when someone else's tracing programs were loaded or a neighbour took CPU
// from the storms: they write to an unwatched file and a pipe, which no monitor reports, so each
// of their processes should have had a whole CPU.
const disturbed = (s) => s.foreign > 0 || s.descheduled;

async function overheadRounds(d, res, configs) {
  // a disturbed sample is taken again, within a budget for the whole run
  let retryBudgetMs = P.retryBudgetS * 1000;
  for (let r = 1; r <= P.rounds; r++) {
    for (const cfg of configs) {
      for (let attempt = 0; ; attempt++) {
        const t0 = Date.now();
        const s = await overheadSample(cfg, r, d);
        s.attempt = attempt;
        res.samples.push(s);
        if (!disturbed(s) || attempt >= 2 || retryBudgetMs <= 0) break;
        retryBudgetMs -= Date.now() - t0;
      }
    }
  }
}

async function overheadSample(cfg, r, d) {
  const ms = String(P.sampleMs);
  const foreignBefore = await quiet.wait();
  const s = { round: r, cfg, loadavg: loadavg() };
  const m = await startMonitor(cfg, d, ` #${r}`);
  const own = m?.procs['fim-loader'] ? progIdsOf(m.procs['fim-loader']) : new Set();
  let lossBefore;
  if (m) {
    await m.h.cmd('mark', 'marked');
    lossBefore = await reportedLoss(m, await m.h.cmd('peek', 'peeked'));
  }
  s.mix = await workload('mixed', ['--procs', '2', '--ms', ms, '--dir', d.watched, '--tag', `o${r}${cfg.replace(/\W/g, '')}`]);
  if (m) {
    // what a backlog still holds is drained before the next workload, so it is not charged to it
    s.fence = await m.h.fence(d.watched, 120000);
    s.delivered = s.fence.window_events;
    // fewer events than the ops make is either a loss the monitor reported or a silent one
    if (MIXED_EVENTS_PER_OP[cfg]) s.reportedLost = (await settleLoss(m, s.mix.ops * MIXED_EVENTS_PER_OP[cfg], s.delivered, lossBefore)).count;
  }
  s.file = await workload('write-storm', ['--procs', '2', '--ms', ms, '--file', path.join(d.unwatched, 'f')]);
  s.pipe = await workload('pipe-storm', ['--procs', '2', '--ms', ms]);
  s.foreign = Math.max(foreignBefore, foreignProgs(own));
  s.cpuShare = Math.min(s.file.cpu_share, s.pipe.cpu_share);
  s.descheduled = s.cpuShare < 0.95;
  s.readyMs = m?.readyMs;
  await stopMonitor(m);
  plog(
    `  round ${r}/${P.rounds} ${MONITORS[cfg].label}: mixed ${fmt(s.mix.ns_per_op / 1000, 1)} µs/op, file write ${fmt(s.file.ns_per_op)} ns, pipe write ${fmt(s.pipe.ns_per_op)} ns` +
      (m ? `, ${s.delivered} events for ${s.mix.ops} ops` : '') +
      (s.reportedLost ? `, ${s.reportedLost} reported lost` : '') +
      (s.foreign > 0 ? `, ${s.foreign} tracing progs of someone else!` : '') +
      (s.descheduled ? `, storm CPU share ${fmt(s.cpuShare, 2)}: a neighbour took CPU` : ''),
  );
  return s;
}

// ---- phase 2: one instance per monitor ---------------------------------------------------------

async function monitorPhase(id, d) {
  const out = { id };
  const m = await startMonitor(id, d, ' (phase 2)');
  out.readyMs = m.readyMs;
  out.procs = m.procs;
  const cpuStart = cpuOf(m);
  try {
    out.latency = await latencyRuns(m, d);
    out.completeness = MONITORS[id].whodata ? await completenessRun(m, d) : null;
    out.steps = await throughputSteps(m, d);
    out.memSteady = memOf(m);
    out.burst = await burstRun(m, d);
    out.memAfterBurst = memOf(m);
    out.cpuTotal = cpuDelta(cpuStart, cpuOf(m));
  } finally {
    out.exit = await stopMonitor(m);
  }
  return out;
}

function memOf(m) {
  const mem = {};
  for (const [role, pid] of Object.entries(m.procs)) {
    if (!pid || role.includes('kernel')) continue;
    const ring = role === 'fim-loader' ? m.ringbufBytes : 0;
    const p = procMem(pid, ring);
    mem[role] = { hwmKb: p.hwmKb, rssKb: p.rssKb, ringKb: p.ringRssKb, besidesRingKb: p.hwmKb - p.ringRssKb };
  }
  return mem;
}

// The latency run, P.latencyRuns times. The latencies of all runs are taken together; the CPU
// figures are those of the run with the median CPU per event, because one 10 s window on this
// VM can be 20% off either way (a neighbour's build, a descheduled vCPU).
async function latencyRuns(m, d) {
  const runs = [];
  for (let r = 0; r < P.latencyRuns; r++) runs.push(await latencyRun(m, d, r));
  const lat = runs.flatMap((run) => run.lat).sort((a, b) => a - b);
  const sum = (key) => runs.reduce((a, run) => a + run[key], 0);
  const byCpu = [...runs].sort((a, b) => cpuSecondsOf(a) / a.events - cpuSecondsOf(b) / b.events);
  const medianRun = byCpu[(byCpu.length - 1) >> 1];
  return {
    lat,
    matched: sum('matched'),
    missing: sum('missing'),
    ops: sum('ops'),
    ...latencyPercentiles(lat),
    runs: runs.map(({ lat: _, ...run }) => run),
    // What the CPU figures read: the median run's window, events and CPU seconds.
    seconds: medianRun.seconds,
    events: medianRun.events,
    cpu: medianRun.cpu,
  };
}

/** CPU seconds of all of a latency run's monitor processes together. */
function cpuSecondsOf(run) {
  return Object.values(run.cpu).reduce((a, v) => a + v, 0);
}

// One worker at a steady 2,000 ops/s, each op stamped just before its first syscall; the
// monitor's CPU over the same time.
async function latencyRun(m, d, run) {
  plog(`  ${m.id}: latency at ${LATENCY_RATE} ops/s for ${P.latencyMs / 1000} s (run ${run + 1}/${P.latencyRuns})`);
  const nOps = Math.ceil((LATENCY_RATE * P.latencyMs) / 1000) + 100;
  await m.h.fence(d.watched, 60000);
  await m.h.cmd('mark', 'marked');
  await m.h.cmd(`log ${nOps * 3}`, 'logging');
  const stamps = path.join(d.logs, `${m.id}-stamps`);
  const cpu0 = cpuOf(m);
  const w = await workload('mixed', ['--procs', '1', '--ms', String(P.latencyMs), '--rate', String(LATENCY_RATE), '--dir', d.watched, '--tag', `lat${m.id}r${run}`, '--stamps', stamps]);
  const f = await m.h.fence(d.watched, 120000);
  const cpu = cpuDelta(cpu0, cpuOf(m));
  const dump = path.join(d.logs, `${m.id}-latency`);
  await m.h.cmd(`dump ${dump}`, 'dumped');
  await m.h.cmd('log 0', 'logging');
  const L = matchLatency(`${stamps}.0`, readDump(dump));
  const seconds = w.elapsed_ns / 1e9;
  const res = { ...L, ops: w.ops, rate: w.ops_per_s, seconds, events: f.window_events, cpu, fenced: f.ok };
  plog(`  ${m.id}: ${L.matched}/${w.ops} ops matched, p50 ${fmt(L.p50)} µs, p99 ${fmt(L.p99)} µs, max ${fmt(L.max)} µs; ${f.window_events} events; CPU ${Object.entries(cpu).map(([k, v]) => `${k} ${fmt((100 * v) / seconds, 1)}%`).join(', ')}`);
  if (L.missing) {
    findings.add(`${m.id}: paced workload, events missing`, `${L.missing} of ${w.ops} ops stamped at ${LATENCY_RATE} ops/s had no event (fence ok=${f.ok}, window ${JSON.stringify(f.window_by_op)}).`);
  }
  return res;
}

// Short-lived processes with their own uid, login uid, exe and comm each create a file and exit;
// every event about those files must name them exactly.
async function completenessRun(m, d) {
  await m.h.fence(d.watched, 60000);
  await m.h.cmd('mark', 'marked');
  await m.h.cmd(`log ${P.shortlived * 4}`, 'logging');
  const expect = path.join(d.logs, `${m.id}-short`);
  const w = await workload('shortlived', ['--dir', d.short, '--iters', String(P.shortlived), '--exe', d.shortExe, '--uid', String(SHORT_UID), '--auid', String(SHORT_AUID), '--stamps', expect, '--tag', m.id]);
  await m.h.fence(d.watched, 60000);
  const dump = path.join(d.logs, `${m.id}-short-events`);
  await m.h.cmd(`dump ${dump}`, 'dumped');
  await m.h.cmd('log 0', 'logging');
  const byPath = new Map();
  for (const e of readDump(dump)) {
    if (!byPath.has(e.path)) byPath.set(e.path, []);
    byPath.get(e.path).push(e);
  }
  const want = { uid: SHORT_UID, auid: SHORT_AUID, exe: d.shortExe, comm: SHORT_EXE_NAME };
  const wrong = { pid: 0, uid: 0, auid: 0, exe: 0, comm: 0, missing: 0 };
  let complete = 0;
  let files = 0;
  let example = null;
  for (const line of fs.readFileSync(expect, 'utf8').split('\n')) {
    if (!line) continue;
    files++;
    const [pid, file] = [Number(line.slice(0, line.indexOf(' '))), line.slice(line.indexOf(' ') + 1)];
    const evs = byPath.get(file) ?? [];
    if (!evs.length) {
      wrong.missing++;
      continue;
    }
    let ok = true;
    for (const k of ['pid', 'uid', 'auid', 'exe', 'comm']) {
      const bad = evs.some((e) => e[k] !== (k === 'pid' ? pid : want[k]));
      if (bad) {
        wrong[k]++;
        ok = false;
        example ??= { file, want: { pid, ...want }, got: evs[0] };
      }
    }
    if (ok) complete++;
  }
  const r = { files, complete, wrong, ops: w.ops, example };
  plog(`  ${m.id}: whodata of short-lived processes complete for ${complete}/${files} files${complete < files ? ` (wrong: ${JSON.stringify(wrong)})` : ''}`);
  return r;
}

// chmod storms (2 producers) at rising rates; a step is zero-loss when every call came back and
// the monitor reported no loss. Stops once a step loses events or the producers cannot reach the
// rate (the monitor holds them back), after one unpaced step.
async function throughputSteps(m, d) {
  const steps = [];
  const rates = [...P.rates, 0];
  for (let ri = 0; ri < rates.length; ri++) {
    const rate = rates[ri];
    await m.h.fence(d.watched, 120000);
    await m.h.cmd('mark', 'marked');
    const before = await reportedLoss(m, await m.h.cmd('peek', 'peeked'));
    const w = await workload('attrib', ['--procs', '2', '--ms', String(P.stepMs), '--dir', d.watched, '--rate', String(rate), '--catchup-ms', '50', '--tag', `t${m.id}${rate}`], { timeoutMs: 300000 });
    const f = await m.h.fence(d.watched, 120000);
    const delivered = f.window_by_op.attrib;
    const loss = await settleLoss(m, w.ops, delivered, before);
    const span = (f.window_last_ns - f.window_first_ns) / 1e9;
    const step = { target: rate, achieved: w.ops_per_s, ops: w.ops, delivered, missing: w.ops - delivered, loss, span, fenced: f.ok };
    step.rate = span > 0 ? f.window_events / span : NaN;
    step.clean = step.missing === 0 && loss.count === 0 && loss.notes === 0 && f.ok;
    steps.push(step);
    plog(`  ${m.id}: chmod ${rate ? `${rate / 1000}k/s` : 'unpaced'}: produced ${fmt(w.ops_per_s)} ops/s, delivered ${delivered}/${w.ops} (${fmt(step.rate)} ev/s), reported lost ${loss.count}${loss.notes ? ` + ${loss.notes} notes` : ''}`);
    if (ri < rates.length - 1 && (!step.clean || (rate && w.ops_per_s < 0.85 * rate))) {
      if (ri === rates.length - 2) break;
      ri = rates.length - 2; // one unpaced step, then done
    }
  }
  return steps;
}

// The consumer stops reading for a while as 2 producers run flat out: the monitor's buffers fill.
// What matters is how many events are lost and whether the monitor says so. The consumer resumes
// after burstMs even if the producers are still held up (auditd's kernel backlog makes them wait
// up to --backlog_wait_time, 60 s, per syscall once it is full).
async function burstRun(m, d) {
  await m.h.fence(d.watched, 120000);
  await m.h.cmd('mark', 'marked');
  const before = await reportedLoss(m, await m.h.cmd('peek', 'peeked'));
  await m.h.cmd('pause', 'paused');
  const t0 = Date.now();
  const run = workload('attrib', ['--procs', '2', '--ms', String(P.burstMs), '--dir', d.watched, '--tag', `b${m.id}`], { timeoutMs: 300000 });
  try {
    await Promise.race([run, sleep(P.burstMs)]);
  } finally {
    await m.h.cmd('resume', 'resumed');
  }
  const w = await run;
  const f = await m.h.fence(d.watched, 180000);
  const delivered = f.window_by_op.attrib;
  const loss = await settleLoss(m, w.ops, delivered, before);
  const r = { ops: w.ops, rate: w.ops_per_s, seconds: (Date.now() - t0) / 1000, delivered, missing: w.ops - delivered, loss, fenced: f.ok };
  plog(`  ${m.id}: burst with the consumer stalled: ${w.ops} chmods at ${fmt(w.ops_per_s)}/s, delivered ${delivered}, missing ${r.missing}, reported lost ${loss.count}${loss.notes ? ` + ${loss.notes} notes` : ''}`);
  return r;
}

// ---- report ------------------------------------------------------------------------------------

function summarise(res, configs) {
  const clean = cleanSamples(res.samples, configs, disturbed);
  res.used = clean.used;
  res.dropped = clean.dropped;
  res.dirtyConfigs = clean.dirtyConfigs;
  const use = [...clean.used];
  const row = (f) => {
    const v = {};
    for (const c of configs) {
      const xs = use.filter((s) => s.cfg === c).map(f);
      v[c] = { med: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
    }
    for (const c of configs) v[c].ratio = v[c].med / v.none.med;
    return v;
  };
  const mix = row((s) => s.mix.ns_per_op / 1000);
  // A monitor that falls behind and loses events leaves the workload more CPU: its ratio reads
  // better than the work it did, so the loss goes beside the ratio.
  for (const c of configs) mix[c].lost = use.filter((s) => s.cfg === c).reduce((a, s) => a + (s.reportedLost ?? 0), 0);
  return {
    mix,
    file: row((s) => s.file.ns_per_op),
    pipe: row((s) => s.pipe.ns_per_op),
  };
}

const TARGETS = {
  mix: 1.3,
  write: 1.05,
  p99Us: 1000,
  throughput: 100000,
  loaderRssMb: 8,
  supervisorRssMb: 100,
  cpuPct: 5,
};

function bestStep(steps) {
  return (steps ?? []).filter((s) => s.clean).reduce((a, s) => (!a || s.rate > a.rate ? s : a), null);
}

function cpuPct(ph, keys) {
  const L = ph.latency;
  const sec = keys.reduce((a, k) => a + (L.cpu[k] ?? 0), 0);
  return { pct: (100 * sec) / L.seconds, per2000: (sec / L.events) * LATENCY_RATE * 100, sec };
}

function monitorRoles(ph) {
  return Object.keys(ph.procs).filter((k) => !k.includes('kernel'));
}

function peakRss(ph) {
  const out = {};
  for (const role of monitorRoles(ph)) {
    const a = ph.memSteady?.[role];
    const b = ph.memAfterBurst?.[role];
    out[role] = { steady: a, burst: b };
  }
  return out;
}

function lossCell(b, id) {
  if (!b) return 'n/a';
  const said = b.loss.count > 0 ? `${b.loss.count} reported` : b.loss.notes > 0 ? `${b.loss.notes} note(s) on stderr` : 'nothing reported';
  if (b.missing <= 0) return `none lost of ${b.ops}`;
  return `${b.missing} of ${b.ops} lost; ${said}${id === 'inotify' ? ' (no Q_OVERFLOW line)' : ''}`;
}

function buildReport(res, d, configs, date) {
  const S = summarise(res, configs);
  const mons = configs.filter((c) => MONITORS[c].format);
  const ph = Object.fromEntries(res.phase2.map((p) => [p.id, p]));
  const col = (c) => MONITORS[c].label;
  const md = [];
  const dir = opts.dir ? `a new directory under ${path.resolve(opts.dir)}` : 'a private tmpfs';
  md.push(`# fim-whodata and its peers, ${date.slice(0, 10)}${opts.quick ? ' (quick)' : ''}`);
  md.push('');
  md.push(`Machine: ${machineLine()}; workloads in ${dir}.`);
  md.push(`Run: \`make bench${opts.quick ? '-quick' : ''}\` (scripts/bench.mjs${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}) at ${date}, ${fmt(res.seconds)} s; ${P.rounds} overhead rounds alternating ${configs.map(col).join(', ')}; load average ${fmt(res.loadStart, 2)} at start, ${fmt(res.loadEnd, 2)} at end.`);
  md.push('');
  if (res.dirtyConfigs.length) {
    md.push(`**Warning: the overhead medians of ${res.dirtyConfigs.map(col).join(', ')} include disturbed samples**: most of them ran while another session's tracing BPF programs were loaded or a neighbour took CPU. Re-run on a quiet machine.`);
    md.push('');
  }
  md.push('<!-- summary:start -->');
  const head = ['', ...configs.map(col)];
  md.push(`| ${head.join(' | ')} |`);
  md.push(`|${head.map(() => '---').join('|')}|`);
  const lostNote = (v) => (v.lost ? `, ${v.lost} events lost` : '');
  const ovRow = (name, r, unit, digits) => `| ${name} | ${configs.map((c) => `${fmt(r[c].med, digits)} ${unit}${c === 'none' ? '' : ` (**${fmt(r[c].ratio, 2)}x**${lostNote(r[c])})`}`).join(' | ')} |`;
  md.push(ovRow('mixed changes in the watched dir, 2 workers', S.mix, 'µs/op', 2));
  md.push(ovRow('1-byte write(2) to an unwatched file', S.file, 'ns', 0));
  md.push(ovRow('1-byte write(2) to a pipe', S.pipe, 'ns', 0));
  const cell = (c, f) => (ph[c] ? f(ph[c]) : '–');
  md.push(`| latency at ${LATENCY_RATE} ops/s: p50 / p99 / max | ${configs.map((c) => cell(c, (p) => `${fmt(p.latency.p50)} / ${fmt(p.latency.p99)} / ${fmt(p.latency.max)} µs${p.latency.missing ? ` (${p.latency.missing} ops unanswered)` : ''}`)).join(' | ')} |`);
  md.push(`| highest zero-loss rate (chmod, 2 producers) | ${configs.map((c) => cell(c, (p) => { const b = bestStep(p.steps); return b ? `${fmt(b.rate)} ev/s` : 'none'; })).join(' | ')} |`);
  md.push(`| burst, consumer stalled: lost / reported | ${configs.map((c) => cell(c, (p) => lossCell(p.burst, c))).join(' | ')} |`);
  md.push(`| whodata right for short-lived processes | ${configs.map((c) => cell(c, (p) => (p.completeness ? `${p.completeness.complete}/${p.completeness.files} (${fmt((100 * p.completeness.complete) / p.completeness.files, 1)}%)` : 'no whodata'))).join(' | ')} |`);
  md.push(`| CPU at ${LATENCY_RATE} ops/s (% of one core) | ${configs.map((c) => cell(c, (p) => monitorRoles(p).concat(Object.keys(p.procs).filter((k) => k.includes('kernel'))).map((k) => `${k} ${fmt((100 * p.latency.cpu[k]) / p.latency.seconds, 1)}%`).join(', '))).join(' | ')} |`);
  md.push(`| peak RSS (steady / after the burst) | ${configs.map((c) => cell(c, (p) => Object.entries(peakRss(p)).map(([k, v]) => `${k} ${fmt(v.steady?.hwmKb / 1024, 1)} / ${fmt(v.burst?.hwmKb / 1024, 1)} MB${k === 'fim-loader' ? ` (${fmt(v.burst?.besidesRingKb / 1024, 1)} MB besides the ring)` : ''}`).join(', '))).join(' | ')} |`);
  md.push('');
  md.push('Overhead cells: median time per op (ratio to no monitor). The ratios are the result: absolute times drift with the VM.');
  md.push('');

  // targets of issue 4, for fimctl end to end
  const f = ph.fimctl;
  const verdict = (ok) => (ok ? 'met' : '**not met**');
  const t = [];
  if (configs.includes('fimctl')) {
    t.push(['watched-dir workload slowdown', `${fmt(S.mix.fimctl.ratio, 2)}x${lostNote(S.mix.fimctl)}`, `≤ ${TARGETS.mix}x, none lost`, verdict(S.mix.fimctl.ratio <= TARGETS.mix && !S.mix.fimctl.lost)]);
    t.push(['unrelated writes slowdown (file / pipe)', `${fmt(S.file.fimctl.ratio, 2)}x / ${fmt(S.pipe.fimctl.ratio, 2)}x`, `≤ ${TARGETS.write}x`, verdict(S.file.fimctl.ratio <= TARGETS.write && S.pipe.fimctl.ratio <= TARGETS.write)]);
  }
  if (f) {
    const b = bestStep(f.steps);
    const cpu = cpuPct(f, monitorRoles(f));
    const rss = peakRss(f);
    t.push(['p99 latency at 2,000 ops/s', `${fmt(f.latency.p99)} µs`, `< ${TARGETS.p99Us} µs`, verdict(f.latency.p99 < TARGETS.p99Us && f.latency.missing === 0)]);
    t.push(['events/s with zero loss', b ? fmt(b.rate) : 'none', `≥ ${TARGETS.throughput.toLocaleString('en-US')}`, verdict(b && b.rate >= TARGETS.throughput)]);
    t.push(['loss past it reported', lossCell(f.burst, 'fimctl'), 'reported', verdict(f.burst && (f.burst.missing <= 0 || f.burst.loss.count >= f.burst.missing))]);
    t.push(['whodata complete, short-lived processes', `${fmt((100 * f.completeness.complete) / f.completeness.files, 1)}%`, '100%', verdict(f.completeness.complete === f.completeness.files)]);
    const lr = rss['fim-loader'];
    t.push(['loader RSS besides its ring buffer (steady / after the burst)', `${fmt(lr?.steady?.besidesRingKb / 1024, 1)} / ${fmt(lr?.burst?.besidesRingKb / 1024, 1)} MB`, `< ${TARGETS.loaderRssMb} MB`, verdict(lr?.burst?.besidesRingKb / 1024 < TARGETS.loaderRssMb)]);
    const sr = rss['fimctl (node)'];
    t.push(['supervisor RSS (steady / after the burst)', `${fmt(sr?.steady?.hwmKb / 1024, 1)} / ${fmt(sr?.burst?.hwmKb / 1024, 1)} MB`, `< ${TARGETS.supervisorRssMb} MB`, verdict(sr?.burst?.hwmKb / 1024 < TARGETS.supervisorRssMb)]);
    t.push([
      'loader + supervisor CPU at 2,000 events/s',
      `${fmt(cpu.per2000, 1)}% of one core (measured ${fmt(cpu.pct, 1)}% at ${fmt(f.latency.events / f.latency.seconds)} events/s)`,
      `< ${TARGETS.cpuPct}%`,
      verdict(cpu.per2000 < TARGETS.cpuPct),
    ]);
  }
  if (t.length) {
    md.push('Targets of issue 4 (fimctl end to end):');
    md.push('');
    md.push('| target | fimctl | wanted | verdict |');
    md.push('|---|---|---|---|');
    for (const r of t) md.push(`| ${r.join(' | ')} |`);
  }
  md.push('<!-- summary:end -->');
  md.push('');
  md.push(`![latency CDF and overhead](${path.basename(res.svgName)})`);
  md.push('');

  // what each configuration is
  md.push('## What ran');
  md.push('');
  md.push('| configuration | command | consumer |');
  md.push('|---|---|---|');
  md.push('| no monitor | – | – |');
  for (const c of mons) {
    const argv = (ranArgv[c] ?? []).map((a) => (a.startsWith(ROOT) ? path.relative(ROOT, a) : a)).map((a) => (/[\s%']/.test(a) ? `'${a}'` : a));
    const consumer = {
      auditd: `reads the af_unix dispatcher socket (\`builtin_af_unix\`, string format) as Wazuh does; rules \`-b 8192 --backlog_wait_time 60000 -f 1\` (the distribution's defaults) and \`-w DIR -p wa -k ${AUDIT_KEY}\``,
      inotify: 'reads its stdout lines',
      loader: 'reads its NDJSON stdout',
      fimctl: 'reads its JSON stdout (enrichment on, as by default)',
    }[c];
    md.push(`| ${col(c)} | \`${argv.map((a) => a.replace(d.root, '<dir>').replace(d.state, '<state>')).join(' ')}\` | ${consumer} |`);
  }
  if (configs.includes('none+audit')) md.push('| no monitor, audit context | – (the kernel gives every new process an audit context once audit has been enabled since boot, until reboot) | – |');
  md.push('');
  md.push('The consumer is `build/bench/workload harness --format F` (bench/harness.c): it stamps each read with CLOCK_REALTIME and counts events by operation. Workloads: `build/bench/workload` (bench/workload.c); overhead samples of ' + `${P.sampleMs} ms: \`mixed --procs 2 --dir <dir>/watched\`, \`write-storm --procs 2 --file <dir>/unwatched/f\`, \`pipe-storm --procs 2\`; latency: \`mixed --procs 1 --rate ${LATENCY_RATE} --ms ${P.latencyMs} --stamps F\`; throughput: \`attrib --procs 2 --rate R --ms ${P.stepMs}\`; burst: \`attrib --procs 2 --ms ${P.burstMs}\` with the consumer paused; short-lived: \`shortlived --iters ${P.shortlived} --uid ${SHORT_UID} --auid ${SHORT_AUID}\`.`);
  if (audit) md.push(`While the other monitors ran, a \`-a task,never\` audit rule kept their processes free of an audit context, as on a machine that never enabled audit; it, the watch rule and the settings above were removed and audit disabled again after each auditd sample.`);
  md.push('');

  md.push('## Overhead samples');
  md.push('');
  md.push('| config | mixed µs/op: median (min–max) | file write ns | pipe write ns | samples used |');
  md.push('|---|---|---|---|---|');
  for (const c of configs) {
    const r = (x, dg) => `${fmt(x.med, dg)} (${fmt(x.min, dg)}–${fmt(x.max, dg)})`;
    md.push(`| ${col(c)} | ${r(S.mix[c], 2)} | ${r(S.file[c], 0)} | ${r(S.pipe[c], 0)} | ${S.mix[c].n} |`);
  }
  md.push('');
  const deliveries = res.samples.filter((s) => s.fence);
  for (const c of mons) {
    const ds = deliveries.filter((s) => s.cfg === c);
    const ev = ds.reduce((a, s) => a + s.delivered, 0);
    const ops = ds.reduce((a, s) => a + s.mix.ops, 0);
    const expected = MIXED_EVENTS_PER_OP[c]
      ? `; ${MIXED_EVENTS_PER_OP[c]} expected: add, modify, modify, rename, delete per 4 ops; ${ds.reduce((a, s) => a + s.reportedLost, 0)} reported lost`
      : '';
    md.push(`- ${col(c)}: ${ev} events for ${ops} ops in the watched mixed samples (${fmt(ev / ops, 2)} per op${expected}); ready ${fmt(median(res.samples.filter((s) => s.cfg === c).map((s) => s.readyMs)))} ms after start (median).`);
  }
  md.push(`- Disturbed samples (taken again, up to twice, within ${P.retryBudgetS} s in all): other sessions' tracing BPF programs loaded during ${res.samples.filter((s) => s.foreign > 0).length} of ${res.samples.length}; storms descheduled by a neighbour in ${res.samples.filter((s) => s.descheduled).length}; ${res.dropped} left out of the medians${res.dirtyConfigs.length ? `; too many in ${res.dirtyConfigs.map(col).join(', ')} to leave out` : ''}.`);
  md.push('');

  md.push('## Latency, CPU and memory per monitor');
  md.push('');
  md.push(`One worker at ${LATENCY_RATE} ops/s for ${P.latencyMs / 1000} s (mixed create / append / rename / delete, each op stamped before its first syscall), ${P.latencyRuns === 1 ? 'once' : `${P.latencyRuns} times`}; latency = the consumer's read time minus the stamp, matched on (operation, path)${P.latencyRuns === 1 ? '' : ', over the ops of all runs; CPU: the run with the median CPU seconds per event, the others beside it'}.`);
  md.push('');
  md.push('| monitor | matched | p50 µs | p99 µs | p99.9 µs | max µs | events (median run) | CPU seconds in the median run (the others: % of one core) | CPU seconds, whole phase |');
  md.push('|---|---|---|---|---|---|---|---|---|');
  for (const p of res.phase2) {
    const L = p.latency;
    const cpuList = (c) => Object.entries(c).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ');
    const pct = (run) => fmt((100 * cpuSecondsOf(run)) / run.seconds, 1);
    const others = L.runs.filter((run) => run.cpu !== L.cpu).map((run) => `${pct(run)}%`);
    md.push(`| ${col(p.id)} | ${L.matched}/${L.ops} | ${fmt(L.p50)} | ${fmt(L.p99)} | ${fmt(L.p999)} | ${fmt(L.max)} | ${L.events} | ${cpuList(L.cpu)}${others.length ? ` (${pct(L)}%; the others ${others.join(', ')})` : ''} | ${cpuList(p.cpuTotal ?? {})} |`);
  }
  md.push('');
  md.push('auditd reports a write when the file is opened for writing, fim-whodata when it is closed (coalesced), inotify at each write: the modify latencies measure slightly different moments.');
  md.push('');
  md.push('## Throughput steps');
  md.push('');
  md.push(`chmod storms of 2 producers, ${P.stepMs / 1000} s per step. "delivered ev/s" = events read / time from the first to the last of them. A step is zero-loss when every call came back and the monitor reported nothing.`);
  md.push('');
  md.push('| monitor | target ops/s | produced ops/s | delivered / calls | delivered ev/s | reported lost | zero loss |');
  md.push('|---|---|---|---|---|---|---|');
  for (const p of res.phase2) {
    for (const s of p.steps) md.push(`| ${col(p.id)} | ${s.target || 'unpaced'} | ${fmt(s.achieved)} | ${s.delivered} / ${s.ops} | ${fmt(s.rate)} | ${s.loss.count}${s.loss.notes ? ` (+${s.loss.notes} notes)` : ''} | ${s.clean ? 'yes' : 'no'} |`);
  }
  md.push('');
  md.push(`Burst: 2 producers unpaced for ${P.burstMs / 1000} s while the consumer does not read.`);
  md.push('');
  md.push('| monitor | calls | producers ran | produced ops/s | delivered | missing | reported lost | where a loss is reported |');
  md.push('|---|---|---|---|---|---|---|---|');
  const where = {
    auditd: 'the kernel\'s `lost` counter (`auditctl -s`); events its dispatcher drops for the socket are not counted there (auditd tells syslog)',
    inotify: 'a `Q_OVERFLOW` line, if inotifywait printed one',
    loader: 'the `lost` counter of its stats records',
    fimctl: 'a `loss` supervisor record on stdout',
  };
  for (const p of res.phase2) {
    const b = p.burst;
    md.push(`| ${col(p.id)} | ${b.ops} | ${fmt(b.ops / b.rate, 1)} s | ${fmt(b.rate)} | ${b.delivered} | ${b.missing} | ${b.loss.count}${b.loss.notes ? ` (+${b.loss.notes} notes)` : ''} | ${where[p.id]} |`);
  }
  md.push('');
  md.push('## Whodata of short-lived processes');
  md.push('');
  md.push(`${P.shortlived} processes, one after the other, each with uid ${SHORT_UID} and login uid ${SHORT_AUID}, exec \`${SHORT_EXE_NAME}\` (a copy of the workload), create one file and exit. A file counts when every event about it has the right pid, uid, auid, exe and process name.`);
  md.push('');
  md.push('| monitor | right | wrong pid | wrong uid | wrong auid | wrong exe | wrong name | no event |');
  md.push('|---|---|---|---|---|---|---|---|');
  for (const p of res.phase2) {
    const c = p.completeness;
    if (!c) md.push(`| ${col(p.id)} | no whodata | | | | | | |`);
    else md.push(`| ${col(p.id)} | ${c.complete}/${c.files} | ${c.wrong.pid} | ${c.wrong.uid} | ${c.wrong.auid} | ${c.wrong.exe} | ${c.wrong.comm} | ${c.wrong.missing} |`);
  }
  for (const p of res.phase2) if (p.completeness?.example) md.push(`\n${col(p.id)}, first wrong file: wanted ${JSON.stringify(p.completeness.example.want)}, got pid ${p.completeness.example.got.pid} uid ${p.completeness.example.got.uid} auid ${p.completeness.example.got.auid} exe ${p.completeness.example.got.exe} comm ${p.completeness.example.got.comm}.`);
  md.push('');
  md.push('## Peak memory');
  md.push('');
  md.push('| monitor | process | VmHWM steady | VmHWM after the burst | of which ring buffer |');
  md.push('|---|---|---|---|---|');
  for (const p of res.phase2) {
    for (const [role, v] of Object.entries(peakRss(p))) md.push(`| ${col(p.id)} | ${role} | ${fmt(v.steady?.hwmKb / 1024, 1)} MB | ${fmt(v.burst?.hwmKb / 1024, 1)} MB | ${v.burst?.ringKb ? `${fmt(v.burst.ringKb / 1024, 1)} MB` : '–'} |`);
  }
  md.push('');
  if (findings.count) md.push(`${findings.count} finding(s) appended to ${FINDINGS}.\n`);
  md.push('<details><summary>Every overhead sample</summary>');
  md.push('');
  md.push('| round | config | mixed µs/op | file ns | pipe ns | events/ops | load avg | foreign progs | storm CPU share | used |');
  md.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const s of res.samples) {
    md.push(`| ${s.round}${s.attempt ? ` (again)` : ''} | ${col(s.cfg)} | ${fmt(s.mix.ns_per_op / 1000, 2)} | ${fmt(s.file.ns_per_op)} | ${fmt(s.pipe.ns_per_op)} | ${s.fence ? `${s.delivered}/${s.mix.ops}` : ''} | ${fmt(s.loadavg, 2)} | ${s.foreign} | ${fmt(s.cpuShare, 2)} | ${res.used.has(s) ? 'yes' : 'no'} |`);
  }
  md.push('');
  md.push('</details>');
  md.push('');
  return { md: md.join('\n'), S };
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  const date = new Date().toISOString();
  const d = setup();
  let configs = opts.monitors.filter((m) => ALL.includes(m));
  if (configs.includes('auditd')) {
    audit = new AuditControl(d.state);
    const busy = audit.check();
    if (busy) {
      log(`bench: leaving auditd out: ${busy}; a benchmark must not disturb an audit setup in use`);
      audit = null;
      configs = configs.filter((c) => c !== 'auditd');
    } else {
      audit.writeConfig();
      audit.prime();
      configs.push('none+audit');
      log('bench: audit is enabled for auditd\'s samples and disabled again after each; the kernel keeps giving new processes an audit context until reboot (measured as "no monitor, audit context")');
    }
  }
  const res = { samples: [], phase2: [], loadStart: loadavg() };
  res.svgName = (opts.out ?? path.join(ROOT, 'bench/results', `${date.slice(0, 10)}${opts.quick ? '-quick' : ''}.md`)).replace(/\.md$/, '') + '.svg';
  log(`bench: ${opts.quick ? 'quick run' : 'default run'}: ${configs.map((c) => MONITORS[c].label).join(', ')}; workloads in ${d.root}`);
  plog(`bench: overhead, ${P.rounds} rounds`);
  await overheadRounds(d, res, configs);
  for (const id of configs.filter((c) => MONITORS[c].format)) {
    plog(`bench: ${MONITORS[id].label}: latency, whodata, throughput, burst, cost`);
    const p = await monitorPhase(id, d);
    res.phase2.push(p);
  }
  res.loadEnd = loadavg();
  res.seconds = (Date.now() - T0) / 1000;
  const rep = buildReport(res, d, configs, date);
  process.stdout.write(`\n${toText(rep.md)}\n`);
  if (opts.save) {
    const out = opts.out ?? res.svgName.replace(/\.svg$/, '.md');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, rep.md);
    fs.writeFileSync(res.svgName, chartSvg(chartData(res, rep.S, configs, date)));
    log(`bench: wrote ${path.relative(process.cwd(), out)} and ${path.relative(process.cwd(), res.svgName)}`);
    // the README shows the table of the latest full run, never figures typed in by hand
    if (!opts.quick && !opts.out && updateReadme('peers', readmeBlock(path.relative(ROOT, out), summaryOf(rep.md)))) {
      log('bench: updated the README\'s Performance table');
    }
  }
}

function chartData(res, S, configs, date) {
  const mons = configs.filter((c) => MONITORS[c].format);
  return {
    title: `fim-whodata and its peers, ${date.slice(0, 10)}${opts.quick ? ' (quick)' : ''}`,
    latency: res.phase2.map((p) => ({ id: p.id, label: MONITORS[p.id].label, lat: p.latency.lat, p99: p.latency.p99 })),
    latencyRate: LATENCY_RATE,
    overhead: {
      groups: [
        { label: 'mixed changes\nin the watched dir', ratios: Object.fromEntries(mons.map((c) => [c, S.mix[c].ratio])) },
        { label: 'write(2) to an\nunwatched file', ratios: Object.fromEntries(mons.map((c) => [c, S.file[c].ratio])) },
        { label: 'write(2)\nto a pipe', ratios: Object.fromEntries(mons.map((c) => [c, S.pipe[c].ratio])) },
      ],
      monitors: mons.map((c) => ({ id: c, label: MONITORS[c].label })),
    },
  };
}

runMain('bench', main, live, cleanup);
