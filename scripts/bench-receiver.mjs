#!/usr/bin/env node
// Receiver for the sink benchmark, in its own process so that it does not share fimctl's CPU
// time slice: `http` (answers 200 to every POST) or `fluent` (a forward input that acknowledges
// chunks). Prints its port, then the running event count every 100 ms.
import {createServer as createHttp} from 'node:http';
import {createServer as createTcp} from 'node:net';
import {gunzipSync} from 'node:zlib';
import {decodeMultiStream, encode} from '@msgpack/msgpack';

const mode = process.argv[2];
let count = 0;
let server;
if (mode === 'http') {
	server = createHttp((request, response) => {
		const chunks = [];
		request.on('data', chunk => chunks.push(chunk));
		request.on('end', () => {
			let body = Buffer.concat(chunks);
			if (request.headers['content-encoding'] === 'gzip') {
				body = gunzipSync(body);
			}

			for (let index = body.indexOf(10); index !== -1; index = body.indexOf(10, index + 1)) {
				count++;
			}

			response.writeHead(200).end();
		});
	});
} else if (mode === 'fluent') {
	server = createTcp(async socket => {
		socket.on('error', () => {});
		try {
			for await (const message of decodeMultiStream(socket)) {
				count += message[1].length;
				if (message[2]?.chunk) {
					socket.write(encode({ack: message[2].chunk}));
				}
			}
		} catch {}
	});
} else {
	process.stderr.write('usage: bench-receiver.mjs http|fluent\n');
	process.exit(2);
}

server.listen(0, '127.0.0.1', () => {
	process.stdout.write(`port ${server.address().port}\n`);
	setInterval(() => process.stdout.write(`count ${count}\n`), 100);
});
process.on('SIGTERM', () => process.exit(0));
