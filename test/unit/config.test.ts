import {writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {compileRoute, compileRoutes, loadConfigFile, parseConfig} from '../../supervisor/src/config.js';
import {ConfigError} from '../../supervisor/src/errors.js';
import type {KernelEventFields} from '../../supervisor/src/types.js';
import {temporaryDirectory} from './helpers.js';

const event = (fields: Partial<KernelEventFields>): KernelEventFields => ({
	timestamp: 1, operation: 'modify', path: '/etc/hosts', file_type: 'file', inode: 1, dev: '1:1', pid: 1, tid: 1, ppid: 0,
	uid: 0, gid: 0, euid: 0, egid: 0, auid: null, session_id: null, process_name: 'vi', exe: '/usr/bin/vi', syscall: 'write', cgroup_id: 1, source: 'kernel', ...fields,
});

test('a YAML pipeline with Vector vocabulary', t => {
	const directory = temporaryDirectory();
	const file = join(directory, 'fim.yaml');
	writeFileSync(file, `
sources:
  files:
    type: whodata
    paths: [/etc, /var/log]
    coalesce_ms: 500
    max_delay_us: 1000
    busy_delay_us: 4000
    sched_policy: keep
transforms:
  no_swap:
    type: filter
    inputs: [files]
    exclude_paths: ['**/*.swp']
  writes:
    type: filter
    inputs: [no_swap]
    operations: [modify, delete]
sinks:
  out:
    type: stdout
    inputs: [writes]
    format: text
`);
	const config = loadConfigFile(file);
	t.deepEqual(config.source.paths, ['/etc', '/var/log']);
	t.is(config.source.coalesce_ms, 500);
	t.is(config.source.max_delay_us, 1000);
	t.is(config.source.busy_delay_us, 4000);
	t.is(config.source.sched_policy, 'keep');
	t.is(config.sink.format, 'text');
	const route = compileRoute(config);
	t.true(route(event({})));
	t.false(route(event({path: '/etc/.hosts.swp'})));
	t.false(route(event({operation: 'add'})));
});

test('sched_policy is batch or keep; allow_absent true or false', t => {
	t.is(parseConfig({sources: {files: {type: 'whodata', sched_policy: 'batch'}}}).source.sched_policy, 'batch');
	t.is(parseConfig({sources: {files: {type: 'whodata'}}}).source.sched_policy, undefined);
	t.throws(() => parseConfig({sources: {files: {type: 'whodata', sched_policy: 'fifo'}}}), {message: /sources\.files\.sched_policy: expected one of batch, keep/});
	t.is(parseConfig({sources: {files: {type: 'whodata', allow_absent: true}}}).source.allow_absent, true);
	t.throws(() => parseConfig({sources: {files: {type: 'whodata', allow_absent: 'yes'}}}), {message: /sources\.files\.allow_absent: expected true or false/});
});

test('Fluent Bit names are accepted at the top level', t => {
	const config = parseConfig({inputs: {src: {type: 'whodata', paths: ['/etc']}}, filters: {}, outputs: {o: {type: 'stdout', inputs: ['src']}}});
	t.is(config.source.id, 'src');
	t.is(config.sink.type, 'stdout');
	// No format named: the --format flag's, else json.
	t.is(config.sink.format, undefined);
	// one section under two names: the message names both as written
	t.throws(() => parseConfig({inputs: {a: {type: 'whodata'}}, sources: {b: {type: 'whodata'}}}), {message: /'sources' repeats 'inputs': both are the sources section/});
});

test('unknown keys are rejected with their full name', t => {
	t.throws(() => parseConfig({sources: {s: {type: 'whodata', paths: []}}, transforms: {f: {type: 'filter', inputs: ['s'], exclude_path: ['x']}}}),
		{instanceOf: ConfigError, message: /unknown key 'transforms\.f\.exclude_path' \(did you mean 'exclude_paths'\?\)/});
	const error = t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, sinkz: {}}), {instanceOf: ConfigError});
	t.is(error?.key, 'sinkz');
	t.is(error?.exitCode, 2);
});

