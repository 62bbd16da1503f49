import test from 'ava';
import {RestartPolicy} from '../../supervisor/src/restart-policy.js';

test('backoff doubles from 100 ms and stops at 30 s', t => {
	const policy = new RestartPolicy({maxCrashes: 100});
	const delays: number[] = [];
	let now = 0;
	for (let i = 0; i < 12; i++) {
		const decision = policy.onCrash(now, 0);
		t.is(decision.action, 'restart');
		if (decision.action === 'restart') {
			delays.push(decision.delayMs);
		}

		// Far enough apart that the crash window never fills.
		now += 61_000;
	}

	t.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000]);
});

test('a loader that ran for a stable minute starts the backoff over', t => {
	const policy = new RestartPolicy();
	policy.onCrash(0, 0);
	policy.onCrash(1000, 500);
	const third = policy.onCrash(2000, 500);
	t.like(third, {action: 'restart', delayMs: 400});
	const afterStable = policy.onCrash(70_000, 60_000);
	t.like(afterStable, {action: 'restart', delayMs: 100});
});

test('five crashes within a minute is a crash loop', t => {
	const policy = new RestartPolicy();
	const actions = [0, 100, 300, 700, 1500].map(time => policy.onCrash(time, 0).action);
	t.deepEqual(actions, ['restart', 'restart', 'restart', 'restart', 'give-up']);
});

test('crashes older than the window do not count', t => {
	const policy = new RestartPolicy({maxCrashes: 3, windowMs: 10_000});
	t.is(policy.onCrash(0, 0).action, 'restart');
	t.is(policy.onCrash(5000, 0).action, 'restart');
	t.is(policy.onCrash(16_000, 0).action, 'restart');
	t.is(policy.onCrash(17_000, 0).action, 'restart');
	t.is(policy.onCrash(18_000, 0).action, 'give-up');
});
