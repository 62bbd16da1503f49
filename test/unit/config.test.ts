import {writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {compileRoute, loadConfigFile, parseConfig} from '../../supervisor/src/config.js';
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
	t.is(config.sink.format, 'text');
	const route = compileRoute(config);
	t.true(route(event({})));
	t.false(route(event({path: '/etc/.hosts.swp'})));
	t.false(route(event({operation: 'add'})));
});

test('Fluent Bit names are accepted at the top level', t => {
	const config = parseConfig({inputs: {src: {type: 'whodata', paths: ['/etc']}}, filters: {}, outputs: {o: {type: 'stdout', inputs: ['src']}}});
	t.is(config.source.id, 'src');
	t.is(config.sink.format, 'json');
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
	t.throws(() => parseConfig({sources: {s: {type: 'whodata', coalesce_ms: -1}}}), {message: /coalesce_ms/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, sinks: {o: {type: 'stdout', inputs: ['s'], format: 'xml'}}}), {message: /unknown format "xml"/});
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
		{instanceOf: ConfigError, message: /config config: sinks\.out\.buffer\.max_events: expected a positive integer/});
	t.throws(() => parseConfig({sources: {s: {type: 'whodata'}}, data_dir: 7}), {message: /data_dir: expected a directory path/});
});
