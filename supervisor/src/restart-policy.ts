/**
 * When to restart a dead loader and when to give up.
 *
 * Backoff: the first restart waits `initialMs`, each further one twice as long, up to `maxMs`.
 * A loader that ran for `stableMs` before dying counts as healthy again: the delay starts over.
 * Crash loop: `maxCrashes` deaths within `windowMs` end supervision.
 */
export type RestartPolicyOptions = {
	initialMs: number;
	maxMs: number;
	stableMs: number;
	maxCrashes: number;
	windowMs: number;
};

export const defaultRestartPolicy: RestartPolicyOptions = {
	initialMs: 100,
	maxMs: 30_000,
	stableMs: 60_000,
	maxCrashes: 5,
	windowMs: 60_000,
};

export type RestartDecision =
	| {action: 'restart'; delayMs: number; crashesInWindow: number}
	| {action: 'give-up'; crashesInWindow: number};

export class RestartPolicy {
	readonly options: RestartPolicyOptions;
	private nextDelay: number;
	private crashTimes: number[] = [];

	constructor(options: Partial<RestartPolicyOptions> = {}) {
		this.options = {...defaultRestartPolicy, ...options};
		this.nextDelay = this.options.initialMs;
	}

	/**
	 * @param now time of the crash (ms)
	 * @param ranMs how long the loader had been running (0 if it never said hello)
	 */
	onCrash(now: number, ranMs: number): RestartDecision {
		const {initialMs, maxMs, stableMs, maxCrashes, windowMs} = this.options;
		if (ranMs >= stableMs) {
			this.nextDelay = initialMs;
		}

		this.crashTimes = this.crashTimes.filter(time => now - time < windowMs);
		this.crashTimes.push(now);
		if (this.crashTimes.length >= maxCrashes) {
			return {action: 'give-up', crashesInWindow: this.crashTimes.length};
		}

		const delayMs = this.nextDelay;
		this.nextDelay = Math.min(this.nextDelay * 2, maxMs);
		return {action: 'restart', delayMs, crashesInWindow: this.crashTimes.length};
	}
}
