// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bpf-lines PROG_ID...: where each source line of loaded BPF programs starts in the JIT's code,
 * one line per line-info record: "address<TAB>program<TAB>file:line<TAB>source text".
 *
 * scripts/bpf-line-profile.mjs maps perf's samples in bpf_prog_* symbols to source lines with it.
 * The kernel keeps the JIT address of every line-info record (jited_line_info); bpftool prints
 * them only with a disassembler built in, and perf annotates BPF only when linked with
 * libopcodes, neither of which Debian's builds have.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int print_lines(__u32 id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);
	int err = 0;

	if (fd < 0) {
		fprintf(stderr, "bpf-lines: program %u: %s\n", id, strerror(errno));
		return -1;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "bpf-lines: program %u: %s\n", id, strerror(errno));
		close(fd);
		return -1;
	}
	if (!info.nr_line_info || info.nr_line_info != info.nr_jited_line_info || !info.btf_id) {
		/* no BTF line info (or not JIT-compiled): nothing to map, not an error */
		close(fd);
		return 0;
	}

	__u32 n = info.nr_line_info, line_rec = info.line_info_rec_size, jited_rec = info.jited_line_info_rec_size;
	char name[sizeof(info.name)];
	void *lines = calloc(n, line_rec);
	void *jited = calloc(n, jited_rec);
	struct btf *btf = NULL;

	memcpy(name, info.name, sizeof(name));
	memset(&info, 0, sizeof(info));
	info.nr_line_info = n;
	info.line_info_rec_size = line_rec;
	info.line_info = (__u64)(unsigned long)lines;
	info.nr_jited_line_info = n;
	info.jited_line_info_rec_size = jited_rec;
	info.jited_line_info = (__u64)(unsigned long)jited;
	len = sizeof(info);
	if (!lines || !jited || bpf_obj_get_info_by_fd(fd, &info, &len) ||
	    !(btf = btf__load_from_kernel_by_id(info.btf_id))) {
		fprintf(stderr, "bpf-lines: program %u: %s\n", id, strerror(errno));
		err = -1;
		goto out;
	}
	for (__u32 i = 0; i < n; i++) {
		const struct bpf_line_info *l = (const void *)((char *)lines + i * line_rec);
		__u64 address = *(const __u64 *)((char *)jited + i * jited_rec);
		const char *file = btf__name_by_offset(btf, l->file_name_off);
		const char *text = btf__name_by_offset(btf, l->line_off);

		while (text && (*text == ' ' || *text == '\t'))
			text++;
		printf("%llx\t%s\t%s:%u\t%s\n", (unsigned long long)address, name, file ? base_name(file) : "?",
		       BPF_LINE_INFO_LINE_NUM(l->line_col), text ? text : "");
	}
out:
	btf__free(btf);
	free(lines);
	free(jited);
	close(fd);
	return err;
}

int main(int argc, char **argv)
{
	int err = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: bpf-lines PROG_ID...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (print_lines((__u32)strtoul(argv[i], NULL, 10)))
			err = 1;
	return err;
}