test('structural mistakes are usage errors', t => {
	t.throws(() => parseConfig({sources: {}}), {message: /exactly one source/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, sinks: {o: {type: 'stdout', inputs: ['nope']}}}), {message: /unknown component 'nope'/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, transforms: {a: {type: 'filter', inputs: ['b']}, b: {type: 'filter', inputs: ['a']}}, sinks: {o: {type: 'stdout', inputs: ['a']}}}), {message: /cycle/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, transforms: {a: {type: 'filter', inputs: ['s'], exclude_paths: ['[']}}}), {message: /bad glob/});
	t.throws(() => parseConfig({sources: {s: {type: 'kafka'}}}), {message: /unsupported source type "kafka"/});
	// a component without a type is told so, and what the types are
	t.throws(() => parseConfig({sources: {s: {paths: ['/etc']}}}), {message: /sources\.s\.type: missing \(a source is one of: whodata\)/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, transforms: {f: {inputs: ['s']}}}), {message: /transforms\.f\.type: missing \(a transform is one of: filter\)/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata', coalesce_ms: -1}}}), {message: /coalesce_ms/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, sinks: {o: {type: 'stdout', inputs: ['s'], format: 'xml'}}}), {message: /sinks\.o\.format: expected one of json, text, wazuh, ecs, got "xml"/});
	// stdout is one stream: a second sink there would get nothing
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, sinks: {a: {type: 'stdout', inputs: ['s']}, d: {type: 'stdout', inputs: ['s'], format: 'text'}}}), {message: /: sinks\.d: a second sink on stdout \(sinks\.a is one\)/});
});

test('loader tunables out of the loader\'s range are refused by the config, not at start', t => {
	const source = (fields: Record<string, unknown>) => ({sources: {w: {type: 'whodata', ...fields}}});
	t.throws(() => parseConfig(source({ringbuf_mb: 3})), {message: /sources\.w\.ringbuf_mb: expected a power of two from 1 to 1024, got 3/});
	t.throws(() => parseConfig(source({max_delay_us: 5})), {message: /sources\.w\.max_delay_us: expected an integer from 10 to 1000000, got 5/});
	t.throws(() => parseConfig(source({coalesce_ms: 99_999_999_999})), {message: /sources\.w\.coalesce_ms: expected an integer from 10 to 60000/});
	t.throws(() => parseConfig(source({stats_interval: 3601})), {message: /stats_interval/});
	t.like(parseConfig(source({ringbuf_mb: 64, max_delay_us: 10, busy_delay_us: 1_000_000, coalesce_ms: 60_000, stats_interval: 0})).source, {ringbuf_mb: 64, stats_interval: 0});
});

test('files that cannot be read or parsed say so in one line', t => {
	const directory = temporaryDirectory();
	t.throws(() => loadConfigFile(join(directory, 'missing.yaml')), {instanceOf: ConfigError, message: /cannot read: no such file/});
	const broken = join(directory, 'broken.json');
	writeFileSync(broken, '{"sources": ');
	t.throws(() => loadConfigFile(broken), {instanceOf: ConfigError, message: /not valid JSON/});
	const duplicate = join(directory, 'dup.yaml');
	writeFileSync(duplicate, 'sources: {}\nsources: {}\n');
	const error = t.throws(() => loadConfigFile(duplicate), {instanceOf: ConfigError, message: /not valid YAML/});
	t.false(error?.message.includes('\n'));
	const unclosed = join(directory, 'unclosed.yaml');
	writeFileSync(unclosed, 'sources:\n  w: {type: whodata, paths: [/tmp]\nsinks: [\n');
	// the parser's line ends with a colon before its excerpt of the file, which is left out
	t.throws(() => loadConfigFile(unclosed), {instanceOf: ConfigError, message: /at line 3, column 1$/});
});

