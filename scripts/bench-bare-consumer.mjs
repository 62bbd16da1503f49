#!/usr/bin/env node
// The least a node consumer of fim-loader does: read its stdout, parse each record, write each
// event back as one JSON line. No pipeline, no enrichment, no baseline. scripts/bench-fimctl.mjs
// --bare runs it in fimctl's place (as SCHED_BATCH, like fimctl), so that fimctl's CPU at a
// moderate rate can be told apart from what node itself costs per wake-up. With --pass it parses
// nothing: it writes back what it reads as it comes (scripts/bench-consumers.mjs compares both).
//
//   node scripts/bench-bare-consumer.mjs [--pass] DIR   (root; stops on SIGINT/SIGTERM or stdin EOF)

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { LOADER } from './bench-lib.mjs';

const pass = process.argv[2] === '--pass';
const dir = process.argv[pass ? 3 : 2];
if (!dir) {
  process.stderr.write('usage: bench-bare-consumer.mjs [--pass] DIR\n');
  process.exit(2);
}
const loader = spawn(LOADER, ['--path', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
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
if (pass) loader.stdout.on('data', (chunk) => fs.writeSync(1, chunk));
else loader.stdout.setEncoding('utf8').on('data', parseAndWrite);
loader.on('exit', (code) => process.exit(code ?? 1));
const stop = () => loader.stdin.end();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.stdin.on('end', stop).resume();
