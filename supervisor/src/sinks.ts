import {RuntimeError} from './errors.js';

/**
 * A sink is where events go: a file, syslog, an HTTP endpoint, a Fluent forward input (stdout
 * is written through stream-sink.ts). Each sends whole batches and says when the destination
 * has them; everything else is in front of it: the buffer (buffer.ts: memory, spool, counted
 * discards) and the DeliveryQueue (batching, retry with backoff, one batch in flight), so a sink
 * stays small and a slow one never holds up another.
 *
 *   monitor ─► route + format ─► SpoolQueue ─► DeliveryQueue ─► Sink.send(batch) ─► destination
 *                (per sink)       (per sink)     (per sink)       resolves on write / ack / 2xx
 */

/** One output line and, for events, the kernel time it describes (ns since the epoch). */
export type SinkEntry = {readonly line: string; readonly timestamp?: number};

/**
 * What a send achieved short of full success: entries the destination refused for good
 * (counted as discarded, never retried) and entries to send again after a backoff.
 */
export type SendOutcome = {rejected?: number; rejectedReason?: string; retry?: readonly SinkEntry[]};

export type Sink = {
	readonly id: string;
	readonly type: string;
	/** Where it sends, for messages and `fimctl validate`: a path, an address, a URI. */
	readonly target: string;
	/**
	 * Delivers entries, in order. Resolves once the destination has them (written to the file,
	 * acknowledged, answered 2xx), or with a SendOutcome for partial success. Rejects with a
	 * SinkError: `retryable` ones are sent again after a backoff, others end the sink.
	 */
	send(entries: readonly SinkEntry[]): Promise<SendOutcome | void>;
	/** Releases connections and files; entries not yet sent are the queue's concern. */
	close(): Promise<void>;
	/** Called on SIGHUP: the file sink reopens its file (external logrotate). */
	reopen?(): void;
};

/** A sink could not deliver. `closedByReader`: stdout's reader went away (`| head`), a normal end. */
export class SinkError extends RuntimeError {
	readonly retryable: boolean;
	readonly closedByReader: boolean;

	constructor(message: string, options: {retryable: boolean; closedByReader?: boolean; cause?: unknown}) {
		super(message, {cause: options.cause});
		this.retryable = options.retryable;
		this.closedByReader = options.closedByReader ?? false;
	}
}

/** Newline-terminated lines as one string: what stream-like sinks write. */
export function joinLines(entries: readonly SinkEntry[]): string {
	let text = '';
	for (const entry of entries) {
		text += `${entry.line}\n`;
	}

	return text;
}

export function errorText(error: unknown): string {
	const code = (error as NodeJS.ErrnoException | undefined)?.code;
	const message = error instanceof Error ? error.message : String(error);
	return code && !message.includes(code) ? `${code}: ${message}` : message;
}