test('several sinks, each with its own route, format and options', t => {
	const config = parseConfig({
		sources: {files: {type: 'whodata', paths: ['/etc']}},
		transforms: {deletes: {type: 'filter', inputs: ['files'], operations: ['delete']}},
		sinks: {
			everything: {type: 'stdout', inputs: ['files']},
			wazuh: {type: 'file', inputs: ['deletes'], format: 'wazuh', path: '/var/log/fim/wazuh.json', rotate: {max_bytes: '10M', keep: 3, compress: true}},
			collector: {type: 'fluent', inputs: ['files'], address: '127.0.0.1:24224', buffer: {max_events: 500, when_full: 'block'}},
			elastic: {type: 'http', inputs: ['files'], format: 'ecs', uri: 'https://es:9200/_bulk', mode: 'elasticsearch', compression: 'gzip', request: {headers: {Authorization: 'ApiKey x'}}},
			siem: {type: 'syslog', inputs: ['files'], mode: 'tcp', address: '[::1]:601', rfc: 3164, facility: 'auth'},
		},
	});
	t.deepEqual(config.sinks.map(sink => sink.id), ['everything', 'wazuh', 'collector', 'elastic', 'siem']);
	t.like(config.sinks[1], {type: 'file', format: 'wazuh', path: '/var/log/fim/wazuh.json', rotate: {max_bytes: 10 * 1024 * 1024, keep: 3, compress: true}, buffer: {when_full: 'drop_newest'}});
	t.like(config.sinks[2], {type: 'fluent', tag: 'fim.whodata', ack: true, buffer: {max_events: 500, when_full: 'block'}});
	t.like(config.sinks[3], {type: 'http', mode: 'elasticsearch', compression: 'gzip', request: {headers: {Authorization: 'ApiKey x'}}, batch: {timeout_secs: 1}});
	t.like(config.sinks[4], {type: 'syslog', mode: 'tcp', rfc: '3164', facility: 'auth', severity: 'notice', framing: 'octet_counting'});
	t.like(config.sinks[0], {buffer: {type: 'disk', when_full: 'drop_newest'}});
	const routes = compileRoutes(config);
	t.true(routes.get('everything')!(event({})));
	t.false(routes.get('wazuh')!(event({})));
	t.true(routes.get('wazuh')!(event({operation: 'delete'})));
	t.true(compileRoute(config)(event({})));
});

test('sink options are checked: unknown keys, missing addresses, bad sizes and values', t => {
	const sink = (fields: Record<string, unknown>) => () => parseConfig({sources: {s: {type: 'whodata'}}, sinks: {o: {inputs: ['s'], ...fields}}});
	t.throws(sink({type: 'kafka'}), {message: /sinks\.o\.type: unsupported sink type "kafka" \(supported: stdout, file, syslog, http, fluent\)/});
	t.throws(sink({}), {message: /sinks\.o\.type: missing \(a sink is one of: stdout, file, syslog, http, fluent\)/});
	t.throws(sink({type: 'file'}), {message: /a file sink needs 'path'/});
	t.throws(sink({type: 'fluent', address: 'localhost'}), {message: /sinks\.o\.address: expected host:port/});
	t.throws(sink({type: 'file', path: '/x', rotate: {max_bytes: 'lots'}}), {message: /rotate\.max_bytes: expected a size/});
	t.throws(sink({type: 'file', path: '/x', rotate: {keep: 2}}), {message: /give max_bytes, max_age_secs or both/});
	t.throws(sink({type: 'file', path: '/x', rotate: {}}), {message: /sinks\.o\.rotate: give max_bytes, max_age_secs or both/});
	t.throws(sink({type: 'http', uri: 'ftp://x'}), {message: /expected an http:\/\/ or https:\/\/ URL/});
	t.throws(sink({type: 'stdout', buffer: {max_event: 5}}), {message: /unknown key 'sinks\.o\.buffer\.max_event' \(did you mean 'buffer\.max_events'\?\)/});
	t.throws(sink({type: 'stdout', buffer: {when_full: 'drop_oldest'}}), {message: /expected one of block, drop_newest/});
	t.throws(sink({type: 'syslog', address: '127.0.0.1:514', severity: 'loud'}), {message: /severity: expected one of/});
});

test('a sink\'s buffer and the data_dir use Vector\'s words', t => {
	const config = parseConfig({
		data_dir: '/srv/fim-state',
		sources: {s: {type: 'whodata', paths: ['/etc']}},
		sinks: {out: {type: 'stdout', inputs: ['s'], buffer: {type: 'disk', max_events: 500, max_size: 1_048_576, when_full: 'block'}}},
	});
	t.is(config.data_dir, '/srv/fim-state');
	t.deepEqual(config.sink.buffer, {type: 'disk', max_events: 500, max_size: 1_048_576, when_full: 'block'});
	t.like(parseConfig({sources: {s: {type: 'whodata'}}}).sink.buffer, {type: 'disk', max_events: 10_000, when_full: 'drop_newest'});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, sinks: {out: {type: 'stdout', inputs: ['s'], buffer: {max_events: -1}}}}),
		{instanceOf: ConfigError, message: /config config: sinks\.out\.buffer\.max_events: expected an integer of at least 1, got -1/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, data_dir: 7}), {message: /data_dir: expected a directory path/});
});
