import {once} from 'node:events';
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import {gunzipSync} from 'node:zlib';
import test from 'ava';
import {parseSinkConfig, type HttpSinkConfig} from '../../supervisor/src/sink-config.js';
import {createHttpSink} from '../../supervisor/src/sink-http.js';
import type {SinkEntry} from '../../supervisor/src/sinks.js';
import {memoryDeliveryQueue, waitUntil} from './helpers.js';

/** An HTTP server in the test: records every request, answers as the test's handler says. */
type Request = {method: string; url: string; headers: IncomingMessage['headers']; body: string};

async function server(answer: (request: Request, index: number) => {status: number; body?: string} | 'hang'): Promise<{url: string; requests: Request[]; server: Server}> {
	const requests: Request[] = [];
	const http = createServer((request: IncomingMessage, response: ServerResponse) => {
		const chunks: Buffer[] = [];
		request.on('data', (chunk: Buffer) => chunks.push(chunk));
		request.on('end', () => {
			const raw = Buffer.concat(chunks);
			const body = request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
			const entry = {method: request.method!, url: request.url!, headers: request.headers, body};
			requests.push(entry);
			const reply = answer(entry, requests.length - 1);
			if (reply === 'hang') {
				return;
			}

			response.writeHead(reply.status, {'content-type': 'application/json'});
			response.end(reply.body ?? '');
		});
	});
	http.listen(0, '127.0.0.1');
	await once(http, 'listening');
	const {port} = http.address() as {port: number};
	return {url: `http://127.0.0.1:${port}`, requests, server: http};
}

function config(fields: Record<string, unknown>): HttpSinkConfig {
	return parseSinkConfig('out', {type: 'http', inputs: ['s'], ...fields}, 'sinks.out', message => {
		throw new Error(message);
	}) as HttpSinkConfig;
}

const entries = (count: number, prefix = 'e'): SinkEntry[] => Array.from({length: count}, (_, index) => ({line: JSON.stringify({id: `${prefix}${index}`})}));

