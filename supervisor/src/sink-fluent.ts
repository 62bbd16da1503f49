import {randomBytes} from 'node:crypto';
import {connect as connectTcp, type Socket} from 'node:net';
import {connect as connectTls} from 'node:tls';
import {decodeMultiStream, Encoder, ExtensionCodec} from '@msgpack/msgpack';
import {ConfigError} from './errors.js';
import {hostPort, readCaFile, type FluentSinkConfig} from './sink-config.js';
import {errorText, SinkError, type Sink, type SinkEntry} from './sinks.js';

/**
 * The Fluent forward protocol (v1), as Fluent Bit's and Fluentd's `forward` inputs speak it,
 * over TCP or TLS. Each batch is one message in Forward mode:
 *
 *   [tag, [[EventTime, record], …], {"size": n, "chunk": "<base64 id>"}]
 *
 * and with acknowledgements on (the default) the batch counts as delivered only when the
 * receiver answers {"ack": "<same id>"}. No answer within `request.timeout_secs`, or the
 * connection lost, and the whole batch is sent again on a new connection after the queue's
 * backoff: at-least-once, so a batch the receiver took just before dying can come twice.
 *
 * Records are the sink format's JSON objects (a `text` line becomes {"message": line}); the
 * event's nanosecond timestamp is an exact 64-bit integer, and EventTime carries it too.
 */

/** EventTime is msgpack extension 0: seconds and nanoseconds, two big-endian uint32. */
class EventTime {
	constructor(readonly seconds: number, readonly nanoseconds: number) {}

	static fromNs(ns: number | bigint): EventTime {
		if (typeof ns === 'bigint') {
			return new EventTime(Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n));
		}

		const seconds = Math.floor(ns / 1e9);
		return new EventTime(seconds, Math.max(0, Math.min(999_999_999, Math.round(ns - (seconds * 1e9)))));
	}
}

export const fluentCodec = new ExtensionCodec();
fluentCodec.register({
	type: 0,
	encode(value: unknown): Uint8Array | null {
		if (!(value instanceof EventTime)) {
			return null;
		}

		const bytes = new Uint8Array(8);
		const view = new DataView(bytes.buffer);
		view.setUint32(0, value.seconds);
		view.setUint32(4, value.nanoseconds);
		return bytes;
	},
	decode(data: Uint8Array): EventTime {
		const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
		return new EventTime(view.getUint32(0), view.getUint32(4));
	},
});

const exactTimestamp = /"timestamp":(\d{16,})[,}]/;

/** The record of one line: its JSON object, the exact timestamp restored as a 64-bit integer. */
export function fluentRecord(line: string): Record<string, unknown> {
	let value: unknown;
	try {
		value = JSON.parse(line);
	} catch {
		return {message: line};
	}

	if (typeof value !== 'object' || value === null || Array.isArray(value)) {
		return {message: line};
	}

	const record = value as Record<string, unknown>;
	const digits = typeof record['timestamp'] === 'number' ? exactTimestamp.exec(line)?.[1] : undefined;
	if (digits !== undefined) {
		record['timestamp'] = BigInt(digits);
	}

	return record;
}

export type FluentDependencies = {warn?: (message: string) => void};

type Pending = {chunk: string; resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout};

export function createFluentSink(config: FluentSinkConfig, _dependencies: FluentDependencies = {}): Sink {
	const {host, port} = hostPort(config.address, `sinks.${config.id}.address`, message => {
		throw new ConfigError(message);
	});
	const ca = readCaFile(config);

	const encoder = new Encoder({extensionCodec: fluentCodec, useBigInt64: true});
	const timeoutMs = config.request.timeout_secs * 1000;
	let socket: Socket | undefined;
	let pending: Pending | undefined;

	const failPending = (error: Error): void => {
		if (pending) {
			clearTimeout(pending.timer);
			const {reject} = pending;
			pending = undefined;
			reject(error);
		}
	};

	const drop = (dead: Socket, reason: Error): void => {
		if (socket === dead) {
			socket = undefined;
		}

		dead.destroy();
		failPending(new SinkError(`fluent ${config.address}: connection lost before the acknowledgement (${errorText(reason)})`, {retryable: true, cause: reason}));
	};

	/** Reads the receiver's answers for as long as the connection lives. */
	const readAcks = async (live: Socket): Promise<void> => {
		try {
			for await (const message of decodeMultiStream(live)) {
				const ack = (message as {ack?: unknown} | null)?.ack;
				if (pending && ack === pending.chunk) {
					clearTimeout(pending.timer);
					const {resolve} = pending;
					pending = undefined;
					resolve();
				}
			}

			drop(live, new Error('closed by the receiver'));
		} catch (error) {
			drop(live, error as Error);
		}
	};

	const open = async (): Promise<Socket> => new Promise<Socket>((resolve, reject) => {
		const live = config.tls.enabled
			? connectTls({host, port, servername: /^[\d.:]+$/.test(host) ? undefined : host, rejectUnauthorized: config.tls.verify_certificate, ...(ca ? {ca} : {})})
			: connectTcp({host, port});
		const fail = (error: Error): void => {
			live.destroy();
			reject(new SinkError(`fluent ${config.address}: ${errorText(error)}`, {retryable: true, cause: error}));
		};

		live.once('error', fail);
		live.setTimeout(timeoutMs, () => {
			fail(new Error(`no connection within ${config.request.timeout_secs} s`));
		});
		live.once(config.tls.enabled ? 'secureConnect' : 'connect', () => {
			live.off('error', fail);
			live.setTimeout(0);
			live.setNoDelay(true);
			live.setKeepAlive(true, 30_000);
			live.on('error', (error: Error) => {
				drop(live, error);
			});
			live.on('close', () => {
				drop(live, new Error('closed'));
			});
			socket = live;
			void readAcks(live);
			resolve(live);
		});
	});

	return {
		id: config.id,
		type: 'fluent',
		target: `${config.address}${config.tls.enabled ? ' (tls)' : ''}`,
		async send(entries: readonly SinkEntry[]): Promise<void> {
			const live = socket ?? await open();
			const chunk = randomBytes(16).toString('base64');
			const events = entries.map(entry => {
				const record = fluentRecord(entry.line);
				const exact = typeof record['timestamp'] === 'bigint' ? record['timestamp'] : undefined;
				return [EventTime.fromNs(exact ?? entry.timestamp ?? Date.now() * 1e6), record];
			});
			const options: Record<string, unknown> = {size: entries.length};
			if (config.ack) {
				options['chunk'] = chunk;
			}

			const message = encoder.encode([config.tag, events, options]);
			await new Promise<void>((resolve, reject) => {
				if (config.ack) {
					pending = {
						chunk,
						resolve,
						reject,
						timer: setTimeout(() => {
							// The receiver may have the batch; a new connection sends it again.
							drop(live, new Error(`no acknowledgement within ${config.request.timeout_secs} s`));
						}, timeoutMs),
					};
				}

				live.write(message, error => {
					if (error) {
						drop(live, error);
						reject(new SinkError(`fluent ${config.address}: ${errorText(error)}`, {retryable: true, cause: error}));
					} else if (!config.ack) {
						resolve();
					}
				});
			});
		},
		async close(): Promise<void> {
			socket?.end();
			socket = undefined;
		},
	};
}
