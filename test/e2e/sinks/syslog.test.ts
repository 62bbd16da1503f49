import {existsSync} from 'node:fs';
import test from 'ava';
import {parseSinkConfig, type SyslogSinkConfig} from '../../../supervisor/src/sink-config.js';
import {createSyslogSink, structuredDataId} from '../../../supervisor/src/sink-syslog.js';
import type {SinkEntry} from '../../../supervisor/src/sinks.js';
import type {WhoDataEvent} from '../../../supervisor/src/types.js';
import {memoryDeliveryQueue, waitUntil} from '../../unit/helpers.js';
import {freePort, Rsyslog, rsyslogd} from './rsyslog.js';

/**
 * The syslog sink against a real rsyslogd (Debian's, installed by scripts/setup.sh), started by
 * the test on free loopback ports with its own config: RFC 5424 and 3164, over TCP, UDP and a
 * unix datagram socket, a receiver down at start, and one that dies mid-stream and comes back.
 */

const required = process.env['CI'] === 'true' || process.env['FIM_E2E_REQUIRED'] === '1';
const available = existsSync(rsyslogd);
const syslogTest = available ? test.serial : required ? test.serial : test.serial.skip;

function config(fields: Record<string, unknown>): SyslogSinkConfig {
	return parseSinkConfig('siem', {type: 'syslog', inputs: ['s'], ...fields}, 'sinks.siem', message => {
		throw new Error(message);
	}) as SyslogSinkConfig;
}

function events(prefix: string, count: number): SinkEntry[] {
	return Array.from({length: count}, (_, index) => {
		const record = {timestamp: 1_764_090_012_345_678_000 + index, operation: 'modify', path: `/etc/${prefix}-${index}`, pid: 812, uid: 0, auid: 1000, user_name: 'root', login_user: 'alice', exe: '/usr/bin/vim'} as unknown as WhoDataEvent;
		// A JSON line as the json format writes it: the structured data comes from its fields.
		return {line: JSON.stringify({...record, note: 'quote " bracket ] backslash \\'}), timestamp: record.timestamp};
	});
}

// RFC 3164 leaves the space after the tag's colon in the MSG.
const messages = (lines: string[]): string[] => lines.map(line => line.split('|').slice(4).join('|').replace(/^ /, ''));

syslogTest('RFC 5424 over TCP: receiver down at start, dying mid-stream and back: every event once, in order', async t => {
	t.true(available, `${rsyslogd} is missing (scripts/setup.sh installs rsyslog)`);
	const receiver = new Rsyslog(await freePort('tcp'), await freePort('udp'));
	const sink = createSyslogSink(config({mode: 'tcp', address: `127.0.0.1:${receiver.tcpPort}`, structured_data: true}), {host: 'web1', pid: 4242});
	const queue = memoryDeliveryQueue(sink, {maxEvents: 10_000, batchMaxEvents: 50, batchMaxBytes: 1 << 20, batchTimeoutMs: 0, retryInitialMs: 50, retryMaxMs: 200});
	try {
		const first = events('first', 100);
		queue.enqueue(first);
		await new Promise(resolve => {
			setTimeout(resolve, 300);
		});
		t.true(queue.counters.retries_total > 0, 'the receiver was down: sends were retried');
		t.is(queue.size, 100);
		await receiver.start();
		await waitUntil(() => receiver.lines().length >= 100);

		await receiver.stop();
		// The sink notices the closed connection before its next send.
		await new Promise(resolve => {
			setTimeout(resolve, 200);
		});
		const second = events('second', 100);
		queue.enqueue(second);
		await new Promise(resolve => {
			setTimeout(resolve, 300);
		});
		await receiver.start();
		await waitUntil(() => receiver.lines().length >= 200);
		await new Promise(resolve => {
			setTimeout(resolve, 300);
		});

		const lines = receiver.lines();
		t.deepEqual(messages(lines), [...first, ...second].map(entry => entry.line), 'every event once, in order');
		const [input, app, msgid, data] = lines[0]!.split('|');
		t.is(input, 'imtcp');
		t.is(app, 'fim-whodata');
		t.is(msgid, 'modify');
		t.is(data, `[${structuredDataId} operation="modify" path="/etc/first-0" pid="812" uid="0" auid="1000" user_name="root" login_user="alice" exe="/usr/bin/vim"]`);
		t.is(queue.counters.events_sent_total, 200);
	} finally {
		queue.stop();
		await sink.close();
		await receiver.stop();
	}
});

syslogTest('RFC 3164 over UDP and newline-framed TCP', async t => {
	t.true(available, `${rsyslogd} is missing`);
	const receiver = new Rsyslog(await freePort('tcp'), await freePort('udp'));
	await receiver.start();
	const udp = createSyslogSink(config({mode: 'udp', address: `127.0.0.1:${receiver.udpPort}`, rfc: '3164', facility: 'auth'}), {host: 'web1', pid: 4242});
	const tcp = createSyslogSink(config({mode: 'tcp', address: `127.0.0.1:${receiver.tcpPort}`, framing: 'newline'}), {host: 'web1', pid: 4242});
	try {
		const sent = events('udp', 20);
		await udp.send(sent);
		await waitUntil(() => receiver.lines().length >= 20);
		await tcp.send(events('tcp', 5));
		await waitUntil(() => receiver.lines().length >= 25);
		const lines = receiver.lines();
		const fromUdp = lines.filter(line => line.startsWith('imudp|'));
		t.deepEqual(messages(fromUdp), sent.map(entry => entry.line));
		t.is(fromUdp[0]!.split('|')[1], 'fim-whodata');
		t.is(lines.filter(line => line.startsWith('imtcp|')).length, 5);
	} finally {
		await udp.close();
		await tcp.close();
		await receiver.stop();
	}
});

syslogTest('the local datagram socket (unix), as /dev/log is', async t => {
	t.true(available, `${rsyslogd} is missing`);
	const receiver = new Rsyslog(await freePort('tcp'), await freePort('udp'));
	await receiver.start();
	const sink = createSyslogSink(config({mode: 'unix', path: receiver.socketPath}), {host: 'web1', pid: 4242});
	try {
		const sent = events('unix', 200);
		const queue = memoryDeliveryQueue(sink, {maxEvents: 10_000, batchMaxEvents: 100, batchMaxBytes: 1 << 20, batchTimeoutMs: 0, retryInitialMs: 50, retryMaxMs: 200});
		queue.enqueue(sent);
		await waitUntil(() => receiver.lines().length >= 200);
		const lines = receiver.lines();
		t.true(lines.every(line => line.startsWith('imuxsock|fim-whodata|')), lines[0]);
		t.deepEqual(messages(lines), sent.map(entry => entry.line));
	} finally {
		await sink.close();
		await receiver.stop();
	}
});
