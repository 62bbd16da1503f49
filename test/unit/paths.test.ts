import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {UsageError} from '../../supervisor/src/errors.js';
import {normalizeWatchPaths} from '../../supervisor/src/paths.js';
import {temporaryDirectory} from './helpers.js';

test('relative, symlinked, nested and duplicate paths become one canonical list', t => {
	const root = temporaryDirectory();
	mkdirSync(join(root, 'a/b'), {recursive: true});
	writeFileSync(join(root, 'file'), '');
	symlinkSync(join(root, 'a'), join(root, 'link'));
	const notes: string[] = [];
	const paths = normalizeWatchPaths(['a/b', join(root, 'link'), join(root, 'a'), 'file', './file'], note => notes.push(note), root);
	t.deepEqual(paths, [join(root, 'a'), join(root, 'file')]);
	t.true(notes.some(note => note.includes('relative path "a/b" resolved to')));
	t.true(notes.some(note => note.includes('(symlink)')));
	t.true(notes.some(note => note.includes('is inside')));
	t.true(notes.some(note => note.includes('duplicate')));
});

test('a nonexistent path is a usage error in one line', t => {
	const error = t.throws(() => normalizeWatchPaths(['/nonexistent/fim'], () => {}), {instanceOf: UsageError});
	t.is(error?.message, 'cannot watch /nonexistent/fim: no such file or directory');
	t.is(error?.exitCode, 2);
	t.throws(() => normalizeWatchPaths([], () => {}), {instanceOf: UsageError, message: /no path to watch/});
});

test('allowAbsent: a path that does not exist is made canonical below the nearest directory that does', t => {
	const root = temporaryDirectory();
	mkdirSync(join(root, 'real'));
	symlinkSync(join(root, 'real'), join(root, 'link'));
	writeFileSync(join(root, 'file'), '');
	const notes: string[] = [];
	t.deepEqual(normalizeWatchPaths([join(root, 'link/.ssh/authorized_keys'), join(root, 'real/later')], message => notes.push(message), undefined, true), [
		join(root, 'real/later'),
		join(root, 'real/.ssh/authorized_keys'),
	]);
	t.true(notes.includes(`${join(root, 'real/.ssh/authorized_keys')} does not exist; it is watched from when it is made`), notes.join('\n'));
	t.throws(() => normalizeWatchPaths([`${root}/no/../x`], () => {}, undefined, true), {instanceOf: UsageError, message: `cannot watch ${root}/no/../x: it does not exist, and '.' or '..' in it name nothing yet`});
	t.throws(() => normalizeWatchPaths([join(root, 'file/x')], () => {}, undefined, true), {instanceOf: UsageError, message: /a parent is not a directory/});
	t.throws(() => normalizeWatchPaths([join(root, 'real/later')], () => {}), {instanceOf: UsageError, message: /no such file or directory/});
});

test('the root directory covers everything', t => {
	t.deepEqual(normalizeWatchPaths(['/', '/etc'], () => {}), ['/']);
});
