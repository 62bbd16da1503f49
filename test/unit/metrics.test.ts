/**
 * Gauges that follow the loader's records: the ring buffer's size (hello) and the most of it in
 * use during the last stats interval (stats `ringbuf_used_max_bytes`).
 */
import {EventEmitter} from 'node:events';
import test from 'ava';
import {Metrics} from '../../supervisor/src/metrics.js';
import type {WhoDataMonitor} from '../../supervisor/src/monitor.js';
import type {Pipeline} from '../../supervisor/src/pipeline.js';

function fakeMonitor(): WhoDataMonitor {
	const monitor = new EventEmitter() as EventEmitter & {counters: WhoDataMonitor['counters']; hello: unknown};
	monitor.counters = {
		events_received_total: 0, events_reconciled_total: 0, events_sent_total: 0, supervisor_records_sent_total: 0, events_discarded_total: 0, events_lost_total: 0, loader_restarts_total: 0,
		errors_total: {receiving: 0, processing: 0, sending: 0},
	};
	monitor.hello = undefined;
	return monitor as unknown as WhoDataMonitor;
}

const gauge = (text: string, name: string): number | undefined => {
	const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
	return match ? Number(match[1]) : undefined;
};

test('fim_ringbuf_used_bytes follows the last stats record, next to fim_ringbuf_size_bytes', async t => {
	const pipeline = Object.assign(new EventEmitter(), {sinks: []}) as unknown as Pipeline;
	const metrics = new Metrics(pipeline, 'whodata');
	const monitor = fakeMonitor();
	metrics.watch(monitor);
	t.is(gauge(await metrics.text(), 'fim_ringbuf_used_bytes'), 0, 'no stats record yet');

	monitor.emit('hello', {type: 'hello', ringbuf_bytes: 16_777_216});
	monitor.emit('stats', {type: 'stats', timestamp: 1, events: 10, ringbuf_used_max_bytes: 70_912});
	let text = await metrics.text();
	t.is(gauge(text, 'fim_ringbuf_size_bytes'), 16_777_216);
	t.is(gauge(text, 'fim_ringbuf_used_bytes'), 70_912);
	t.regex(text, /# TYPE fim_ringbuf_used_bytes gauge/);

	// a gauge: the next interval's figure replaces it, down as well as up
	monitor.emit('stats', {type: 'stats', timestamp: 2, events: 12, ringbuf_used_max_bytes: 0});
	text = await metrics.text();
	t.is(gauge(text, 'fim_ringbuf_used_bytes'), 0);

	// a loader without the field (an older one) reads as 0, not NaN
	monitor.emit('stats', {type: 'stats', timestamp: 3, events: 12});
	t.is(gauge(await metrics.text(), 'fim_ringbuf_used_bytes'), 0);
});

test('fim_events_sent_total counts events only, for the source and each sink; supervisor records have their own series', async t => {
	// the sink's queue counts records: 5 delivered, 2 of them supervisor records
	const sink = {config: {id: 'archive', type: 'file', buffer: {max_events: 10}}, queue: {counters: {events_received_total: 5, events_sent_total: 5, events_discarded_total: 0, errors_total: 0}, size: 0, bytes: 0, spoolBytes: 0}, supervisorLines: {delivered: 2}};
	const pipeline = Object.assign(new EventEmitter(), {sinks: [sink]}) as unknown as Pipeline;
	const metrics = new Metrics(pipeline, 'whodata');
	const monitor = fakeMonitor();
	Object.assign(monitor.counters, {events_received_total: 3, events_sent_total: 3, supervisor_records_sent_total: 2});
	metrics.watch(monitor);
	const text = await metrics.text();
	t.is(gauge(text, 'fim_events_sent_total\\{component_id="whodata",component_kind="source",component_type="whodata"\\}'), 3);
	t.is(gauge(text, 'fim_events_sent_total\\{component_id="archive",component_kind="sink",component_type="file"\\}'), 3);
	t.is(gauge(text, 'fim_supervisor_records_sent_total\\{component_id="whodata",component_kind="source",component_type="whodata"\\}'), 2);
	t.is(gauge(text, 'fim_supervisor_records_sent_total\\{component_id="archive",component_kind="sink",component_type="file"\\}'), 2);
});
