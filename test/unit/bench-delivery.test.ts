/**
 * The loader benchmark's check of the watched mixed workload's `modify` records
 * (scripts/bench-lib.mjs): a `modify` found by the periodic check may replace or add to the
 * one at close, and nothing else may make the count differ.
 */
import test from 'ava';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';
import {repoRoot} from './helpers.js';

type ModifiesOk = (want: number, total: number, byCheck: number) => boolean;

const load = async (): Promise<ModifiesOk> => {
	const lib = (await import(pathToFileURL(join(repoRoot, 'scripts/bench-lib.mjs')).href)) as {modifiesOk: ModifiesOk};
	return lib.modifiesOk;
};

test('every close reported, no check: exact', async (t) => {
	const modifiesOk = await load();
	t.true(modifiesOk(1000, 1000, 0));
});

test('a check that stood in for a close modify is accepted', async (t) => {
	const modifiesOk = await load();
	// one file written, checked, then closed with nothing new: 999 at close + 1 by the check
	t.true(modifiesOk(1000, 1000, 1));
});

test('a check on top of the close modify is accepted', async (t) => {
	const modifiesOk = await load();
	t.true(modifiesOk(1000, 1001, 1));
	t.true(modifiesOk(1000, 1002, 3));
});

test('a missing modify is caught, with or without checks', async (t) => {
	const modifiesOk = await load();
	t.false(modifiesOk(1000, 999, 0));
	t.false(modifiesOk(1000, 999, 1));
});

test('extra modifies not from the check are caught', async (t) => {
	const modifiesOk = await load();
	t.false(modifiesOk(1000, 1001, 0));
	t.false(modifiesOk(1000, 1003, 2));
});
