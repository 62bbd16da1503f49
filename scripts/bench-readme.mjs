#!/usr/bin/env node
// Copies the summary of a benchmark report into the README's Performance section:
//   node scripts/bench-readme.mjs peers bench/results/2026-11-26.md
//   node scripts/bench-readme.mjs loader bench/results/loader-2026-11-25.md
// The benchmarks do this themselves after a full run; this is for a report of your choice.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, summaryOf, updateReadme, readmeBlock } from './bench-lib.mjs';

const [name, report] = process.argv.slice(2);
if (!name || !report) {
  process.stderr.write('usage: bench-readme.mjs peers|loader REPORT.md\n');
  process.exit(2);
}
let md;
try {
  md = fs.readFileSync(report, 'utf8');
} catch (e) {
  process.stderr.write(`bench-readme: ${report}: ${e.code === 'ENOENT' ? 'no such file' : e.message}\n`);
  process.exit(2);
}
const summary = summaryOf(md);
if (!summary) {
  process.stderr.write(`bench-readme: ${report} has no <!-- summary:start --> ... <!-- summary:end --> part\n`);
  process.exit(1);
}
if (!updateReadme(name, readmeBlock(path.relative(ROOT, path.resolve(report)), summary))) {
  process.stderr.write(`bench-readme: README.md has no <!-- bench:${name}:start --> ... <!-- bench:${name}:end --> part\n`);
  process.exit(1);
}
process.stderr.write(`bench-readme: README.md now shows ${report}\n`);
