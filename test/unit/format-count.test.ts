import test from 'ava';
import {groupThousands} from '../../supervisor/src/format-count.js';

test('groups thousands as the en-US number format does', t => {
	const values = [0, 7, 999, 1000, 1234, 99_999, 100_000, 1_234_567, 2_500_000_000, 9_007_199_254_740_991, -1, -1234, -1_000_000, 0.5, 1234.5, 2492.123_456, -0.25, 1e15 + 0.5];
	for (const value of values) {
		t.is(groupThousands(value), value.toLocaleString('en-US'), String(value));
	}
});

test('says what is not a finite number as it is', t => {
	t.is(groupThousands(Number.NaN), 'NaN');
	t.is(groupThousands(Number.POSITIVE_INFINITY), 'Infinity');
});
