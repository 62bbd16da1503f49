import {createSocket as createUdpSocket, type Socket as UdpSocket} from 'node:dgram';
import {createRequire} from 'node:module';
import {connect, isIPv6, type Socket} from 'node:net';
import {getSystemErrorName} from 'node:util';
import {systemClock, type Clock} from './clock.js';
import {ConfigError} from './errors.js';
import {hostPort, type SyslogSinkConfig} from './sink-config.js';
import {errorText, SinkError, type SendOutcome, type Sink, type SinkEntry} from './sinks.js';

/**
 * Syslog: each line is the MSG of one syslog message, RFC 5424 (default) or RFC 3164, over UDP
 * (one datagram each), TCP (RFC 6587 octet counting, or newline framing) or the local datagram
 * socket (/dev/log).
 *
 *   RFC 5424: <13>1 2025-11-25T17:00:12.345678Z web1 fim-whodata 4242 modify [fim@32473 …] {"timestamp":…}
 *   RFC 3164: <13>Nov 25 17:00:12 web1 fim-whodata[4242]: {"timestamp":…}
 *   unix (/dev/log, RFC 3164 by default, no host name: the receiver adds it, as for glibc's syslog())
 *
 * TCP and UDP give no acknowledgement: a batch counts as delivered once the kernel took it. A
 * receiver that goes away is noticed at the next send (the connection is re-made, with the
 * queue's backoff); what it had not read when it died is lost with it (RELP would be needed).
 */

const facilities = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];
const severities = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

/** Private enterprise number reserved for documentation (RFC 5612), for our SD-ID. */
export const structuredDataId = 'fim@32473';

export type SyslogDependencies = {host: string; clock?: Clock; pid?: number};

/** The fields of a JSON line, for MSGID and structured data; other formats have none to give. */
function lineFields(line: string): Record<string, unknown> | undefined {
	if (!line.startsWith('{')) {
		return undefined;
	}

	try {
		return JSON.parse(line) as Record<string, unknown>;
	} catch {
		return undefined;
	}
}

/** Formats one entry as a syslog message (without framing). */
export function syslogMessage(config: Pick<SyslogSinkConfig, 'mode' | 'rfc' | 'facility' | 'severity' | 'app_name' | 'structured_data'>, entry: SinkEntry, host: string, pid: number, nowMs: number): string {
	const record = config.rfc === '5424' ? lineFields(entry.line) : undefined;
	const isSupervisor = entry.timestamp === undefined;
	// Loss and restart notices matter more than one change.
	const severity = isSupervisor ? severities.indexOf('warning') : severities.indexOf(config.severity);
	const pri = (facilities.indexOf(config.facility) * 8) + severity;
	const ms = entry.timestamp === undefined ? nowMs : entry.timestamp / 1e6;
	if (config.rfc === '3164') {
		// On the local socket the receiver adds the host name itself, as for glibc's syslog().
		const hostPart = config.mode === 'unix' ? '' : `${printable(host, 255)} `;
		return `<${pri}>${bsdTime(ms)} ${hostPart}${printable(config.app_name, 32)}[${pid}]: ${entry.line}`;
	}

	const msgid = isSupervisor ? 'supervisor' : typeof record?.['operation'] === 'string' ? record['operation'] : '-';
	const data = config.structured_data && record && !isSupervisor ? structuredData(record) : '-';
	return `<${pri}>1 ${rfc5424Time(ms)} ${printable(host, 255)} ${printable(config.app_name, 48)} ${pid} ${msgid} ${data} ${entry.line}`;
}

function structuredData(record: Record<string, unknown>): string {
	const parameters: string[] = [];
	for (const name of ['operation', 'path', 'old_path', 'pid', 'uid', 'auid', 'user_name', 'login_user', 'exe'] as const) {
		const value = record[name];
		if (value !== null && value !== undefined) {
			// Inside PARAM-VALUE, '"', '\' and ']' are escaped with a backslash (RFC 5424 §6.3.3).
			parameters.push(`${name}="${String(value).replaceAll(/["\\\]]/g, '\\$&')}"`);
		}
	}

	return `[${structuredDataId} ${parameters.join(' ')}]`;
}

/** RFC 5424 header fields are printable US-ASCII without spaces. */
function printable(value: string, max: number): string {
	const clean = value.replaceAll(/[^\u0021-\u007E]/g, '_').slice(0, max);
	return clean.length > 0 ? clean : '-';
}

