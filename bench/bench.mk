# Benchmarks, included by the top-level Makefile (which defines BUILD, CLANG, BPFTOOL, CC and the
# rules for $(BUILD)/fim-loader, $(BUILD)/fim.bpf.o and the TypeScript build):
#   make bench              fim-whodata and its peers side by side (scripts/bench.mjs, bench/README.md)
#   make bench-quick        the same, shorter
#   make bench-loader       the loader alone against no BPF and empty programs (issue 2's figures)
#   make bench-loader-quick
#   make bench-syscall-floor what one syscall trace event alone costs an unrelated write(2)
#   make probe-timestamp-writes which writes the timestamp tracepoints see
#   make bpf-line-profile   where the sensor's BPF programs spend their time, by source line
# Extra arguments for the scripts go in BENCH_ARGS, e.g. BENCH_ARGS="--rounds 5 --no-save".
# All paths are relative to the repository root.

BUILD ?= build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
NODE ?= node
BENCH_ARGS ?=

BENCH_BUILD := $(BUILD)/bench
BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
# The empty programs need nothing from the kernel's types, but vmlinux.h is already there and
# saves depending on the multiarch asm/ headers that <linux/bpf.h> drags in.
BENCH_BPF_CFLAGS := -g -O2 -target bpf -Wall

.PHONY: bench bench-quick bench-peers bench-loader bench-loader-quick bench-syscall-floor probe-timestamp-writes bpf-line-profile bench-tools

bench-tools: $(BENCH_BUILD)/workload $(BENCH_BUILD)/empty-loader

# auditd and inotify-tools, installed without starting a daemon (scripts/bench-setup.sh)
bench-peers:
	@scripts/bench-setup.sh

bench: all bench-tools bench-peers
	$(NODE) scripts/bench.mjs $(BENCH_ARGS)

bench-quick: all bench-tools bench-peers
	$(NODE) scripts/bench.mjs --quick $(BENCH_ARGS)

bench-loader: $(BUILD)/fim-loader bench-tools
	$(NODE) scripts/bench-loader.mjs $(BENCH_ARGS)

bench-loader-quick: $(BUILD)/fim-loader bench-tools
	$(NODE) scripts/bench-loader.mjs --quick $(BENCH_ARGS)

# Static like the loader, so the generator's own cost does not include the dynamic loader's
# relocations at each fork, and the binary runs unchanged wherever the loader does.
BENCH_WORKLOAD_SRCS := bench/workload.c bench/harness.c bench/formats.c bench/util.c
$(BENCH_BUILD)/workload: $(BENCH_WORKLOAD_SRCS) bench/harness.h bench/formats.h bench/util.h
	@mkdir -p $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) -static -o $@ $(BENCH_WORKLOAD_SRCS)

# Generated from the compiled sensor, so it always has the sensor's current set of hooks.
$(BENCH_BUILD)/empty.bpf.c: $(BUILD)/fim.bpf.o bench/gen-empty-bpf.sh bpf/fim-hooks.h
	@mkdir -p $(BENCH_BUILD)
	bench/gen-empty-bpf.sh $< > $@.tmp && mv $@.tmp $@

$(BENCH_BUILD)/empty.bpf.o: $(BENCH_BUILD)/empty.bpf.c
	$(CLANG) $(BENCH_BPF_CFLAGS) -I$(BUILD) -c $< -o $@

$(BENCH_BUILD)/empty.skel.h: $(BENCH_BUILD)/empty.bpf.o
	$(BPFTOOL) gen skeleton $< name empty_bpf > $@.tmp && mv $@.tmp $@

$(BENCH_BUILD)/empty-loader: bench/empty-loader.c $(BENCH_BUILD)/empty.skel.h
	$(CC) $(BENCH_CFLAGS) -I$(BENCH_BUILD) -static -o $@ $< -lbpf -lelf -lz

bench-syscall-floor: $(BENCH_BUILD)/workload
	scripts/bench-syscall-floor.sh

probe-timestamp-writes:
	scripts/probe-timestamp-writes.sh

bpf-line-profile: $(BUILD)/fim-loader $(BENCH_BUILD)/workload $(BENCH_BUILD)/bpf-lines
	$(NODE) scripts/bpf-line-profile.mjs $(BENCH_ARGS)

# Static like the other bench tools: it runs wherever the loader does.
$(BENCH_BUILD)/bpf-lines: bench/bpf-lines.c
	@mkdir -p $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) -static -o $@ $< -lbpf -lelf -lz
