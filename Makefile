# fim-whodata: `make` builds everything, `make run` sets up and watches /var/log, `make test` runs
# every test (unit, sanitizer, end-to-end on the real kernel), `make test-kernels` the same
# kernel-facing cases on other kernels under qemu (test/kernels/kernels.mk).
SHELL := /bin/bash
BUILD := build
CLANG ?= clang
BPFTOOL ?= bpftool
CC := gcc
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
WATCH ?= /var/log
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function
LOADER_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror=implicit-function-declaration
LOADER_SRCS := loader-c/main.c loader-c/json_out.c loader-c/cli.c loader-c/command.c loader-c/paths.c loader-c/pacing.c
LOADER_HDRS := $(wildcard loader-c/*.h) bpf/fim.h bpf/fim-hooks.h

.PHONY: all loader ts setup run test test-unit test-e2e clean install uninstall
all: loader ts

# The README's two commands. Both set the machine up first, so they work on a fresh one: the
# build is a sub-make started once setup is done, so that `make -j run` does not look for
# bpftool or clang before setup has installed them.
run: setup
	$(MAKE) all
	./bin/fimctl start $(WATCH)

test: setup
	$(MAKE) all
	scripts/run-tests.sh

setup:
	@scripts/setup.sh

ts: node_modules
	npm run --silent build

node_modules: package-lock.json
	@scripts/setup.sh

loader: $(BUILD)/fim-loader

# vmlinux.h is generated from the build machine's BTF rather than checked in: CO-RE relocates
# every field access at load time, so any BTF kernel's header works, and the repository does not
# carry 3 MB of generated text that would drift from the kernels it runs on.
$(BUILD)/vmlinux.h:
	@mkdir -p $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/fim.bpf.o: bpf/fim.bpf.c bpf/fim-common.h bpf/fim.h bpf/fim-hooks.h $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -I$(BUILD) -Ibpf -c $< -o $@
	llvm-strip -g $@ 2>/dev/null || true

# The same sensor without bpf_rdonly_cast (kernels before 6.2): the loader falls back to it
# when the kernel refuses the first one.
$(BUILD)/fim-compat.bpf.o: bpf/fim.bpf.c bpf/fim-common.h bpf/fim.h bpf/fim-hooks.h $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -DFIM_COMPAT -I$(BUILD) -Ibpf -c $< -o $@
	llvm-strip -g $@ 2>/dev/null || true

# The fentry backend's programs (bpf/fim-vfs.bpf.c), loaded next to the tracepoint sensor where
# the kernel allows fentry/fexit; a compatible build as well, for the same kernels.
$(BUILD)/fim-vfs.bpf.o: bpf/fim-vfs.bpf.c bpf/fim-common.h bpf/fim.h $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -I$(BUILD) -Ibpf -c $< -o $@
	llvm-strip -g $@ 2>/dev/null || true

$(BUILD)/fim-vfs-compat.bpf.o: bpf/fim-vfs.bpf.c bpf/fim-common.h bpf/fim.h $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -DFIM_COMPAT -I$(BUILD) -Ibpf -c $< -o $@
	llvm-strip -g $@ 2>/dev/null || true

$(BUILD)/fim-vfs.skel.h: $(BUILD)/fim-vfs.bpf.o
	$(BPFTOOL) gen skeleton $< name fim_vfs > $@.tmp && mv $@.tmp $@

$(BUILD)/fim-vfs-compat.skel.h: $(BUILD)/fim-vfs-compat.bpf.o
	$(BPFTOOL) gen skeleton $< name fim_vfs_compat > $@.tmp && mv $@.tmp $@

$(BUILD)/fim.skel.h: $(BUILD)/fim.bpf.o
	$(BPFTOOL) gen skeleton $< name fim_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/fim-compat.skel.h: $(BUILD)/fim-compat.bpf.o
	$(BPFTOOL) gen skeleton $< name fim_compat > $@.tmp && mv $@.tmp $@

$(BUILD)/fim-loader: $(LOADER_SRCS) $(LOADER_HDRS) $(BUILD)/fim.skel.h $(BUILD)/fim-compat.skel.h \
		$(BUILD)/fim-vfs.skel.h $(BUILD)/fim-vfs-compat.skel.h
	$(CC) $(LOADER_CFLAGS) -I$(BUILD) -Ibpf -Iloader-c -static -o $@ $(LOADER_SRCS) -lbpf -lelf -lz

clean:
	rm -rf $(BUILD) dist

# PREFIX (default /usr/local), SYSCONFDIR (/etc), UNITDIR ($(PREFIX)/lib/systemd/system) and
# DESTDIR are read from the environment or the command line; scripts/install.sh says what goes where.
install: all
	PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" UNITDIR="$(UNITDIR)" DESTDIR="$(DESTDIR)" scripts/install.sh install

uninstall:
	PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" UNITDIR="$(UNITDIR)" DESTDIR="$(DESTDIR)" PURGE="$(PURGE)" scripts/install.sh uninstall

-include test/c/tests.mk
-include test/kernels/kernels.mk
-include bench/bench.mk
