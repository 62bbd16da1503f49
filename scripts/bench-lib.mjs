// What the benchmark scripts share: statistics, running the C workload, the harness that reads a
// monitor's events (build/bench/workload harness, bench/harness.c), the machine checks that tell
// a disturbed sample, /proc accounting, a private tmpfs, and the report helpers.
// Used by scripts/bench-loader.mjs (`make bench-loader`) and scripts/bench.mjs (`make bench`).

import { spawn, execFile, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LOADER = path.join(ROOT, 'build/fim-loader');
export const EMPTY = path.join(ROOT, 'build/bench/empty-loader');
export const WORKLOAD = path.join(ROOT, 'build/bench/workload');
export const FIMCTL = path.join(ROOT, 'bin/fimctl');

export const log = (...a) => process.stderr.write(`${a.join(' ')}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- command line ----------------------------------------------------------------------------

// spec: { '--rounds': ['rounds', Number], '--quick': ['quick'], '--no-save': ['save', false] }: a
// flag whose second element is a function takes a value and stores what it returns; the others
// store their constant (true when none is given). usage(err) never returns.
export function parseFlags(argv, spec, defaults, usage) {
  const o = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') usage();
    if (!Object.hasOwn(spec, a)) usage(`unknown option ${a}`);
    const [key, value = true] = spec[a];
    if (typeof value !== 'function') o[key] = value;
    else if (i + 1 >= argv.length) usage(`${a} needs a value`);
    else o[key] = value(argv[++i]);
  }
  return o;
}

export function usageExit(name, text, err) {
  if (err) {
    process.stderr.write(`${name}: error: ${err} (--help lists the options)\n`);
    process.exit(2);
  }
  process.stdout.write(`${text}\n`);
  process.exit(0);
}

// ---- statistics --------------------------------------------------------------------------------

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function fmt(x, digits = 0) {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

// ---- processes ---------------------------------------------------------------------------------

export function run(cmd, args, { timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${stderr}`;
        reject(err);
      } else resolve(stdout);
    });
  });
}

// One generator run of build/bench/workload; its last stdout line is its JSON result.
export async function workload(mode, args, { verbose = false, timeoutMs } = {}) {
  const out = await run(WORKLOAD, [mode, ...args], { timeoutMs });
  const r = JSON.parse(out.trim().split('\n').pop());
  if (verbose) log(`    ${mode} ${args.join(' ')} -> ${fmt(r.ns_per_op)} ns/op, ${r.ops} ops`);
  return r;
}

// utime + stime of a process, in seconds (clock ticks are 1/100 s on Linux)
export function cpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return NaN;
  }
}

export function childPids(pid) {
  const kids = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const c = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (c) kids.push(...c.split(' ').map(Number));
    }
  } catch {}
  return kids;
}

// Whether a process is gone: exited and reaped, or a zombie (which holds nothing any more).
function isGone(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return true;
  }
}

// A monitor's loader outlives it by the second or two the kernel takes to detach its hooks
// (fimctl does not wait for that): the next sample must not run while they are still attached.
export async function waitGone(pid, timeoutMs = 15000) {
  for (const t0 = Date.now(); !isGone(pid) && Date.now() - t0 < timeoutMs;) await sleep(50);
}

