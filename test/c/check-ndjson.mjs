// Checks NDJSON written by the loader (or by the C round-trip test) against
// docs/protocol.md with parsers that are not ours:
//   - every line is valid UTF-8 (WHATWG decoder, fatal mode) and JSON.parse
//     gives an object;
//   - no raw control byte or DEL anywhere: they must be escaped;
//   - the file ends with "\n" and has no empty line;
//   - each "<field>_b64" is canonical padded base64 of bytes that are not
//     valid UTF-8, and "<field>" is exactly those bytes with each byte
//     outside a valid sequence replaced by U+FFFD;
//   - when the test wrote "orig_hex" (the bytes it encoded), the consumer
//     rule (<field>_b64 when present, else <field>) gives them back for
//     "path".
//
// usage: node check-ndjson.mjs FILE...
import { readFileSync } from 'node:fs';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const canonicalB64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// Length of the well-formed sequence at b[i] (Unicode table 3-7), or 0.
function seqLen(b, i) {
  const c = b[i];
  const cont = (j, lo = 0x80, hi = 0xbf) => j < b.length && b[j] >= lo && b[j] <= hi;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c === 0xe0) return cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(i + 1) && cont(i + 2) ? 3 : 0;
  if (c === 0xed) return cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
  if (c === 0xf0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c === 0xf4) return cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

function replacePerByte(b) {
  const parts = [];
  let i = 0;
  while (i < b.length) {
    const k = seqLen(b, i);
    if (k) {
      parts.push(b.subarray(i, i + k).toString('utf8'));
      i += k;
    } else {
      parts.push('\ufffd');
      i += 1;
    }
  }
  return parts.join('');
}

function isUtf8(b) {
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

function checkLine(raw) {
  for (const byte of raw) {
    if (byte < 0x20 || byte === 0x7f) return `raw control byte 0x${byte.toString(16).padStart(2, '0')}`;
  }
  if (!isUtf8(raw)) return 'not valid UTF-8';
  let rec;
  try {
    rec = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    return `JSON.parse: ${e.message}`;
  }
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return 'not a JSON object';

  for (const [key, b64] of Object.entries(rec)) {
    if (!key.endsWith('_b64')) continue;
    const field = key.slice(0, -4);
    if (typeof b64 !== 'string' || !canonicalB64.test(b64)) return `${key} is not canonical base64`;
    if (typeof rec[field] !== 'string') return `${key} without a string ${field}`;
    const bytes = Buffer.from(b64, 'base64');
    if (isUtf8(bytes)) return `${key} present but the bytes are valid UTF-8`;
    if (rec[field] !== replacePerByte(bytes)) return `${field} is not ${key} with U+FFFD per bad byte`;
  }

  if (typeof rec.orig_hex === 'string') {
    const orig = Buffer.from(rec.orig_hex, 'hex');
    const got = rec.path_b64 !== undefined ? Buffer.from(rec.path_b64, 'base64') : Buffer.from(rec.path, 'utf8');
    if (!got.equals(orig)) return 'path does not give back the original bytes';
    if ((rec.path_b64 !== undefined) === isUtf8(orig)) return 'path_b64 present iff the bytes are not UTF-8: violated';
  }
  return null;
}

let failures = 0;
for (const file of process.argv.slice(2)) {
  const data = readFileSync(file);
  let lines = 0;
  let withB64 = 0;
  let start = 0;
  if (data.length && data[data.length - 1] !== 0x0a) {
    console.error(`${file}: does not end with a newline`);
    failures++;
  }
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    const raw = data.subarray(start, end);
    lines++;
    const problem = raw.length === 0 ? 'empty line' : checkLine(raw);
    if (problem) {
      failures++;
      if (failures <= 10) console.error(`${file}:${lines}: ${problem}: ${raw.subarray(0, 200).toString('hex')}`);
    } else if (raw.includes('_b64"')) {
      withB64++;
    }
    start = end + 1;
  }
  console.log(`check-ndjson     ${file}: ${lines} lines, ${withB64} with _b64 fields, ${failures} bad`);
}
if (process.argv.length < 3) {
  console.error('usage: node check-ndjson.mjs FILE...');
  process.exit(2);
}
process.exit(failures ? 1 : 0);
