import type {Writable} from 'node:stream';
import {errorText, joinLines, SinkError, type Sink, type SinkEntry} from './sinks.js';

/**
 * stdout, or any writable stream. A send resolves when the stream has taken the text, so a slow
 * reader (a pipe into fluent-bit) holds the queue, whose `block` policy then pauses the loader.
 * A reader that goes away (EPIPE: `fimctl start | head`) ends the sink as "closed by its reader".
 */
export function createStreamSink(id: string, stream: Writable = process.stdout, name = 'stdout'): Sink {
	let failure: SinkError | undefined;
	const classify = (error: NodeJS.ErrnoException): SinkError => {
		failure ??= error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED'
			? new SinkError(`${name} was closed by its reader`, {retryable: false, closedByReader: true, cause: error})
			: new SinkError(`cannot write to ${name}: ${errorText(error)}`, {retryable: false, cause: error});
		return failure;
	};

	// Without a listener a stream error would be thrown; the failed write reports it.
	stream.on('error', classify);
	return {
		id,
		type: 'stdout',
		target: name,
		async send(entries: readonly SinkEntry[]): Promise<void> {
			await new Promise<void>((resolve, reject) => {
				if (failure || stream.destroyed) {
					reject(failure ?? classify(Object.assign(new Error('stream destroyed'), {code: 'ERR_STREAM_DESTROYED'})));
					return;
				}

				stream.write(joinLines(entries), error => {
					if (error) {
						reject(classify(error));
					} else {
						resolve();
					}
				});
			});
		},
		async close(): Promise<void> {},
	};
}
