import {randomBytes} from 'node:crypto';
import {ecsLine} from './format-ecs.js';
import {wazuhLines} from './format-wazuh.js';
import type {MonitorBatchItem} from './monitor.js';
import {isSupervisorRecord, type EnrichmentFields, type KernelEventFields, type ProcessContext, type MonitorRecord, type ReconcileEvent, type SupervisorRecord, type WhoDataEvent} from './types.js';

/**
 * The output formats. `json` is the event record of DESIGN.md §2, one object per line; `text` is
 * a line for a person at a terminal; `wazuh` and `ecs` (format-wazuh.ts, format-ecs.ts) are the
 * shapes Wazuh and Elastic expect. All are views of the same record; docs/formats.md maps them.
 */

export const formatNames = ['json', 'text', 'wazuh', 'ecs'] as const;
export type FormatName = typeof formatNames[number];

/** Turns a record into its output lines (without newlines): one, or two for a Wazuh rename. */
export type Formatter = (item: MonitorBatchItem) => string[];

export function createFormatter(name: FormatName): Formatter {
	switch (name) {
		case 'json': {
			return item => [item.json];
		}

		case 'text': {
			return item => [recordTextLine(item.record)];
		}

		case 'wazuh': {
			return wazuhLines;
		}

		case 'ecs': {
			return item => [ecsLine(item)];
		}
	}
}

/**
 * Longest JSON line, in bytes, without its newline: Fluent Bit's stdin input reads 16,000-byte
 * buffers and treats a longer record as the end of input.
 */
export const maxLineBytes = 15_999;

/**
 * Fields that may be cut to keep a line under the limit, cheapest loss first; a `*_b64` before
 * its name, so that the name is never cut while its bytes stay whole.
 */
const shrinkOrder = ['cmdline_b64', 'cmdline', 'cwd', 'exe_b64', 'exe', 'old_path_b64', 'old_path', 'path_b64', 'path'] as const;

/**
 * What the JSON line needs of an enrichment (enrich.ts builds it). `kernelCmdline`: its cmdline
 * is the event's own member, which `json` does not repeat.
 */
export type EnrichmentView = {readonly json: string; readonly cmdlineTruncated: boolean; readonly kernelCmdline: boolean; readonly fields: EnrichmentFields; readonly context?: ProcessContext};

/**
 * The JSON line of a kernel event: the loader's own text minus `"type":"event"`, with the
 * enrichment members appended. Working on the text keeps the loader's nanosecond digits, which
 * a double cannot hold, and costs a string copy rather than a full stringify. `membersEnd`, when
 * given, is where the members kept end: the text from there to the closing brace is left out
 * (a member the supervisor keeps to itself, already taken off `event`).
 */
export function eventJsonLine(raw: string, event: KernelEventFields, enrichment: EnrichmentView | undefined, membersEnd = raw.length - 1): string {
	if (raw.startsWith('{"type":"event",') && raw.endsWith('}') && (enrichment === undefined || canAppend(event, enrichment))) {
		const line = `{${raw.slice(16, membersEnd)}${enrichment?.json ?? ''}}`;
		if (line.length * 3 <= maxLineBytes || Buffer.byteLength(line) <= maxLineBytes) {
			return line;
		}
	}

	return rebuildLine(raw, event, enrichment);
}

function canAppend(event: KernelEventFields, enrichment: EnrichmentView): boolean {
	if (enrichment.cmdlineTruncated) {
		return false;
	}

	return !hasEnrichmentMember(event, enrichment.kernelCmdline);
}

/**
 * Whether appending the enrichment's JSON to the loader's record would not give one of each
 * member of EnrichmentFields (types.ts): the record has one that the JSON has too (a key
 * repeated), or the JSON leaves `cmdline` to the record (`kernelCmdline`) and the record has
 * none. Spelt out rather than a loop over the names: each `in` with a constant name stays cheap
 * for the few shapes loader events have, where a loop's single `key in event` looked up eight
 * names in turn (110 ns an event against 4 to 26).
 */
