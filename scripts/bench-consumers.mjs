#!/usr/bin/env node
// What reading fim-loader costs, by kind of reader, at full speed: the watched mixed workload of
// `make bench` (2 workers, unpaced) under each of these, alternated, medians over the rounds:
//
//   none     no monitor
//   cat      fim-loader | cat              the loader and the cheapest possible reader
//   noop     fim-loader read by node as fimctl reads it (a FIFO, `onread`), nothing done with it
//   pass     fim-loader read by node, its output written back as it comes (no parsing)
//   splice   node finding per event, with indexOf, what fimctl needs, and splicing a fragment in
//   parse    fim-loader read by node, each record JSON.parse'd and each event written back
//   fimctl   fimctl start (enrichment, baseline, pipeline), as a user runs it
//
// node runs as SCHED_BATCH in each (as fimctl does, supervisor/src/sched.ts). Output goes to
// /dev/null. Printed per reader: µs per op of the workload and its ratio to none, and the CPU of
// the reader (cat or node) and of the loader per workload op. It tells what fimctl's cost at
// full speed is made of: a node reader as such, or what node does with each record.
//
// With --rate OPS the workload is one worker paced at OPS (1,600 ops/s make 2,000 events/s, the
// rate of issue 4's CPU target), and each reader's CPU and its loader's are printed as % of one
// core: at a moderate rate the cost is wake-ups, and noop and cat are the floors under a node
// supervisor and under any supervisor.
//
//   node scripts/bench-consumers.mjs [--rounds N] [--seconds S] [--rate OPS] [--only LIST]  (root)

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  FIMCTL, LOADER, WORKLOAD, log, sleep, fmt, median, workload, cpuSeconds, childPids, commOf, waitGone, bareConsumerArgv, untilWatching, mountTmpfs,
  unmountTmpfs, cleanupOnSignals, parseFlags, usageExit, runMain,
} from './bench-lib.mjs';

const ALL = ['none', 'cat', 'noop', 'pass', 'splice', 'parse', 'fimctl'];
const USAGE = `usage: bench-consumers.mjs [--rounds N] [--seconds S] [--rate OPS] [--only LIST]
  --rounds N    rounds of all readers, alternated (default 3)
  --seconds S   workload time per run (default 3)
  --rate OPS    one worker paced at OPS ops/s instead of two unpaced; prints CPU % of one core
  --only LIST   comma list of ${ALL.join(',')} (none is always measured, but not with --rate)`;
const o = parseFlags(
  process.argv.slice(2),
  {
    '--rounds': ['rounds', Number],
    '--seconds': ['seconds', Number],
    '--rate': ['rate', Number],
    '--only': ['only', (v) => v.split(',').map((s) => s.trim()).filter(Boolean)],
  },
  { rounds: 3, seconds: 3, rate: null, only: ALL },
  (err) => usageExit('bench-consumers', USAGE, err),
);
for (const r of o.only) if (!ALL.includes(r)) usageExit('bench-consumers', USAGE, `unknown reader ${r}`);
if (o.rate !== null && !(o.rate > 0)) usageExit('bench-consumers', USAGE, '--rate needs a number of ops/s above 0');
// at a paced rate there is no slowdown to compare with none, only the readers' CPU
const readers = [...(o.rate === null ? ['none'] : []), ...o.only.filter((r) => r !== 'none')];
if (process.getuid() !== 0) usageExit('bench-consumers', USAGE, 'must run as root (it loads BPF programs)');
if (!fs.existsSync(WORKLOAD)) usageExit('bench-consumers', USAGE, `${path.relative(process.cwd(), WORKLOAD)} is missing: run \`make bench-tools\` first`);

let dir = null;
let child = null;
const stopChild = () => {
  try {
    if (child) process.kill(-child.pid, 'SIGKILL');
  } catch {}
};
const cleanup = () => {
  stopChild();
  if (dir) unmountTmpfs(dir);
  dir = null;
};
cleanupOnSignals('bench-consumers', cleanup);

function argvOf(reader, watched, state) {
  switch (reader) {
    case 'cat': return ['sh', '-c', `"$0" --path "$1" | cat`, LOADER, watched];
    case 'noop': return bareConsumerArgv(watched, '--noop');
    case 'pass': return bareConsumerArgv(watched, '--pass');
    case 'splice': return bareConsumerArgv(watched, '--splice');
    case 'parse': return bareConsumerArgv(watched);
    case 'fimctl': return [FIMCTL, 'start', watched, '--state-dir', state];
  }
  throw new Error(`unknown reader ${reader}`);
}

