#!/usr/bin/env node
// Where the sensor's BPF programs spend their time, by source line: the tool for work on the
// kernel's hot path (bpf_stats says how long each program runs, not where).
//
// fim-loader watches a directory in a private tmpfs; `perf record -a` samples every CPU while
// `workload mixed --procs 2` (the watched mixed workload of `make bench-loader`) runs there; the
// samples that fall in the loader's programs are mapped to source lines through the JIT addresses
// the kernel keeps for each line (build/bench/bpf-lines). Printed: the share of all samples in
// BPF programs (their own code, not the helpers they call), the samples per program, and the
// hottest lines. A line's samples are those of the instructions up to the next line's start, so
// the cost of a load that misses the cache shows on the line that uses its value.
//
//   node scripts/bpf-line-profile.mjs [--seconds S] [--lines N] [--unwatched]
//                                     (root, perf from apt's linux-perf; `make bpf-line-profile`)
// --unwatched runs the workload in a sibling directory the loader does not watch.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  ROOT, LOADER, WORKLOAD, log, sleep, fmt, run, progIdsOf, untilWatching, mountTmpfs, unmountTmpfs, cleanupOnSignals, parseFlags, usageExit, runMain,
} from './bench-lib.mjs';

const BPF_LINES = path.join(ROOT, 'build/bench/bpf-lines');
const USAGE = `usage: bpf-line-profile.mjs [--seconds S] [--lines N] [--unwatched]
  --seconds S   workload time (default 4)
  --lines N     hottest source lines printed (default 30)
  --unwatched   run the workload where the loader does not watch`;
const o = parseFlags(
  process.argv.slice(2),
  { '--seconds': ['seconds', Number], '--lines': ['lines', Number], '--unwatched': ['unwatched'] },
  { seconds: 4, lines: 30, unwatched: false },
  (err) => usageExit('bpf-line-profile', USAGE, err),
);
if (!(o.seconds > 0) || !(o.lines > 0)) usageExit('bpf-line-profile', USAGE, '--seconds and --lines need numbers above 0');
if (process.getuid() !== 0) usageExit('bpf-line-profile', USAGE, 'must run as root (it loads BPF programs and samples every CPU)');
for (const f of [LOADER, WORKLOAD, BPF_LINES]) {
  if (!fs.existsSync(f)) usageExit('bpf-line-profile', USAGE, `${path.relative(process.cwd(), f)} is missing: run \`make bpf-line-profile\``);
}
try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  usageExit('bpf-line-profile', USAGE, 'perf is missing: apt-get install linux-perf');
}

let dir = null;
let loader = null;
const cleanup = () => {
  try {
    loader?.kill('SIGKILL');
  } catch {}
  if (dir) unmountTmpfs(dir);
  dir = null;
};
cleanupOnSignals('bpf-line-profile', cleanup);

// Sorted line starts; a sample belongs to the last line starting at or before it.
function lineOf(lines, address) {
  let lo = 0;
  let hi = lines.length - 1;
  if (hi < 0 || address < lines[0].address) return null;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lines[mid].address <= address) lo = mid;
    else hi = mid - 1;
  }
  return lines[lo];
}

async function main() {
  dir = mountTmpfs('/tmp', 'fim-bpf-line-profile.');
  const watched = path.join(dir, 'watched');
  const workDir = o.unwatched ? path.join(dir, 'unwatched') : watched;
  fs.mkdirSync(watched);
  fs.mkdirSync(workDir, { recursive: true });
  const stderrFile = path.join(dir, 'loader.stderr');
  const out = fs.openSync('/dev/null', 'w');
  const err = fs.openSync(stderrFile, 'w');
  loader = spawn(LOADER, ['--path', watched], { stdio: ['pipe', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  const exited = new Promise((resolve) => loader.once('exit', resolve));
  await untilWatching(loader, stderrFile, 'fim-loader');
  await sleep(500);

  const perfData = path.join(dir, 'perf.data');
  log(`bpf-line-profile: workload mixed, 2 workers, ${o.seconds} s in the ${o.unwatched ? 'unwatched' : 'watched'} directory, perf on every CPU`);
  await run('perf', ['record', '-a', '-e', 'cpu-clock', '-F', '9999', '-o', perfData, '--', WORKLOAD, 'mixed', '--procs', '2', '--ms', String(o.seconds * 1000), '--dir', workDir], { timeoutMs: (o.seconds + 60) * 1000 });
  // The programs' line tables, read while the loader still holds them.
  const ids = [...progIdsOf(loader.pid)];
  if (!ids.length) throw new Error('found no BPF program of the loader');
  const lines = (await run(BPF_LINES, ids.map(String)))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [address, program, where, text] = l.split('\t');
      return { address: BigInt(`0x${address}`), program, where, text };
    })
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  loader.stdin.end();
  await exited;
  loader = null;

  const script = await new Promise((resolve, reject) => {
    const chunks = [];
    const p = spawn('perf', ['script', '-i', perfData, '-F', 'ip,sym', '-G'], { stdio: ['ignore', 'pipe', 'ignore'] });
    p.stdout.on('data', (c) => chunks.push(c));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`perf script exited with ${code}`))));
  });
  let total = 0;
  let inBpf = 0;
  const byProgram = new Map();
  const byLine = new Map();
  for (const row of script.split('\n')) {
    const m = row.match(/^\s*([0-9a-f]+)\s+(\S+)/);
    if (!m) continue;
    total++;
    if (!m[2].startsWith('bpf_prog_')) continue;
    inBpf++;
    const program = m[2].replace(/^bpf_prog_[0-9a-f]+_/, '');
    byProgram.set(program, (byProgram.get(program) ?? 0) + 1);
    const line = lineOf(lines, BigInt(`0x${m[1]}`));
    const key = line ? `${line.where}\t${line.text}` : '(no line info)\t';
    byLine.set(key, (byLine.get(key) ?? 0) + 1);
  }
  if (!inBpf) throw new Error(`no sample of ${total} fell in a BPF program`);
  const pct = (n, of) => `${fmt((100 * n) / of, 1)}%`;
  console.log(`${inBpf} of ${total} samples in the loader's BPF programs' own code (${pct(inBpf, total)}; helpers and the ring buffer's functions not counted)\n`);
  console.log('| program | samples | share of BPF |');
  console.log('|---|---|---|');
  for (const [program, n] of [...byProgram].sort((a, b) => b[1] - a[1])) console.log(`| ${program} | ${n} | ${pct(n, inBpf)} |`);
  console.log('\n| line | samples | share of BPF | source |');
  console.log('|---|---|---|---|');
  for (const [key, n] of [...byLine].sort((a, b) => b[1] - a[1]).slice(0, o.lines)) {
    const [where, text] = key.split('\t');
    console.log(`| ${where} | ${n} | ${pct(n, inBpf)} | \`${text.replaceAll('|', '\\|').slice(0, 100)}\` |`);
  }
}

runMain('bpf-line-profile', main, [], cleanup);
