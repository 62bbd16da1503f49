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

test('the root directory covers everything', t => {
	t.deepEqual(normalizeWatchPaths(['/', '/etc'], () => {}), ['/']);
});
