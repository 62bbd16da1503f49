import {EventEmitter} from 'node:events';
import type {Writable} from 'node:stream';
import {RuntimeError} from './errors.js';

/**
 * stdout as the stdout sink's SinkBuffer (buffer.ts) writes to it: UTF-8 lines in, backpressure out
 * (write returns false, then 'drain'), so the loader is read at the pace of the reader. A reader
 * that went away (EPIPE) is 'closed' rather than an error: `fimctl start | head` is normal use.
 * The other sinks take batches and say when they are delivered (sinks.ts).
 *
 * Events: 'drain', 'closed' (reason: string), 'error' (RuntimeError).
 */
export type StreamSink = EventEmitter & {
	write(bytes: Uint8Array): boolean;
	end(): Promise<void>;
};

export function createStdoutSink(stream: Writable = process.stdout): StreamSink {
	return createStreamSink(stream, 'stdout');
}

export function createStreamSink(stream: Writable, name: string): StreamSink {
	const sink = new EventEmitter() as StreamSink;
	let closed = false;
	stream.on('drain', () => sink.emit('drain'));
	stream.on('error', (error: NodeJS.ErrnoException) => {
		if (closed) {
			return;
		}

		closed = true;
		if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') {
			sink.emit('closed', `${name} was closed by its reader`);
		} else {
			sink.emit('error', new RuntimeError(`cannot write to ${name}: ${error.message}`, {cause: error}));
		}
	});

	sink.write = (bytes: Uint8Array): boolean => {
		if (closed || stream.destroyed) {
			return true;
		}

		return stream.write(bytes);
	};

	sink.end = async (): Promise<void> => {
		if (closed || stream.destroyed || stream.writableFinished) {
			return;
		}

		// process.stdout cannot be ended; waiting for its buffer to drain is the flush.
		await new Promise<void>(resolve => {
			if (stream.writableLength === 0) {
				resolve();
				return;
			}

			const done = (): void => {
				stream.off('drain', done);
				stream.off('error', done);
				resolve();
			};

			stream.once('drain', done);
			stream.once('error', done);
		});
	};

	return sink;
}
