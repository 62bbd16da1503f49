import type {Clock} from './clock.js';

/**
 * Logs the first occurrence, then at most one line per interval with the count of what it
 * held back, so a loader printing garbage cannot flood stderr.
 */
export class RateLimitedLog {
	private nextAt = Number.NEGATIVE_INFINITY;
	private suppressed = 0;

	constructor(private readonly clock: Clock, private readonly intervalMs: number, private readonly write: (message: string) => void) {}

	log(message: string): void {
		const now = this.clock.now();
		if (now < this.nextAt) {
			this.suppressed++;
			return;
		}

		this.nextAt = now + this.intervalMs;
		const held = this.suppressed > 0 ? ` (${this.suppressed} similar message(s) suppressed)` : '';
		this.suppressed = 0;
		this.write(message + held);
	}
}
