import {EventEmitter} from 'node:events';
import type {Writable} from 'node:stream';
import {RuntimeError} from './errors.js';

/**
 * A sink takes whole batches of lines. It reports backpressure (write returns false, then
 * 'drain') so the monitor can stop reading the loader, and reports a reader that went away
 * (EPIPE) as 'closed' rather than as an error: `fimctl start | head` is normal use.
 *
 * Events: 'drain', 'closed' (reason: string), 'error' (RuntimeError).
 */
export type Sink = EventEmitter & {
	write(text: string): boolean;
	end(): Promise<void>;
};

export function createStdoutSink(stream: Writable = process.stdout): Sink {
	return createStreamSink(stream, 'stdout');
}

export function createStreamSink(stream: Writable, name: string): Sink {
	const sink = new EventEmitter() as Sink;
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

	sink.write = (text: string): boolean => {
		if (closed || stream.destroyed) {
			return true;
		}

		return stream.write(text);
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