// Resolves once a loader started as `child` (itself, or a reader that runs it) has attached its
// hooks: its "watching" line in stderrFile. Fails with its last words if it exits or takes a minute.
export async function untilWatching(child, stderrFile, label) {
  for (let waited = 0; !fs.readFileSync(stderrFile, 'utf8').includes('watching '); waited += 100) {
    if (waited > 60000 || child.exitCode !== null) throw new Error(`${label} did not start: ${fs.readFileSync(stderrFile, 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
    await sleep(100);
  }
}

// The bare consumer (bench-bare-consumer.mjs) of a loader watching dir, as SCHED_BATCH like
// fimctl; mode '--pass', '--splice' or '--noop', or none for parsing each record.
export function bareConsumerArgv(dir, mode) {
  return ['chrt', '--batch', '0', process.execPath, path.join(ROOT, 'scripts/bench-bare-consumer.mjs'), ...(mode ? [mode] : []), dir];
}

export function commOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

// VmRSS and VmHWM of a process, and how much of its RSS is BPF ring buffer: the mapping of an
// anon_inode:bpf-map at least ringbufBytes long (its data pages are mapped twice, so a 16 MiB
// ring shows as 32 MiB of RSS once touched).
export function procMem(pid, ringbufBytes = 0) {
  const m = { rssKb: NaN, hwmKb: NaN, ringRssKb: 0 };
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    m.rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(st)?.[1]);
    m.hwmKb = Number(/^VmHWM:\s+(\d+)/m.exec(st)?.[1]);
  } catch {
    return m;
  }
  if (!ringbufBytes) return m;
  try {
    let ring = false;
    for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      const h = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
      if (h) {
        ring = line.includes('bpf-map') && (parseInt(h[2], 16) - parseInt(h[1], 16)) >= ringbufBytes;
        continue;
      }
      const r = ring && /^Rss:\s+(\d+)/.exec(line);
      if (r) m.ringRssKb += Number(r[1]);
    }
  } catch {}
  return m;
}

// ---- a shared machine --------------------------------------------------------------------------

// Every program seen as one of ours (progIdsOf). Our loaders' programs outlive them by about
// 2 s: the kernel frees a released program after a grace period, and bpftool lists it until
// then, detached. Taken for someone else's, they held up the next sample with a wait for
// "tracing BPF programs from elsewhere".
const ourProgIds = new Set();

// Programs that hook syscalls or tasks, loaded by anyone but us: with any present, "no BPF" is
// not that, and every configuration pays for someone else's programs too.
export function foreignProgs(own = new Set()) {
  try {
    const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    return progs.filter((p) => ['tracepoint', 'raw_tracepoint', 'tracing', 'kprobe', 'perf_event'].includes(p.type) && !own.has(p.id) && !ourProgIds.has(p.id)).length;
  } catch {
    return NaN;
  }
}

// A loader's programs are those its fds (programs and links) refer to: fdinfo names them.
export function progIdsOf(pid) {
  const ids = new Set();
  const dir = `/proc/${pid}/fdinfo`;
  try {
    for (const f of fs.readdirSync(dir)) {
      try {
        const m = fs.readFileSync(path.join(dir, f), 'utf8').match(/^prog_id:\s*(\d+)/m);
        if (m) ids.add(Number(m[1]));
      } catch {}
    }
  } catch {}
  for (const id of ids) ourProgIds.add(id);
  return ids;
}

export function loadavg() {
  return os.loadavg()[0];
}

// Another session's sensor on the machine would put every syscall on the tracing slow path and
// make "no monitor" no baseline at all. Waits for it to go away, within a budget for the whole run.
export class QuietWaiter {
  constructor(budgetSeconds) {
    this.budgetMs = budgetSeconds * 1000;
  }

  async wait() {
    let n = foreignProgs();
    if (!(n > 0) || this.budgetMs <= 0) return n;
    const t0 = Date.now();
    log(`  ${n} tracing BPF programs from elsewhere are loaded; waiting up to ${(this.budgetMs / 1000).toFixed(0)} s for them to go`);
    while (n > 0 && Date.now() - t0 < this.budgetMs) {
      await sleep(500);
      n = foreignProgs();
    }
    this.budgetMs = Math.max(0, this.budgetMs - (Date.now() - t0));
    return n;
  }
}

// Samples taken while someone else's tracing programs were loaded, or while a neighbour took CPU
// from the storms, are left out per configuration, as long as half of its samples remain.
export function cleanSamples(samples, configs, isDirty) {
  const use = [];
  let dropped = 0;
  const dirtyConfigs = [];
  for (const c of configs) {
    const all = samples.filter((s) => s.cfg === c);
    const clean = all.filter((s) => !isDirty(s));
    if (clean.length >= Math.ceil(all.length / 2)) {
      use.push(...clean);
      dropped += all.length - clean.length;
    } else {
      use.push(...all);
      if (clean.length < all.length) dirtyConfigs.push(c);
    }
  }
  return { used: new Set(use), dropped, dirtyConfigs };
}

// ---- findings ----------------------------------------------------------------------------------

export class Findings {
  constructor(file, title) {
    this.file = file;
    this.title = title;
    this.count = 0;
  }

  add(title, body) {
    this.count++;
    const head = fs.existsSync(this.file) ? '' : `# ${this.title}\n\nWritten by the benchmark scripts as they run; newest last.\n`;
    fs.appendFileSync(this.file, `${head}\n## ${new Date().toISOString()} ${title}\n\n${body.trim()}\n`);
    log(`  ! finding: ${title} (appended to ${this.file})`);
  }
}

// ---- the harness: one monitor read by build/bench/workload harness -----------------------------

// format: how the monitor prints events (loader, fimctl, inotify, audit; bench/formats.h);
// connect: a unix socket to read them from instead of the monitor's stdout (auditd).
export class Harness {
  constructor(label, argv, stderrFile, { format = 'loader', connect = null } = {}) {
    this.label = label;
    this.waiters = [];
    this.exited = null;
    const err = fs.openSync(stderrFile, 'a');
    const opts = ['--format', format, ...(connect ? ['--connect', connect] : [])];
    this.child = spawn(WORKLOAD, ['harness', ...opts, '--', ...argv], { stdio: ['pipe', 'pipe', err] });
    fs.closeSync(err);
    this.stderrFile = stderrFile;
    createInterface({ input: this.child.stdout }).on('line', (line) => this.onLine(line));
    this.child.on('exit', (code) => {
      this.dead = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${label}: harness exited (${code}); see ${stderrFile}`));
    });
  }

  onLine(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      log(`  ${this.label}: unparsable harness line: ${line.slice(0, 200)}`);
      return;
    }
    if (msg.type === 'exited') this.exited = msg;
    const i = this.waiters.findIndex((w) => w.types.includes(msg.type));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(msg);
    else if (msg.type === 'exited' && msg.unexpected) {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.label}: monitor exited with ${msg.code}; see ${this.stderrFile}`));
    }
  }

  wait(types, timeoutMs) {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(new Error(`${this.label}: harness is gone; see ${this.stderrFile}`));
      const w = { types, resolve, reject };
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`${this.label}: no ${types.join('/')} reply in ${timeoutMs} ms; see ${this.stderrFile}`));
      }, timeoutMs);
      w.resolve = (m) => {
        clearTimeout(t);
        resolve(m);
      };
      w.reject = (e) => {
        clearTimeout(t);
        reject(e);
      };
      this.waiters.push(w);
    });
  }

  // one command at a time: replies are matched by type, and only one of each is ever pending
  async cmd(line, type, timeoutMs = 30000) {
    const p = this.wait([type, 'error'], timeoutMs);
    this.child.stdin.write(`${line}\n`);
    const m = await p;
    if (m.type === 'error') throw new Error(`${this.label}: ${line}: ${m.message}`);
    return m;
  }

  // Waits until a change made now has come through: everything made before it has, too.
  fence(dir, timeoutMs) {
    return this.cmd(`fence ${dir} ${timeoutMs}`, 'fenced', timeoutMs + 5000);
  }

  async start(timeoutMs = 120000) {
    const t0 = Date.now();
    this.ready = await this.wait(['ready'], timeoutMs);
    this.loadMs = Date.now() - t0;
    return this.ready;
  }

  async quit() {
    if (this.dead) return this.exited;
    const m = await this.cmd('quit', 'exited', 30000).catch(() => null);
    await new Promise((r) => (this.dead ? r() : this.child.once('exit', r)));
    return m;
  }

  kill() {
    if (!this.dead) this.child.kill('SIGTERM');
  }
}