function rfc5424Time(ms: number): string {
	// TIME-SECFRAC allows six digits at most.
	const micros = Math.floor((ms % 1000) * 1000);
	return `${new Date(Math.floor(ms)).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Nov  5 17:00:12`, local time, as BSD syslog has it. */
function bsdTime(ms: number): string {
	const date = new Date(ms);
	const pad = (value: number): string => String(value).padStart(2, '0');
	return `${months[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function createSyslogSink(config: SyslogSinkConfig, dependencies: SyslogDependencies): Sink {
	const clock = dependencies.clock ?? systemClock;
	const pid = dependencies.pid ?? process.pid;
	const message = (entry: SinkEntry): string => syslogMessage(config, entry, dependencies.host, pid, clock.now());
	const target = config.mode === 'unix' ? `${config.path!} (unix)` : `${config.address!} (${config.mode})`;
	const endpoint = (): {host: string; port: number} => hostPort(config.address!, `sinks.${config.id}.address`, message => {
		throw new ConfigError(message);
	});
	const transport = config.mode === 'tcp'
		? new TcpTransport(config, endpoint())
		: config.mode === 'udp' ? new UdpTransport(config, endpoint()) : new UnixTransport(config.path!);
	return {
		id: config.id,
		type: 'syslog',
		target,
		async send(entries: readonly SinkEntry[]): Promise<SendOutcome | void> {
			const sent = await transport.send(entries.map(entry => message(entry)));
			// Datagrams sent before a failure are not sent twice.
			return sent < entries.length ? {retry: entries.slice(sent)} : undefined;
		},
		async close(): Promise<void> {
			transport.close();
		},
	};
}

/** Sends in order; resolves with how many were sent when it had to stop short, throws if none was. */
type Transport = {send(messages: string[]): Promise<number>; close(): void};

class TcpTransport implements Transport {
	private socket: Socket | undefined;
	private readonly host: string;
	private readonly port: number;

	constructor(private readonly config: SyslogSinkConfig, endpoint: {host: string; port: number}) {
		({host: this.host, port: this.port} = endpoint);
	}

	async send(messages: string[]): Promise<number> {
		const socket = this.socket ?? await this.connect();
		let text = '';
		for (const message of messages) {
			text += this.config.framing === 'newline' ? `${message}\n` : `${Buffer.byteLength(message)} ${message}`;
		}

		await new Promise<void>((resolve, reject) => {
			socket.write(text, error => {
				if (error) {
					this.drop(socket);
					reject(new SinkError(`syslog ${this.config.address!}: ${errorText(error)}`, {retryable: true, cause: error}));
				} else {
					resolve();
				}
			});
		});
		return messages.length;
	}

	close(): void {
		this.socket?.end();
		this.socket = undefined;
	}

	private async connect(): Promise<Socket> {
		return new Promise<Socket>((resolve, reject) => {
			const socket = connect({host: this.host, port: this.port});
			socket.setNoDelay(true);
			socket.setKeepAlive(true, 30_000);
			const fail = (error: Error): void => {
				socket.destroy();
				reject(new SinkError(`syslog ${this.config.address!}: ${errorText(error)}`, {retryable: true, cause: error}));
			};

			socket.once('error', fail);
			socket.once('connect', () => {
				socket.off('error', fail);
				// The receiver closing its side (it stopped) is noticed before the next write.
				socket.on('error', () => {
					this.drop(socket);
				});
				socket.on('end', () => {
					this.drop(socket);
				});
				socket.on('close', () => {
					this.drop(socket);
				});
				// Receivers do not talk back; anything read is discarded.
				socket.resume();
				this.socket = socket;
				resolve(socket);
			});
		});
	}

	private drop(socket: Socket): void {
		if (this.socket === socket) {
			this.socket = undefined;
		}

		socket.destroy();
	}
}

class UdpTransport implements Transport {
	private socket: UdpSocket | undefined;
	private readonly host: string;
	private readonly port: number;

	constructor(private readonly config: SyslogSinkConfig, endpoint: {host: string; port: number}) {
		({host: this.host, port: this.port} = endpoint);
	}

	async send(messages: string[]): Promise<number> {
		const socket = this.socket ?? this.open();
		for (const [index, message] of messages.entries()) {
			// eslint-disable-next-line no-await-in-loop
			const error = await new Promise<Error | undefined>(resolve => {
				socket.send(message, this.port, this.host, failure => {
					resolve(failure ?? undefined);
				});
			});
			if (error) {
				// A datagram too large for the path is refused for good; anything else may pass later.
				const tooLarge = (error as NodeJS.ErrnoException).code === 'EMSGSIZE';
				if (index === 0 || tooLarge) {
					throw new SinkError(`syslog ${this.config.address!}: ${errorText(error)}`, {retryable: !tooLarge, cause: error});
				}

				return index;
			}
		}

		return messages.length;
	}

	close(): void {
		this.socket?.close();
		this.socket = undefined;
	}

	private open(): UdpSocket {
		const socket = createUdpSocket(isIPv6(this.host) ? 'udp6' : 'udp4');
		socket.on('error', () => {
			socket.close();
			if (this.socket === socket) {
				this.socket = undefined;
			}
		});
		this.socket = socket;
		return socket;
	}
}

type UnixDgramSocket = {
	on(event: 'error', listener: (error: Error & {code?: number}) => void): void;
	send(buffer: Buffer, offset: number, length: number, path: string, callback: (error?: Error & {code?: number}) => void): void;
	close(): void;
};

/** unix-dgram reports errors as negative errno numbers. */
function unixError(error: Error & {code?: number}): string {
	return typeof error.code === 'number' && error.code < 0 ? getSystemErrorName(error.code) : error.message;
}

const receiverBusy = new Set(['EAGAIN', 'EWOULDBLOCK', 'ENOBUFS']);

/**
 * The local syslog socket is a datagram socket, which Node's own modules cannot open; the
 * unix-dgram addon can. It is loaded on first use, so a build without it still runs the rest.
 * A full receiver queue (EAGAIN) is waited out here, yielding then sleeping: the addon's own
 * "writable" notice comes from native code that can crash Node 20, so it is not used (the
 * socket stays unconnected, which never arms it).
 */
class UnixTransport implements Transport {
	private socket: UnixDgramSocket | undefined;

	constructor(private readonly path: string) {}

	async send(messages: string[]): Promise<number> {
		const socket = this.socket ?? this.open();
		for (const [index, message] of messages.entries()) {
			const buffer = Buffer.from(message);
			let waitedMs = 0;
			let pauseMs = 1;
			let quickRetries = 100;
			for (;;) {
				let failure: (Error & {code?: number}) | undefined;
				socket.send(buffer, 0, buffer.length, this.path, error => {
					failure = error;
				});
				if (failure === undefined) {
					break;
				}

				const reason = unixError(failure);
				if (!receiverBusy.has(reason) || waitedMs >= 5000) {
					this.close();
					if (index === 0) {
						throw new SinkError(`syslog ${this.path}: ${reason}`, {retryable: true, cause: failure});
					}

					return index;
				}

				// The receiver drains its queue within microseconds when it is alive (a queue can be as
				// short as 10 datagrams: net.unix.max_dgram_qlen), so the first retries only yield to
				// the event loop; a receiver that stays full gets sleeps that double up to 50 ms.
				if (quickRetries > 0) {
					quickRetries--;
					// eslint-disable-next-line no-await-in-loop
					await new Promise(resolve => {
						setImmediate(resolve);
					});
					continue;
				}

				// eslint-disable-next-line no-await-in-loop
				await new Promise(resolve => {
					setTimeout(resolve, pauseMs);
				});
				waitedMs += pauseMs;
				pauseMs = Math.min(pauseMs * 2, 50);
			}
		}

		return messages.length;
	}

	close(): void {
		try {
			this.socket?.close();
		} catch {}

		this.socket = undefined;
	}

	private open(): UnixDgramSocket {
		let module: {createSocket(type: 'unix_dgram'): UnixDgramSocket};
		try {
			module = createRequire(import.meta.url)('unix-dgram') as typeof module;
		} catch (error) {
			throw new SinkError(`syslog ${this.path}: the unix-dgram module is not built (npm ci): ${errorText(error)}`, {retryable: false, cause: error});
		}

		const socket = module.createSocket('unix_dgram');
		socket.on('error', () => {
			this.close();
		});
		this.socket = socket;
		return socket;
	}
}
