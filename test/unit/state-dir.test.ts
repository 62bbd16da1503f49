import {chmodSync, mkdirSync, statSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {RuntimeError, UsageError} from '../../supervisor/src/errors.js';
import {prepareStateDirectory} from '../../supervisor/src/state-dir.js';
import {temporaryDirectory} from './helpers.js';

const mode = (path: string) => statSync(path).mode & 0o7777;

test('a new state directory is made private', t => {
	const path = join(temporaryDirectory('fim-sd-'), 'a', 'state');
	t.is(prepareStateDirectory(path), path);
	t.is(mode(path), 0o700);
});

test('an empty state directory, or one with only fimctl state in it, is made private', t => {
	for (const entries of [[], ['baseline.db', '.baseline-made', 'spool', 'baseline.db.damaged-1764000000000']]) {
		const path = temporaryDirectory('fim-sd-');
		for (const name of entries) {
			writeFileSync(join(path, name), '');
		}

		chmodSync(path, 0o755); // what systemd's StateDirectory= makes
		prepareStateDirectory(path);
		t.is(mode(path), 0o700, entries.join(' '));
	}
});

test('a shared directory, or one holding other files, is refused and left as it was', t => {
	const shared = temporaryDirectory('fim-sd-');
	chmodSync(shared, 0o1777);
	const error = t.throws(() => prepareStateDirectory(shared), {instanceOf: RuntimeError});
	t.regex(error.message, /is writable by other users: .* \(give --state-dir a new path\)$/);
	t.is(mode(shared), 0o1777);

	const project = temporaryDirectory('fim-sd-');
	mkdirSync(join(project, 'src'));
	writeFileSync(join(project, 'README.md'), '');
	chmodSync(project, 0o755);
	t.throws(() => prepareStateDirectory(project), {instanceOf: RuntimeError, message: /holds other files \(README\.md, src\)/});
	t.is(mode(project), 0o755);
});

test('an empty --state-dir is a usage error, not the current directory', t => {
	t.throws(() => prepareStateDirectory(''), {instanceOf: UsageError, message: '--state-dir: expected a directory path'});
});

test('a path that cannot be a directory says why, without a root hint that would not help', t => {
	const file = join(temporaryDirectory('fim-sd-'), 'file');
	writeFileSync(file, '');
	t.throws(() => prepareStateDirectory(join(file, 'state')), {instanceOf: RuntimeError, message: `cannot use the state directory ${file}/state: a file is in the way of the directory (use --state-dir)`});
});
