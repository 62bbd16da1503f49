import type {MonitorBatchItem} from './monitor.js';

/**
 * Event times at full precision. The loader writes nanoseconds since the epoch as bare digits,
 * which a double cannot hold; the JSON line keeps them, so formats that print a time take the
 * digits from there.
 */

const timestampMember = /"timestamp":(\d+)[,}]/;

/** The record's timestamp as decimal nanoseconds, exact when the JSON line has them. */
export function timestampDigits(item: MonitorBatchItem): string {
	// A quote inside a JSON string is always escaped, so this cannot match inside a file name.
	return timestampMember.exec(item.json)?.[1] ?? BigInt(Math.round(item.record.timestamp)).toString();
}

/** `2025-11-25T17:00:12.345678901Z` from nanosecond digits. */
export function isoTimeFromNs(digits: string): string {
	const padded = digits.padStart(10, '0');
	const seconds = Number(padded.slice(0, -9));
	return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${padded.slice(-9)}Z`;
}