test('NDJSON POSTs, gzipped, with custom headers, batched by size and time', async t => {
	const {url, requests, server: http} = await server(() => ({status: 200}));
	const sink = createHttpSink(config({uri: `${url}/ingest?x=1`, compression: 'gzip', request: {headers: {Authorization: 'Bearer s3cret'}}}));
	const queue = memoryDeliveryQueue(sink, {maxEvents: 1000, batchMaxEvents: 4, batchMaxBytes: 1 << 20, batchTimeoutMs: 200, retryInitialMs: 10, retryMaxMs: 100});
	queue.enqueue(entries(9));
	await waitUntil(() => queue.counters.events_sent_total === 8);
	t.is(requests.length, 2, 'two full batches leave at once');
	await waitUntil(() => queue.counters.events_sent_total === 9);
	t.is(requests.length, 3, 'the last one after the batch timeout');
	t.like(requests[0], {method: 'POST', url: '/ingest?x=1'});
	t.like(requests[0]!.headers, {authorization: 'Bearer s3cret', 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip'});
	t.deepEqual(requests.flatMap(request => request.body.trim().split('\n')).map(line => (JSON.parse(line) as {id: string}).id), Array.from({length: 9}, (_, index) => `e${index}`));
	await sink.close();
	http.close();
});

test('receiver down at start, 5xx and dying mid-stream: retried with backoff until delivered, in order, none lost', async t => {
	let healthy = false;
	const {url, requests, server: http} = await server((_request, index) => (healthy ? {status: 200} : {status: index % 2 === 0 ? 503 : 429}));
	const port = Number(new URL(url).port);
	http.close();
	await once(http, 'close');
	const sink = createHttpSink(config({uri: url}));
	const queue = memoryDeliveryQueue(sink, {maxEvents: 1000, batchMaxEvents: 10, batchMaxBytes: 1 << 20, batchTimeoutMs: 0, retryInitialMs: 10, retryMaxMs: 50});
	queue.enqueue(entries(25, 'a'));
	await waitUntil(() => queue.counters.retries_total >= 3);
	t.is(queue.counters.events_sent_total, 0, 'nothing sent while nobody listens');
	http.listen(port, '127.0.0.1');
	await waitUntil(() => requests.length >= 3);
	healthy = true;
	await waitUntil(() => queue.counters.events_sent_total === 25);
	const beforeDeath = requests.length;
	http.closeAllConnections();
	http.close();
	await once(http, 'close');
	queue.enqueue(entries(5, 'b'));
	const retriesBefore = queue.counters.retries_total;
	await waitUntil(() => queue.counters.retries_total >= retriesBefore + 2);
	http.listen(port, '127.0.0.1');
	await waitUntil(() => queue.counters.events_sent_total === 30);
	t.is(requests.length, beforeDeath + 1);
	const delivered = requests.filter((_request, index) => index >= requests.length - 4).flatMap(request => request.body.trim().split('\n'));
	t.deepEqual(delivered.map(line => (JSON.parse(line) as {id: string}).id), [...Array.from({length: 25}, (_, index) => `a${index}`), ...Array.from({length: 5}, (_, index) => `b${index}`)]);
	t.is(queue.counters.events_discarded_total, 0);
	await sink.close();
	http.close();
});

test('400 is refused for good (counted, not retried); a hung server times out and is retried', async t => {
	let hang = true;
	const {url, requests, server: http} = await server((request, index) => {
		if (index === 0) {
			return {status: 400, body: '{"error":"bad"}'};
		}

		if (hang) {
			hang = false;
			return 'hang';
		}

		return {status: 204};
	});
	const sink = createHttpSink(config({uri: url, request: {timeout_secs: 0.3}}));
	t.deepEqual(await sink.send(entries(3)), {rejected: 3, rejectedReason: `POST ${url}: HTTP 400: {"error":"bad"}`});
	await t.throwsAsync(sink.send(entries(1)), {message: /no answer within 0\.3 s/});
	t.is(await sink.send(entries(1)), undefined);
	t.is(requests.length, 3);
	await sink.close();
	http.closeAllConnections();
	http.close();
});

test('Elasticsearch _bulk: create actions for the index; per-document results retried or refused', async t => {
	let round = 0;
	const {url, requests, server: http} = await server(request => {
		const documents = request.body.trim().split('\n').filter((_line, index) => index % 2 === 1);
		round++;
		const items = documents.map((_document, index) => {
			if (round === 1 && index === 1) {
				return {create: {status: 429, error: {type: 'es_rejected_execution_exception', reason: 'queue full'}}};
			}

			if (round === 1 && index === 2) {
				return {create: {status: 400, error: {type: 'mapper_parsing_exception', reason: 'failed to parse field [file.inode]'}}};
			}

			return {create: {status: 201}};
		});
		return {status: 200, body: JSON.stringify({took: 1, errors: items.some(item => item.create.status >= 300), items})};
	});
	const sink = createHttpSink(config({uri: `${url}/_bulk`, mode: 'elasticsearch', index: 'fim-events'}));
	const queue = memoryDeliveryQueue(sink, {maxEvents: 1000, batchMaxEvents: 10, batchMaxBytes: 1 << 20, batchTimeoutMs: 0, retryInitialMs: 10, retryMaxMs: 50});
	const refused: string[] = [];
	queue.on('rejected', (_count: number, reason: string) => refused.push(reason));
	queue.enqueue(entries(4));
	await waitUntil(() => queue.counters.events_sent_total === 3);
	const lines = requests[0]!.body.trim().split('\n');
	t.is(lines.length, 8);
	t.deepEqual(JSON.parse(lines[0]!), {create: {_index: 'fim-events'}});
	t.deepEqual(JSON.parse(lines[1]!), {id: 'e0'});
	t.is(requests[0]!.url, '/_bulk');
	t.is(requests[1]!.body, `${JSON.stringify({create: {_index: 'fim-events'}})}\n${JSON.stringify({id: 'e1'})}\n`, 'only the 429 document is sent again');
	t.is(queue.counters.events_discarded_total, 1);
	t.deepEqual(refused, ['400 mapper_parsing_exception: failed to parse field [file.inode]']);
	await sink.close();
	http.close();
});
