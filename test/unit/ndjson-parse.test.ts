import test from 'ava';
import {NdjsonParser, type MalformedLine} from '../../supervisor/src/ndjson-parse.js';

test('splits lines across chunk boundaries and keeps raw text', t => {
	const parser = new NdjsonParser();
	const first = parser.push(Buffer.from('{"a":1}\n{"b":'));
	const second = parser.push(Buffer.from('2}\n{"c":3}'));
	const third = parser.push(Buffer.from('\n'));
	t.deepEqual(first.map(line => line.value), [{a: 1}]);
	t.deepEqual(second.map(line => line.raw), ['{"b":2}']);
	t.deepEqual(third.map(line => line.value), [{c: 3}]);
});

test('a multi-byte character split between chunks is decoded whole', t => {
	const parser = new NdjsonParser();
	const bytes = Buffer.from('{"p":"é€😀"}\n');
	const lines = [...parser.push(bytes.subarray(0, 8)), ...parser.push(bytes.subarray(8))];
	t.is(lines[0]?.value['p'], 'é€😀');
});

test('garbage is counted and skipped, never thrown', t => {
	const malformed: MalformedLine[] = [];
	const parser = new NdjsonParser({onMalformed: item => malformed.push(item)});
	const lines = parser.push('not json\n[1]\nnull\n"s"\n{"ok":true}\n\n');
	t.deepEqual(lines.map(line => line.value), [{ok: true}]);
	t.deepEqual(malformed.map(item => item.reason), ['not JSON', 'not a JSON object', 'not a JSON object', 'not a JSON object']);
});

test('an overlong line is discarded up to its newline, and parsing resumes', t => {
	const malformed: MalformedLine[] = [];
	const parser = new NdjsonParser({maxLineLength: 32, onMalformed: item => malformed.push(item)});
	t.deepEqual(parser.push(`{"x":"${'a'.repeat(40)}`), []);
	t.deepEqual(parser.push('aaaa'), []);
	const lines = parser.push('aa"}\n{"after":1}\n');
	t.deepEqual(lines.map(line => line.value), [{after: 1}]);
	t.is(malformed.length, 1);
	t.regex(malformed[0]!.reason, /longer than 32/);
});

test('an unterminated last line is reported at end', t => {
	const malformed: MalformedLine[] = [];
	const parser = new NdjsonParser({onMalformed: item => malformed.push(item)});
	parser.push('{"a":1}\n{"half":');
	parser.end();
	t.is(malformed[0]?.reason, 'incomplete last line');
});

test('excerpts of hostile lines stay on one line', t => {
	const malformed: MalformedLine[] = [];
	const parser = new NdjsonParser({onMalformed: item => malformed.push(item)});
	parser.push('\u001B[2Jbad\r\u0007\n');
	t.false(/[\u0000-\u001F]/.test(malformed[0]!.excerpt));
});