// The harness's dump (bench/harness.c): one event per line, tab-separated.
export function readDump(file) {
  const out = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const [recv, kern, op, pid, uid, auid, comm, exe, ...p] = line.split('\t');
    out.push({ recv: BigInt(recv), kern: BigInt(kern), op, pid: Number(pid), uid: Number(uid), auid: Number(auid), comm, exe, path: p.join('\t') });
  }
  return out;
}

/** p50, p99, p99.9 and max of latencies sorted in ascending order. */
export function latencyPercentiles(sorted) {
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted[sorted.length - 1] };
}

// Latency of each stamped op (workload --stamps: "realtime_ns operation path") to the event that
// answers it, in µs, sorted. A created file yields `modify` twice with our sensor (at the create's
// close and at the append's close): the append is the op stamped as `modify`, and its event is the
// later one, so the last event per (operation, path) answers the stamp.
export function matchLatency(stampFile, events) {
  const sent = new Map();
  for (const line of fs.readFileSync(stampFile, 'utf8').split('\n')) {
    if (!line) continue;
    const [t, op, p] = line.split(' ');
    sent.set(`${op} ${p}`, BigInt(t));
  }
  const got = new Map();
  for (const e of events) got.set(`${e.op} ${e.path}`, e);
  const lat = [];
  const k2r = [];
  for (const [key, t] of [...sent]) {
    const g = got.get(key);
    if (!g) continue;
    sent.delete(key);
    lat.push(Number(g.recv - t) / 1000);
    if (g.kern > 0n) k2r.push(Number(g.recv - g.kern) / 1000);
  }
  lat.sort((a, b) => a - b);
  k2r.sort((a, b) => a - b);
  return {
    lat,
    matched: lat.length,
    missing: sent.size,
    ...latencyPercentiles(lat),
    k2rP50: percentile(k2r, 50),
    k2rP99: percentile(k2r, 99),
  };
}

