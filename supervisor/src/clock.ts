/**
 * Time as a dependency: the supervisor's restart and backoff logic takes a Clock so tests can
 * drive it step by step instead of sleeping.
 */
export type TimerHandle = {readonly id: number} | NodeJS.Timeout;

export type Clock = {
	/** Milliseconds since the Unix epoch. */
	now(): number;
	setTimeout(callback: () => void, ms: number): TimerHandle;
	clearTimeout(handle: TimerHandle): void;
};

export const systemClock: Clock = {
	now: () => Date.now(),
	// Not unref'd: a pending restart is exactly what must keep the process alive.
	setTimeout: (callback, ms) => setTimeout(callback, ms),
	clearTimeout(handle) {
		clearTimeout(handle as NodeJS.Timeout);
	},
};

type ManualTimer = {id: number; at: number; callback: () => void};

/** A clock that moves only when told to; timers fire in order of due time. */
export class ManualClock implements Clock {
	private current: number;
	private nextId = 1;
	private timers: ManualTimer[] = [];

	constructor(start = 1_764_000_000_000) {
		this.current = start;
	}

	now(): number {
		return this.current;
	}

	setTimeout(callback: () => void, ms: number): TimerHandle {
		const timer = {id: this.nextId++, at: this.current + Math.max(0, ms), callback};
		this.timers.push(timer);
		return {id: timer.id};
	}

	clearTimeout(handle: TimerHandle): void {
		const {id} = handle as {id: number};
		this.timers = this.timers.filter(timer => timer.id !== id);
	}

	/** Delays of the timers not yet fired, relative to now. */
	pending(): number[] {
		return this.timers.map(timer => timer.at - this.current).sort((a, b) => a - b);
	}

	advance(ms: number): void {
		const target = this.current + ms;
		for (;;) {
			const due = this.timers
				.filter(timer => timer.at <= target)
				.sort((a, b) => a.at - b.at || a.id - b.id)[0];
			if (!due) {
				break;
			}

			this.timers = this.timers.filter(timer => timer !== due);
			this.current = due.at;
			due.callback();
		}

		this.current = target;
	}
}
