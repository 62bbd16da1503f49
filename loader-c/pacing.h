/*
 * When the loader reads the ring buffer (docs/protocol.md, "Command line", --max-delay-us and
 * --busy-delay-us). A pure state machine: main.c reads the ring, tells it what the read found,
 * and sleeps as it says.
 *
 *  - quiet: the loader sleeps until a record wakes it (the kernel does, record by record);
 *  - busy (three batches in a row, each within one max delay of the one before): it reads again
 *    by its own timer, woken by nobody, every `interval_us`. That starts at the max delay and
 *    doubles, up to the busy delay, while each read finds a heavy batch: a wake-up costs the
 *    loader ~20 us of scheduling here whatever it finds, so under a heavy stream fewer, larger
 *    batches leave more CPU to the tasks making the changes. A lighter batch puts it back to
 *    the max delay, so a moderate stream keeps its latency;
 *  - a timed read that finds nothing makes the stream quiet again.
 */
#ifndef FIM_PACING_H
#define FIM_PACING_H

#include <stdbool.h>
#include <stdint.h>

/* A read finding at least this many records is a heavy batch: its wake-up costs less than a
 * tenth of formatting them (~0.4 us a record). 32 records in 250 us is 128,000 events/s. */
#define PACING_HEAVY_BATCH 32

struct read_pacing {
	unsigned max_delay_us;  /* --max-delay-us */
	unsigned busy_delay_us; /* --busy-delay-us, at least max_delay_us */
	bool draining;          /* read again `interval_us` after the last read, by the clock */
	unsigned interval_us;   /* the timed read's delay while draining */
	unsigned short_gaps;    /* batches in a row that came within one max delay of the previous */
	uint64_t last_batch_ns; /* when the last read that found records was made */
};

void pacing_init(struct read_pacing *p, unsigned max_delay_us, unsigned busy_delay_us);

/* A read made at now_ns (any monotonic clock) found `records` records. */
void pacing_after_read(struct read_pacing *p, uint64_t now_ns, long records);

/* A stream that kept coming while the loader announced it would sleep: read it by the clock. */
void pacing_keep_draining(struct read_pacing *p);

/* How long the kernel lets a read be late before it wakes the loader: half a read interval
 * beyond it. At exactly one interval the programs beat the timer (its slack, the batch's own
 * time) to nearly every read of a busy stream, each wake-up an interrupt in the task making
 * the change. */
static inline uint64_t pacing_gap_for(unsigned interval_us)
{
	return (uint64_t)interval_us * 1500;
}

static inline uint64_t pacing_wakeup_gap_ns(const struct read_pacing *p)
{
	return pacing_gap_for(p->interval_us);
}

#endif