function hasEnrichmentMember(event: KernelEventFields, kernelCmdline: boolean): boolean {
	return ('cmdline' in event) !== kernelCmdline || 'cwd' in event || 'parent_name' in event || 'user_name' in event
		|| 'group_name' in event || 'login_user' in event || 'container_id' in event || 'host' in event;
}

/** The slow path: an object rebuilt, exact integers restored, oversized fields cut. */
function rebuildLine(raw: string, event: KernelEventFields, enrichment: EnrichmentView | undefined): string {
	const record: Record<string, unknown> = {...event};
	delete record['type'];
	if (enrichment) {
		Object.assign(record, enrichment.fields);
		if (enrichment.cmdlineTruncated) {
			addTruncated(record, 'cmdline');
		}
	}

	let line = stringifyExact(record, raw);
	for (const field of shrinkOrder) {
		while (Buffer.byteLength(line) > maxLineBytes) {
			const value = record[field];
			if (typeof value !== 'string' || value.length < 16) {
				break;
			}

			const keep = field.endsWith('_b64') ? Math.floor(value.length / 8) * 4 : Math.floor(value.length / 2);
			record[field] = value.slice(0, /[\ud800-\udbff]/.test(value[keep - 1] ?? '') ? keep - 1 : keep);
			addTruncated(record, field.replace(/_b64$/, ''));
			line = stringifyExact(record, raw);
		}
	}

	return line;
}

function addTruncated(record: Record<string, unknown>, field: string): void {
	const list = Array.isArray(record['truncated']) ? [...record['truncated'] as unknown[]] : [];
	if (!list.includes(field)) {
		list.push(field);
	}

	record['truncated'] = list;
}

const exactToken = `\u0000exact-${randomBytes(6).toString('hex')}:`;

/**
 * JSON.stringify, except that top-level integers a double cannot hold exactly are written with
 * the digits of the loader's line.
 */
export function stringifyExact(record: Record<string, unknown>, raw: string): string {
	const exact = new Map<string, string>();
	let copy: Record<string, unknown> | undefined;
	for (const [key, value] of Object.entries(record)) {
		if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
			const digits = new RegExp(`[{,]${JSON.stringify(key).replaceAll(/[$()*+.?[\\\]^{|}]/g, '\\$&')}:(-?\\d+)[,}]`).exec(raw)?.[1];
			if (digits !== undefined) {
				copy ??= {...record};
				copy[key] = exactToken + key;
				exact.set(JSON.stringify(exactToken + key), digits);
			}
		}
	}

	let line = JSON.stringify(copy ?? record);
	for (const [placeholder, digits] of exact) {
		line = line.replace(placeholder, digits);
	}

	return line;
}

/** Supervisor records have no loader text behind them; their numbers are ms-precise. */
export function supervisorJsonLine(record: SupervisorRecord): string {
	return JSON.stringify(record);
}

const unsafeForTerminal = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\s"]/;

/** Names are quoted and escaped when they hold anything that could fool a terminal or a reader. */
export function terminalSafe(value: string): string {
	return unsafeForTerminal.test(value) ? `"${escapeForQuotes(value)}"` : value;
}

