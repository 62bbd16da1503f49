import test from 'ava';
import {UsageError} from '../../supervisor/src/errors.js';
import {sinkFromUrl} from '../../supervisor/src/sink-url.js';

test('each scheme gives its sink type, options from the query', t => {
	t.like(sinkFromUrl('stdout', 1, ['s']), {id: 'sink1', type: 'stdout', inputs: ['s']});
	t.like(sinkFromUrl('stdout?format=text&buffer.when_full=drop_newest', 1, ['s']), {type: 'stdout', format: 'text', buffer: {when_full: 'drop_newest'}});
	t.like(sinkFromUrl('file:///var/log/fim%20x/events.json?format=wazuh&rotate.max_bytes=100M&rotate.keep=3&rotate.compress=true', 2, ['s']),
		{id: 'sink2', type: 'file', path: '/var/log/fim x/events.json', format: 'wazuh', rotate: {max_bytes: 100 * 1024 * 1024, keep: 3, compress: true}});
	t.like(sinkFromUrl('syslog://127.0.0.1:514', 1, ['s']), {type: 'syslog', mode: 'udp', address: '127.0.0.1:514', rfc: '5424'});
	t.like(sinkFromUrl('syslog+tcp://[::1]:601?rfc=3164&framing=newline&id=siem', 1, ['s']), {id: 'siem', type: 'syslog', mode: 'tcp', address: '[::1]:601', rfc: '3164', framing: 'newline'});
	t.like(sinkFromUrl('syslog+unix:///dev/log', 1, ['s']), {type: 'syslog', mode: 'unix', path: '/dev/log'});
	t.like(sinkFromUrl('fluent://127.0.0.1:24224?tag=fim&buffer.max_events=500&buffer.when_full=block', 1, ['s']),
		{type: 'fluent', address: '127.0.0.1:24224', tag: 'fim', ack: true, tls: {enabled: false}, buffer: {max_events: 500, when_full: 'block'}});
	t.like(sinkFromUrl('fluent+tls://collector:24224?ack.enabled=false', 1, ['s']), {type: 'fluent', ack: false, tls: {enabled: true}});
});

test('http keeps query keys that are not sink options in the URL it posts to; headers and filters', t => {
	const sink = sinkFromUrl('https://es:9200/_bulk?pipeline=fim&mode=elasticsearch&index=fim&compression=gzip&request.headers.Authorization=ApiKey%20abc&operations=add,delete&exclude_paths=**/*.swp&exclude_paths=**/*~', 1, ['s']);
	t.like(sink, {type: 'http', uri: 'https://es:9200/_bulk?pipeline=fim', mode: 'elasticsearch', index: 'fim', compression: 'gzip', request: {headers: {Authorization: 'ApiKey abc'}}});
	t.deepEqual(sink.filter, {operations: ['add', 'delete'], exclude_paths: ['**/*.swp', '**/*~']});
});

test('mistakes are usage errors naming the flag', t => {
	const cases: Array<[string, RegExp]> = [
		['kafka://x:1', /unknown sink scheme 'kafka'/],
		['not a url', /not a sink URL/],
		['stdout:x', /stdout takes no address/],
		['stdout://host', /stdout takes no address/],
		['fluent://127.0.0.1:24224?buffer.max_events=lots', /--sink fluent:\/\/127\.0\.0\.1:24224\?buffer\.max_events=lots: buffer\.max_events: expected an integer/],
		['fluent://127.0.0.1:24224?colour=red', /unknown key '.*colour'/],
		['syslog://127.0.0.1', /expected host:port/],
		['file:///x?rotate.compress=yes', /rotate\.compress: expected true or false/],
		['file://var/log/x.json', /a file URL takes an absolute path after three slashes \(file:\/\/\/PATH\), not a host \("var"\)/],
		['stdout?format=xml', /--sink stdout\?format=xml: format: expected one of json, text, wazuh, ecs, got "xml"/],
		['fluent://127.0.0.1:24224?operations=write', /unknown operation "write"/],
	];
	for (const [url, pattern] of cases) {
		t.throws(() => sinkFromUrl(url, 1, ['s']), {instanceOf: UsageError, message: pattern}, url);
	}
});
