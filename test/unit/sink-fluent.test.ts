import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {parseSinkConfig, type FluentSinkConfig} from '../../supervisor/src/sink-config.js';
import {createFluentSink, fluentRecord} from '../../supervisor/src/sink-fluent.js';
import type {SinkEntry} from '../../supervisor/src/sinks.js';
import {ForwardServer} from './forward-server.js';
import {memoryDeliveryQueue, temporaryDirectory, waitUntil} from './helpers.js';

function config(fields: Record<string, unknown>): FluentSinkConfig {
	return parseSinkConfig('collector', {type: 'fluent', inputs: ['s'], ...fields}, 'sinks.collector', message => {
		throw new Error(message);
	}) as FluentSinkConfig;
}

function entries(prefix: string, count: number): SinkEntry[] {
	return Array.from({length: count}, (_, index) => {
		const digits = `17640900123456789${String(index).padStart(2, '0')}`;
		return {line: `{"timestamp":${digits},"operation":"modify","path":"/etc/${prefix}-${index}","pid":812}`, timestamp: Number(digits)};
	});
}

const queueFor = (sink: ReturnType<typeof createFluentSink>) => memoryDeliveryQueue(sink, {batchMaxEvents: 25, retryInitialMs: 20, retryMaxMs: 100});

const paths = (server: ForwardServer): string[] => server.events.map(event => event.record['path'] as string);

test('Forward mode with chunk acks: tag, EventTime and the exact 64-bit timestamp arrive', async t => {
	const server = new ForwardServer();
	const port = await server.listen();
	const sink = createFluentSink(config({address: `127.0.0.1:${port}`, tag: 'fim.test'}));
	await sink.send(entries('a', 3));
	t.is(server.events.length, 3);
	const [first] = server.events;
	t.is(first!.tag, 'fim.test');
	t.like(first!.time, {seconds: 1_764_090_012, nanoseconds: 345_678_900});
	t.is(first!.record['timestamp'], 1_764_090_012_345_678_900n);
	t.like(first!.record, {operation: 'modify', path: '/etc/a-0', pid: 812});
	t.like(server.options[0], {size: 3});
	t.is(server.chunks.length, 1);
	t.regex(server.chunks[0]!, /^[A-Za-z\d+/]{22}==$/);
	await sink.close();
	await server.close();
});

test('receiver down at start, dying before an ack, and back: at-least-once, order kept', async t => {
	const server = new ForwardServer();
	const port = await server.listen();
	await server.close();
	const sink = createFluentSink(config({address: `127.0.0.1:${port}`, request: {timeout_secs: 2}}));
	const queue = queueFor(sink);
	queue.enqueue(entries('a', 50));
	await waitUntil(() => queue.counters.retries_total >= 2);
	t.is(queue.counters.events_sent_total, 0);

	const back = new ForwardServer();
	await back.listen(port);
	await waitUntil(() => queue.counters.events_sent_total === 50);
	// It takes the next batch, then dies before acknowledging it.
	back.dieOnNextMessage = true;
	queue.enqueue(entries('b', 20));
	await waitUntil(() => queue.counters.events_sent_total === 70);
	t.true(back.connections >= 2, 'a new connection after the receiver hung up');
	t.deepEqual(paths(back), [...Array.from({length: 50}, (_, index) => `/etc/a-${index}`), ...Array.from({length: 20}, (_, index) => `/etc/b-${index}`)]);
	t.is(queue.counters.events_discarded_total, 0);
	await sink.close();
	await back.close();
});

test('no ack within the timeout: the batch is sent again on a new connection (a duplicate the receiver may see)', async t => {
	const server = new ForwardServer();
	server.acknowledge = false;
	const port = await server.listen();
	const sink = createFluentSink(config({address: `127.0.0.1:${port}`, request: {timeout_secs: 0.2}}));
	const queue = queueFor(sink);
	queue.enqueue(entries('a', 5));
	await waitUntil(() => server.events.length === 5);
	await waitUntil(() => queue.counters.retries_total >= 1);
	server.acknowledge = true;
	await waitUntil(() => queue.counters.events_sent_total === 5);
	t.true(server.events.length >= 10, 'sent at least twice');
	t.deepEqual(paths(server).slice(-5), Array.from({length: 5}, (_, index) => `/etc/a-${index}`));
	t.true(server.connections >= 2);
	await sink.close();
	await server.close();
});

test('TLS with a CA file; without acks a send completes on write', async t => {
	const directory = temporaryDirectory();
	const key = join(directory, 'key.pem');
	const cert = join(directory, 'cert.pem');
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], {stdio: 'ignore'});
	const server = new ForwardServer({key: readFileSync(key), cert: readFileSync(cert)});
	const port = await server.listen();
	const sink = createFluentSink(config({address: `127.0.0.1:${port}`, tls: {enabled: true, ca_file: cert}, ack: {enabled: false}}));
	await sink.send(entries('tls', 2));
	await waitUntil(() => server.events.length === 2);
	t.deepEqual(server.chunks, []);
	await sink.close();

	const untrusted = createFluentSink(config({address: `127.0.0.1:${port}`, tls: {enabled: true}}));
	await t.throwsAsync(untrusted.send(entries('x', 1)), {message: /self[- ]signed certificate/});
	await untrusted.close();
	await server.close();
});

test('records: a JSON line is its object, anything else is {message}', t => {
	t.deepEqual(fluentRecord('{"a":1}'), {a: 1});
	t.deepEqual(fluentRecord('2025-11-25T17:00:12.000Z modify /etc/hosts user=root'), {message: '2025-11-25T17:00:12.000Z modify /etc/hosts user=root'});
	t.deepEqual(fluentRecord('[1,2]'), {message: '[1,2]'});
});
