import {EventEmitter} from 'node:events';
import {fstatSync, writeSync} from 'node:fs';
import type {Writable} from 'node:stream';
import {RuntimeError} from './errors.js';

/**
 * stdout as the stdout sink's SinkBuffer (buffer.ts) writes to it: UTF-8 lines in, backpressure out
 * (write returns false, then 'drain'), so the loader is read at the pace of the reader. A reader
 * that went away (EPIPE) is 'closed' rather than an error: `fimctl start | head` is normal use.
 * The other sinks take batches and say when they are delivered (sinks.ts).
 *
 * write() reads `bytes` only while it runs (the caller reuses the buffer): what the stream has
 * to hold on to is copied.
 *
 * Events: 'drain', 'closed' (reason: string), 'error' (RuntimeError).
 */
export type StreamSink = EventEmitter & {
	write(bytes: Uint8Array): boolean;
	end(): Promise<void>;
};

export function createStdoutSink(stream: Writable = process.stdout): StreamSink {
	return createStreamSink(stream, 'stdout', stream === process.stdout && isPipeOrSocket(1) ? 1 : undefined);
}

/**
 * `fd`: the stream's own descriptor, a pipe or socket that libuv has made non-blocking. A write
 * then goes straight to it while the stream holds nothing: one write(2), where the stream's
 * write also queues a completion that costs the event loop one more turn (an epoll_pwait) per
 * batch. What the descriptor does not take at once (a full pipe) goes through the stream, which
 * waits for room and says 'drain', and everything after it too until the stream is empty, so
 * that the order holds.
 */
export function createStreamSink(stream: Writable, name: string, fd?: number): StreamSink {
	const sink = new EventEmitter() as StreamSink;
	let closed = false;
	const onError = (error: NodeJS.ErrnoException): void => {
		if (closed) {
			return;
		}

		closed = true;
		if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') {
			sink.emit('closed', `${name} was closed by its reader`);
		} else {
			sink.emit('error', new RuntimeError(`cannot write to ${name}: ${error.message}`, {cause: error}));
		}
	};

	stream.on('drain', () => sink.emit('drain'));
	stream.on('error', onError);

	/** Bytes the descriptor took at once; the rest is for the stream. */
	const writeDirect = (bytes: Uint8Array): number => {
		try {
			return writeSync(fd!, bytes);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
				return 0;
			}

			onError(error as NodeJS.ErrnoException);
			return bytes.length;
		}
	};

	sink.write = (bytes: Uint8Array): boolean => {
		if (closed || stream.destroyed) {
			return true;
		}

		if (fd !== undefined && stream.writableLength === 0) {
			const written = writeDirect(bytes);
			if (written === bytes.length) {
				return true;
			}

			bytes = bytes.subarray(written);
		}

		return stream.write(Buffer.from(bytes));
	};

	sink.end = async (): Promise<void> => {
		if (closed || stream.destroyed || stream.writableFinished) {
			return;
		}

		// process.stdout cannot be ended: the flush is an empty write, whose callback comes once
		// everything written before it is out. 'drain' would not do: it comes only after a write
		// that returned false, and waiting for it after one that did not was waiting for good
		// (node exited with 13, an unsettled await, and what the stream held was lost).
		await new Promise<void>(resolve => {
			if (stream.writableLength === 0) {
				resolve();
				return;
			}

			stream.write(Buffer.alloc(0), () => {
				resolve();
			});
		});
	};

	return sink;
}

function isPipeOrSocket(fd: number): boolean {
	try {
		const stat = fstatSync(fd);
		return stat.isFIFO() || stat.isSocket();
	} catch {
		return false;
	}
}
