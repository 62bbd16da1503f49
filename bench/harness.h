// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#ifndef FIM_BENCH_HARNESS_H
#define FIM_BENCH_HARNESS_H

/* `workload harness ...`: argv starts at the harness's own options (see harness.c) */
int harness_main(int argc, char **argv);

#endif