// Starts a reader in its own process group, stdout to /dev/null; resolves once its loader has
// attached (its "watching" line on stderr) and settled.
async function startReader(reader, watched, state, stderrFile) {
  const [cmd, ...args] = argvOf(reader, watched, state);
  const out = fs.openSync('/dev/null', 'w');
  const err = fs.openSync(stderrFile, 'w');
  child = spawn(cmd, args, { stdio: ['pipe', out, err], detached: true });
  fs.closeSync(out);
  fs.closeSync(err);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await untilWatching(child, stderrFile, reader);
  await sleep(1000);
  const pids = [child.pid, ...childPids(child.pid)];
  const loader = pids.concat(...pids.map(childPids)).find((p) => commOf(p) === 'fim-loader');
  const readerPid = pids.find((p) => ['node', 'fimctl', 'cat'].includes(commOf(p)));
  return { exited, loader, readerPid };
}

async function stopReader(r) {
  process.kill(-child.pid, 'SIGINT');
  const killer = setTimeout(stopChild, 15000);
  await r.exited;
  clearTimeout(killer);
  child = null;
  if (r.loader) await waitGone(r.loader);
}

async function main() {
  dir = mountTmpfs('/tmp', 'fim-bench-consumers.');
  const paced = o.rate !== null;
  const workloadArgs = paced ? ['--procs', '1', '--rate', String(o.rate)] : ['--procs', '2'];
  const samples = Object.fromEntries(readers.map((r) => [r, []]));
  for (let round = 1; round <= o.rounds; round++) {
    for (const reader of readers) {
      const watched = path.join(dir, `w-${reader}-${round}`);
      fs.mkdirSync(watched);
      const r = reader === 'none' ? null : await startReader(reader, watched, path.join(dir, `state-${reader}-${round}`), path.join(dir, `${reader}.stderr`));
      const cpu = () => [r?.readerPid, r?.loader].map((p) => (p ? cpuSeconds(p) : 0));
      const c0 = cpu();
      const w = await workload('mixed', [...workloadArgs, '--ms', String(o.seconds * 1000), '--dir', watched]);
      // unpaced, the reader's tail of the stream is its cost too; paced, there is none
      if (!paced) await sleep(500);
      const c1 = cpu();
      if (r) await stopReader(r);
      fs.rmSync(watched, { recursive: true, force: true });
      const perOp = (i) => ((c1[i] - c0[i]) * 1e6) / w.ops;
      const share = (i) => (100 * (c1[i] - c0[i])) / (w.elapsed_ns / 1e9);
      samples[reader].push({ nsPerOp: w.ns_per_op, opsPerS: w.ops_per_s, readerUsPerOp: perOp(0), loaderUsPerOp: perOp(1), readerShare: share(0), loaderShare: share(1) });
      if (paced) log(`round ${round} ${reader.padEnd(6)} ${fmt(w.ops_per_s)} ops/s, reader ${fmt(share(0), 1)}%, loader ${fmt(share(1), 1)}%`);
      else log(`round ${round} ${reader.padEnd(6)} ${fmt(w.ns_per_op)} ns/op${r ? `, reader ${fmt(perOp(0), 2)} µs/op, loader ${fmt(perOp(1), 2)} µs/op` : ''}`);
    }
  }
  const m = (reader, key) => median(samples[reader].map((s) => s[key]));
  if (paced) {
    console.log('| reader | ops/s | reader CPU % | loader CPU % | together % |');
    console.log('|---|---|---|---|---|');
    for (const reader of readers) {
      const together = median(samples[reader].map((s) => s.readerShare + s.loaderShare));
      console.log(`| ${reader} | ${fmt(m(reader, 'opsPerS'))} | ${fmt(m(reader, 'readerShare'), 1)} | ${fmt(m(reader, 'loaderShare'), 1)} | ${fmt(together, 1)} |`);
    }
    return;
  }
  const none = m('none', 'nsPerOp');
  console.log('| reader | µs/op | vs none | reader CPU µs/op | loader CPU µs/op |');
  console.log('|---|---|---|---|---|');
  for (const reader of readers) {
    const cells = reader === 'none' ? ['', ''] : [fmt(m(reader, 'readerUsPerOp'), 2), fmt(m(reader, 'loaderUsPerOp'), 2)];
    console.log(`| ${reader} | ${fmt(m(reader, 'nsPerOp') / 1000, 2)} | ${fmt(m(reader, 'nsPerOp') / none, 2)}x | ${cells.join(' | ')} |`);
  }
}

runMain('bench-consumers', main, [], cleanup);
