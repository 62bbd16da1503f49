/* The syscall tracepoints the shared programs serve (bpf/fim-hooks.h): each entry's number is
 * the x86_64 number of the syscall it names, so the program's dispatch and the loader's attach
 * agree, and no number or syscall id is listed twice. */
#include <linux/types.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include "fim.h"
#include "fim-hooks.h"
#include "test.h"

/* Syscalls newer than this build machine's headers; numbers from the kernel's syscall_64.tbl. */
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
#ifndef __NR_setxattrat
#define __NR_setxattrat 463
#endif
#ifndef __NR_removexattrat
#define __NR_removexattrat 466
#endif

struct entry {
	const char *name;
	long nr, header_nr;
	int sc;
};

#define ENTRY(name, nr, sc, ...) { #name, nr, __NR_##name, sc },
static const struct entry entries[] = {
	FIM_BY_NAME_HOOKS(ENTRY)
	FIM_RENAME_HOOKS(ENTRY)
	FIM_BY_FD_HOOKS(ENTRY)
};
#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

static void test_numbers_are_the_syscalls_named(void)
{
	for (size_t i = 0; i < N_ENTRIES; i++) {
		if (entries[i].nr != entries[i].header_nr)
			fprintf(stderr, "%s: %ld in fim-hooks.h, %ld in <sys/syscall.h>\n", entries[i].name,
				entries[i].nr, entries[i].header_nr);
		CHECK(entries[i].nr == entries[i].header_nr);
	}
}

static void test_nothing_listed_twice(void)
{
	for (size_t i = 0; i < N_ENTRIES; i++)
		for (size_t j = i + 1; j < N_ENTRIES; j++) {
			CHECK(entries[i].nr != entries[j].nr);
			CHECK(entries[i].sc != entries[j].sc);
			CHECK(strcmp(entries[i].name, entries[j].name) != 0);
		}
}

static void test_every_family_is_listed(void)
{
	/* 27 by name, 3 renames, 6 by fd: a lost line would leave its tracepoint without a program */
	CHECK(N_ENTRIES == 36);
	for (size_t i = 0; i < N_ENTRIES; i++)
		CHECK(entries[i].sc > 0 && entries[i].sc < FIM_SC_MAX);
}

int main(void)
{
	test_numbers_are_the_syscalls_named();
	test_nothing_listed_twice();
	test_every_family_is_listed();
	return t_done("test_fim_hooks");
}
