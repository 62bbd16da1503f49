#include "pacing.h"

void pacing_init(struct read_pacing *p, unsigned max_delay_us, unsigned busy_delay_us)
{
	*p = (struct read_pacing){
		.max_delay_us = max_delay_us,
		.busy_delay_us = busy_delay_us < max_delay_us ? max_delay_us : busy_delay_us,
		.interval_us = max_delay_us,
	};
}

void pacing_after_read(struct read_pacing *p, uint64_t now_ns, long records)
{
	if (records <= 0) {
		/* the timed read found nothing, or a spurious wake-up */
		p->draining = false;
		p->short_gaps = 0;
		p->interval_us = p->max_delay_us;
		return;
	}
	/* Two batches close together are no stream: a file created and written is a pair of
	 * records (the create at open, the modify at close) a few microseconds apart, and a timed
	 * read after such a pair would only find nothing, one wasted wake-up per new file. */
	if (now_ns - p->last_batch_ns < (uint64_t)p->max_delay_us * 1000)
		p->short_gaps++;
	else
		p->short_gaps = 0;
	if (p->short_gaps >= 2)
		p->draining = true;
	p->last_batch_ns = now_ns;

	if (!p->draining || records < PACING_HEAVY_BATCH)
		p->interval_us = p->max_delay_us;
	else if (p->interval_us * 2 < p->busy_delay_us)
		p->interval_us *= 2;
	else
		p->interval_us = p->busy_delay_us;
}

void pacing_keep_draining(struct read_pacing *p)
{
	p->draining = true;
}
