import {createServer as createTcpServer, type Server, type Socket} from 'node:net';
import {createServer as createTlsServer} from 'node:tls';
import {decodeMultiStream, encode} from '@msgpack/msgpack';
import {fluentCodec} from '../../supervisor/src/sink-fluent.js';

/**
 * A Fluent forward-protocol input for tests: decodes every message (Message, Forward and
 * PackedForward modes), keeps the events, and answers {"ack": chunk} unless told to stay quiet
 * or to hang up on the next message (a receiver dying before it acknowledges).
 */

export type ForwardEvent = {tag: string; time: {seconds: number; nanoseconds: number}; record: Record<string, unknown>};

export class ForwardServer {
	readonly events: ForwardEvent[] = [];
	readonly chunks: string[] = [];
	options: Array<Record<string, unknown>> = [];
	acknowledge = true;
	dieOnNextMessage = false;
	connections = 0;
	private server: Server | undefined;
	private readonly sockets = new Set<Socket>();

	constructor(private readonly tls?: {key: Buffer; cert: Buffer}) {}

	async listen(port = 0): Promise<number> {
		const handle = (socket: Socket): void => {
			this.connections++;
			this.sockets.add(socket);
			socket.on('close', () => this.sockets.delete(socket));
			socket.on('error', () => {});
			void this.read(socket);
		};

		const server = this.tls ? createTlsServer({key: this.tls.key, cert: this.tls.cert}, handle) : createTcpServer(handle);
		this.server = server;
		await new Promise<void>(resolve => {
			server.listen(port, '127.0.0.1', resolve);
		});
		return (server.address() as {port: number}).port;
	}

	async close(): Promise<void> {
		for (const socket of this.sockets) {
			socket.destroy();
		}

		await new Promise(resolve => {
			this.server?.close(resolve);
		});
	}

	private async read(socket: Socket): Promise<void> {
		try {
			for await (const message of decodeMultiStream(socket, {extensionCodec: fluentCodec, useBigInt64: true})) {
				const [tag, second, third] = message as [string, unknown, unknown];
				const options = (Array.isArray(second) ? third : undefined) as Record<string, unknown> | undefined;
				if (this.dieOnNextMessage) {
					this.dieOnNextMessage = false;
					socket.destroy();
					return;
				}

				const entries = Array.isArray(second) ? second as Array<[unknown, Record<string, unknown>]> : [];
				for (const [time, record] of entries) {
					this.events.push({tag, time: time as ForwardEvent['time'], record});
				}

				this.options.push(options ?? {});
				const chunk = options?.['chunk'];
				if (typeof chunk === 'string') {
					this.chunks.push(chunk);
					if (this.acknowledge) {
						socket.write(encode({ack: chunk}));
					}
				}
			}
		} catch {
			socket.destroy();
		}
	}
}