// ---- a private tmpfs ---------------------------------------------------------------------------

// The figures are about the monitors, not the disk, and a tmpfs leaves nothing behind once
// unmounted.
export function mountTmpfs(parent, prefix) {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512m,mode=0755', 'fim-bench', dir]);
  return dir;
}

export function unmountTmpfs(dir) {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {}
  }
  try {
    fs.rmdirSync(dir);
  } catch {}
}

// Runs cleanup (synchronous) on SIGINT, SIGTERM and SIGHUP, then exits 130.
export function cleanupOnSignals(name, cleanup) {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      log(`${name}: ${sig}, cleaning up`);
      cleanup();
      process.exit(130);
    });
  }
}

// Runs a benchmark's main: an error is one line, followed by the monitors' own last words (read
// before cleanup removes the tmpfs that holds them); cleanup runs whatever happened.
export function runMain(name, main, live, cleanup) {
  main()
    .catch((e) => {
      log(`${name}: error: ${e.message}`);
      for (const h of live) {
        try {
          const tail = fs.readFileSync(h.stderrFile, 'utf8').trim().split('\n').slice(-5).join('\n');
          if (tail) log(`--- ${h.label} stderr (last lines):\n${tail}`);
        } catch {}
      }
      process.exitCode = 1;
    })
    .finally(cleanup);
}

// ---- reports -----------------------------------------------------------------------------------

export function machineLine() {
  return `${os.type()} ${os.release()}, ${os.cpus().length} vCPU (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
}

// A plain-text rendering of the markdown tables for the terminal.
export function toText(md) {
  const out = [];
  let table = [];
  const flush = () => {
    if (!table.length) return;
    const cells = table.filter((r) => !/^\|[-|]+\|$/.test(r)).map((r) => r.slice(1, -1).split(' | ').map((c) => c.trim()));
    const w = [];
    for (const r of cells) r.forEach((c, i) => (w[i] = Math.max(w[i] || 0, [...c].length)));
    cells.forEach((r, j) => {
      out.push(r.map((c, i) => c + ' '.repeat(w[i] - [...c].length)).join('  '));
      if (j === 0) out.push(w.map((n) => '-'.repeat(n)).join('  '));
    });
    table = [];
  };
  for (const line of md.split('\n')) {
    if (line.startsWith('<')) continue;
    if (line.startsWith('|')) table.push(line);
    else {
      flush();
      out.push(line.replace(/\*\*/g, '').replace(/`/g, ''));
    }
  }
  flush();
  return out.join('\n');
}

// A report marks the part the README shows with <!-- summary:start --> / <!-- summary:end -->;
// the README holds it between <!-- bench:NAME:start --> and <!-- bench:NAME:end -->, so the
// README's figures are always those of a report, never typed in.
export function summaryOf(md) {
  const m = /<!-- summary:start -->\n([\s\S]*?)<!-- summary:end -->/.exec(md);
  return m ? m[1] : null;
}

// What the README shows of a report: where it comes from, its summary, and its chart if it has one.
export function readmeBlock(reportRel, summary) {
  const svg = reportRel.replace(/\.md$/, '.svg');
  const chart = fs.existsSync(path.join(ROOT, svg)) ? `\n![latency CDF and overhead](${svg})\n` : '';
  return `From [${reportRel}](${reportRel}):\n\n${summary}${chart}`;
}

export function updateReadme(name, body, readme = path.join(ROOT, 'README.md')) {
  const text = fs.readFileSync(readme, 'utf8');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return false;
  fs.writeFileSync(readme, `${text.slice(0, i + start.length)}\n${body}${text.slice(j)}`);
  return true;
}

// Whether a run delivered the `modify` records it should: `want` closes of a written file, each
// one `modify` at close. The periodic check (syscall "check", every --coalesce-ms) may find such a
// file changed while still open; its `modify` then stands in for the close's (nothing written
// after the check, so the close has nothing to report) or comes on top of it (written again).
// So the total lies between want and want + byCheck; a close that lost its modify with no check
// to cover it falls below. Counts only: a loss exactly offset by a check's extra on another
// file of the same run would pass.
export function modifiesOk(want, total, byCheck) {
  return want <= total && total <= want + byCheck;
}
