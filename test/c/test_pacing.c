/* When the loader reads the ring: quiet streams by wake-up, busy ones by the clock, heavy ones
 * at intervals that grow to the busy delay and fall back as soon as a batch is light. */
#include "pacing.h"
#include "test.h"

#define US 1000ull

/* Reads `n` batches of `records` each, `gap_us` apart, from *now. */
static void reads(struct read_pacing *p, uint64_t *now, int n, unsigned gap_us, long records)
{
	for (int i = 0; i < n; i++) {
		*now += gap_us * US;
		pacing_after_read(p, *now, records);
	}
}

static void test_quiet_and_busy(void)
{
	struct read_pacing p;
	uint64_t now = 1000000 * US;

	pacing_init(&p, 250, 1000);
	CHECK(!p.draining && p.interval_us == 250 && pacing_wakeup_gap_ns(&p) == 375000);

	/* a created file's pair of batches, then nothing: still quiet */
	reads(&p, &now, 2, 10, 1);
	CHECK(!p.draining);
	/* batches further apart than one max delay never make a stream busy */
	reads(&p, &now, 10, 300, 1);
	CHECK(!p.draining);
	/* three in a row within one max delay do */
	reads(&p, &now, 3, 200, 1);
	CHECK(p.draining && p.interval_us == 250);
	/* a light busy stream stays at the max delay */
	reads(&p, &now, 20, 250, PACING_HEAVY_BATCH - 1);
	CHECK(p.draining && p.interval_us == 250);
	/* a read that finds nothing makes it quiet */
	reads(&p, &now, 1, 250, 0);
	CHECK(!p.draining && p.interval_us == 250);
	/* so does an error of the read */
	reads(&p, &now, 3, 100, 1);
	CHECK(p.draining);
	reads(&p, &now, 1, 100, -4);
	CHECK(!p.draining);
}

static void test_heavy_stream(void)
{
	struct read_pacing p;
	uint64_t now = 1000000 * US;

	pacing_init(&p, 250, 1000);
	/* heavy batches before the stream is known to be busy do not stretch anything: a lone
	 * big batch (a burst, the fill threshold) is read again in one max delay */
	reads(&p, &now, 1, 5000, 500);
	CHECK(!p.draining && p.interval_us == 250);
	reads(&p, &now, 2, 100, 500);
	CHECK(p.draining && p.interval_us == 500);
	reads(&p, &now, 1, 500, 500);
	CHECK(p.interval_us == 1000 && pacing_wakeup_gap_ns(&p) == 1500000);
	/* capped at the busy delay, and the stream stays busy though its reads are now further
	 * apart than one max delay */
	reads(&p, &now, 10, 1000, 500);
	CHECK(p.draining && p.interval_us == 1000);
	/* one light batch brings it back to the max delay at once */
	reads(&p, &now, 1, 1000, PACING_HEAVY_BATCH - 1);
	CHECK(p.draining && p.interval_us == 250);
	reads(&p, &now, 1, 250, PACING_HEAVY_BATCH);
	CHECK(p.interval_us == 500);
	/* and quiet puts it back too */
	reads(&p, &now, 1, 500, 0);
	CHECK(!p.draining && p.interval_us == 250);
}

static void test_limits(void)
{
	struct read_pacing p;
	uint64_t now = 1000000 * US;

	/* a busy delay that is not a power-of-two multiple is still reached, not overshot */
	pacing_init(&p, 300, 1000);
	reads(&p, &now, 3, 100, 100);
	CHECK(p.interval_us == 600);
	reads(&p, &now, 1, 600, 100);
	CHECK(p.interval_us == 1000);
	reads(&p, &now, 1, 1000, 100);
	CHECK(p.interval_us == 1000);

	/* busy delay equal to the max delay: no growth at all */
	pacing_init(&p, 250, 250);
	reads(&p, &now, 10, 100, 1000);
	CHECK(p.draining && p.interval_us == 250);

	/* a busy delay below the max delay is raised to it */
	pacing_init(&p, 800, 100);
	CHECK(p.busy_delay_us == 800);

	/* the largest values do not overflow the gap */
	pacing_init(&p, 1000000, 1000000);
	CHECK(pacing_wakeup_gap_ns(&p) == 1500000000ull);
}

int main(void)
{
	test_quiet_and_busy();
	test_heavy_stream();
	test_limits();
	return t_done("test_pacing");
}