/** What goes between the quotes: JSON's escapes, and `\uXXXX` for DEL, C1 controls and bidi marks, which JSON leaves as they are. */
function escapeForQuotes(value: string): string {
	return JSON.stringify(value).slice(1, -1).replaceAll(/[\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, char => `\\u${char.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

/**
 * A name as terminalSafe shows it, but from its bytes when the event has them (`<field>_b64`):
 * the string holds U+FFFD for every byte that is not UTF-8, so two names could print alike.
 * Such a byte is written `\xNN` inside the quotes, where a backslash of the name is `\\`, so
 * the escape cannot be mistaken for characters of the name.
 */
export function terminalName(value: string, base64: string | null | undefined): string {
	if (typeof base64 !== 'string') {
		return terminalSafe(value);
	}

	const bytes = Buffer.from(base64, 'base64');
	let quoted = '';
	let runStart = 0;
	for (let index = 0; index < bytes.length;) {
		const length = utf8SequenceLength(bytes, index);
		if (length > 0) {
			index += length;
			continue;
		}

		quoted += `${escapeForQuotes(bytes.toString('utf8', runStart, index))}\\x${bytes[index]!.toString(16).padStart(2, '0')}`;
		index += 1;
		runStart = index;
	}

	return runStart === 0 ? terminalSafe(bytes.toString('utf8')) : `"${quoted}${escapeForQuotes(bytes.toString('utf8', runStart))}"`;
}

/**
 * Length of the well-formed UTF-8 sequence at `index`, 0 if none starts there: the loader's
 * jw_utf8_seq_len (loader-c/json_out.c), so a byte is escaped here exactly when the loader
 * replaced it with U+FFFD.
 */
function utf8SequenceLength(bytes: Buffer, index: number): number {
	const lead = bytes[index]!;
	if (lead < 0x80) {
		return 1;
	}

	// Continuation bytes start no sequence, 0xC0 and 0xC1 only overlong ones, 0xF5-0xFF none.
	if (lead < 0xC2 || lead > 0xF4) {
		return 0;
	}

	const length = lead < 0xE0 ? 2 : (lead < 0xF0 ? 3 : 4);
	let low = 0x80;
	let high = 0xBF;
	if (lead === 0xE0) {
		low = 0xA0; // below: overlong forms
	} else if (lead === 0xED) {
		high = 0x9F; // above: UTF-16 surrogates
	} else if (lead === 0xF0) {
		low = 0x90; // below: overlong forms
	} else if (lead === 0xF4) {
		high = 0x8F; // above: beyond U+10FFFF
	}

	if (index + length > bytes.length || bytes[index + 1]! < low || bytes[index + 1]! > high) {
		return 0;
	}

	for (let next = index + 2; next < index + length; next++) {
		if ((bytes[next]! & 0xC0) !== 0x80) {
			return 0;
		}
	}

	return length;
}

function isoTime(ns: number): string {
	return new Date(Math.floor(ns / 1e6)).toISOString();
}

function who(name: unknown, id: unknown): string {
	if (typeof name === 'string') {
		return terminalSafe(name);
	}

	return typeof id === 'number' ? String(id) : '-';
}

/**
 * `2025-11-26T18:56:01.123Z modify /etc/hosts user=alice login=bob process=vim pid=812 exe=/usr/bin/vim`;
 * a change found by reconciliation: `... modify /etc/hosts found by reconciliation (size, mtime)`.
 */
export function eventTextLine(event: WhoDataEvent | ReconcileEvent): string {
	const parts = [isoTime(event.timestamp), event.operation.padEnd(6), terminalName(event.path, event.path_b64)];
	if (event.source === 'reconcile') {
		const changed = Array.isArray(event.changed) && event.changed.length > 0 ? ` (${event.changed.join(', ')})` : '';
		parts.push(`found by reconciliation${changed}; who is not known`);
		return parts.join(' ');
	}

	if (typeof event.old_path === 'string') {
		parts.push(`(from ${terminalName(event.old_path, event.old_path_b64)})`);
	}

	parts.push(
		`user=${who(event.user_name, event.uid)}`,
		`login=${who(event.login_user, event.auid)}`,
		`process=${terminalSafe(event.process_name)}`,
		`pid=${event.pid}`,
		`exe=${typeof event.exe === 'string' ? terminalName(event.exe, event.exe_b64) : '-'}`,
	);
	return parts.join(' ');
}

export function supervisorTextLine(record: SupervisorRecord): string {
	const parts = [isoTime(record.timestamp), `supervisor ${record.kind}: ${record.message}`];
	if (record.gap_start !== undefined) {
		parts.push(`gap ${isoTime(record.gap_start)} → ${record.gap_end === undefined ? 'open' : isoTime(record.gap_end)}`);
	}

	return parts.join(' ');
}

export function recordTextLine(record: MonitorRecord): string {
	return isSupervisorRecord(record) ? supervisorTextLine(record) : eventTextLine(record);
}
