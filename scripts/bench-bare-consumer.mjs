#!/usr/bin/env node
// The least a node consumer of fim-loader does: read its stdout, parse each record, write each
// event back as one JSON line. No pipeline, no enrichment, no baseline. scripts/bench-fimctl.mjs
// --bare runs it in fimctl's place (as SCHED_BATCH, like fimctl), so that fimctl's CPU at a
// moderate rate can be told apart from what node itself costs per wake-up.
//
// Three more modes, for scripts/bench-consumers.mjs: --pass parses nothing, it writes back what it
// reads as it comes; --splice parses nothing either, but does per event what fimctl must: finds
// the path (a baseline would note it) and the process part of the line (`"pid":` to
// `,"syscall"`, which the loader writes alike for a process's events) with indexOf, keeps a
// fragment per process part (what an enrichment adds), and writes the line with the fragment
// spliced in and `process_start_ns` cut off; --noop reads the loader's stdout with fimctl's own
// reader (openStdoutChannel() of supervisor/src/loader-process.ts: a FIFO read through a
// socket's `onread` buffer) and does nothing with it, writes nothing: what any node reader costs
// per wake-up.
//
//   node scripts/bench-bare-consumer.mjs [--pass | --splice | --noop] DIR
//                                       (root; stops on SIGINT/SIGTERM or stdin EOF)

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { LOADER } from './bench-lib.mjs';

const mode = ['--pass', '--splice', '--noop'].includes(process.argv[2]) ? process.argv[2] : '--parse';
const dir = process.argv[mode === '--parse' ? 2 : 3];
if (!dir) {
  process.stderr.write('usage: bench-bare-consumer.mjs [--pass | --splice | --noop] DIR\n');
  process.exit(2);
}

// --noop: fimctl's own reader of the loader's stdout (`make` builds it into dist/), bytes dropped.
const channel = mode === '--noop'
  ? (await import('../dist/supervisor/src/loader-process.js')).openStdoutChannel(os.tmpdir(), () => {})
  : null;
const loader = spawn(LOADER, ['--path', dir], { stdio: ['pipe', channel ? channel.option : 'pipe', 'inherit'] });
let pending = '';
const parseAndWrite = (chunk) => {
  const lines = (pending + chunk).split('\n');
  pending = lines.pop();
  let out = '';
  for (const line of lines) {
    const record = JSON.parse(line);
    if (record.type !== 'event') continue;
    delete record.type; // as fimctl writes events
    out += `${JSON.stringify(record)}\n`;
  }
  if (out) fs.writeSync(1, out);
};
const fragments = new Map();
const paths = new Map();
const spliceAndWrite = (chunk) => {
  const text = pending + chunk;
  let out = '';
  let start = 0;
  for (let end = text.indexOf('\n'); end !== -1; start = end + 1, end = text.indexOf('\n', start)) {
    if (!text.startsWith('{"type":"event"', start)) continue;
    const line = text.slice(start, end);
    const pathAt = line.indexOf(',"path":"') + 9;
    paths.set(line.slice(pathAt, line.indexOf('"', pathAt)), start);
    if (paths.size > 100000) paths.clear();
    const who = line.slice(line.indexOf(',"pid":'), line.indexOf(',"syscall":'));
    let fragment = fragments.get(who);
    if (fragment === undefined) {
      fragment = `,"cmdline":"cmd ${fragments.size}","cwd":"/","container_id":null,"parent_name":"sh","user_name":"root","group_name":"root","login_user":null,"host":"h"`;
      fragments.set(who, fragment);
    }
    out += `{${line.slice(16, line.lastIndexOf(',"process_start_ns":'))}${fragment}}\n`;
  }
  pending = text.slice(start);
  if (out) fs.writeSync(1, out);
};
if (channel) {
  channel.afterSpawn();
  if (!channel.reader) loader.stdout.on('data', () => {}); // no FIFO: fimctl reads the pipe then
} else if (mode === '--pass') loader.stdout.on('data', (chunk) => fs.writeSync(1, chunk));
else loader.stdout.setEncoding('utf8').on('data', mode === '--splice' ? spliceAndWrite : parseAndWrite);
loader.on('exit', (code) => process.exit(code ?? 1));
const stop = () => loader.stdin.end();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.stdin.on('end', stop).resume();
