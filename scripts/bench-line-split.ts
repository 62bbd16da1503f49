/**
 * The loader-stdout parser against the `ndjson` package on the same bytes: 64 KiB chunks of
 * realistic event lines, as a pipe delivers them. Prints lines/s for each.
 *
 *   npm run build && node dist/scripts/bench-line-split.js
 */
import {Readable} from 'node:stream';
import ndjson from 'ndjson';
import {NdjsonParser} from '../supervisor/src/ndjson-parse.js';

const lines = 1_000_000;
const line = '{"type":"event","timestamp":1764090012345678901,"operation":"modify","path":"/var/log/app/dir-3/file-1234.log","old_path":null,"file_type":"file","inode":131077,"dev":"254:0","pid":812,"tid":812,"ppid":640,"uid":0,"gid":0,"euid":0,"egid":0,"auid":1000,"session_id":3,"process_name":"logrotate","exe":"/usr/sbin/logrotate","syscall":"write","cgroup_id":5678,"source":"kernel"}\n';
const all = Buffer.from(line.repeat(lines));
const chunks: Buffer[] = [];
for (let offset = 0; offset < all.length; offset += 65_536) {
	chunks.push(all.subarray(offset, offset + 65_536));
}

function ours(): number {
	const parser = new NdjsonParser();
	let count = 0;
	for (const chunk of chunks) {
		count += parser.push(chunk).length;
	}

	return count;
}

async function theirs(): Promise<number> {
	let count = 0;
	await new Promise<void>((resolve, reject) => {
		Readable.from(chunks).pipe(ndjson.parse())
			.on('data', () => {
				count++;
			})
			.on('end', resolve)
			.on('error', reject);
	});
	return count;
}

/** Best of several rounds, alternating, so that a busy machine penalises both alike. */
const best = {ours: Number.POSITIVE_INFINITY, theirs: Number.POSITIVE_INFINITY};
for (let round = 0; round < 7; round++) {
	for (const [name, run] of [['ours', ours], ['theirs', theirs]] as const) {
		const start = process.hrtime.bigint();
		// eslint-disable-next-line no-await-in-loop
		const count = await run();
		const seconds = Number(process.hrtime.bigint() - start) / 1e9;
		if (count !== lines) {
			throw new Error(`${name} parsed ${count} lines of ${lines}`);
		}

		best[name] = Math.min(best[name], seconds);
	}
}

const rate = (seconds: number) => Math.round(lines / seconds).toLocaleString('en-US');
process.stdout.write(`supervisor NdjsonParser: ${rate(best.ours)} lines/s\nndjson 2.0 parse():      ${rate(best.theirs)} lines/s\n`);
