# The kernel matrix: `make test-kernels` boots Debian's stock kernels under qemu and runs the
# kernel-facing end-to-end cases (cases.c) inside each; scripts/test-kernels.sh says how.
# Included by the top-level Makefile, which defines BUILD, CC and the rule for the loader.
#
#   test-kernels          every kernel of the matrix; KERNELS="6.1 6.12" picks some. The cases
#                         run once per backend (tracepoint, then fentry) in each boot.
#   bench-kernels         the cost of each backend on the same workloads, as ratios to the run
#                         without a loader (BENCH_ITERATIONS per round, best of 3), per kernel
#   kernel-initramfs      only build the initramfs ($(KT_OUT)/initramfs.cpio.gz)
#
# The driver also runs on the build machine, as root, for a quick loop on the cases (this
# machine refuses fentry, so ask for the tracepoint backend only):
#   FIM_KT_BACKENDS=tracepoint build/kernels/fim-kernel-test --loader build/fim-loader \
#       --actor $PWD/build/kernels/fim-actor [CASE...]

KT_OUT := $(BUILD)/kernels
KT_SRCS := test/kernels/cases.c test/kernels/harness.c test/kernels/ndjson.c
KT_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Wno-missing-field-initializers -Wno-format-truncation
# busybox-static's binary: the guest has no shared libraries
BUSYBOX ?= /bin/busybox

BENCH_ITERATIONS ?= 1000

.PHONY: test-kernels bench-kernels kernel-initramfs

test-kernels: setup $(KT_OUT)/initramfs.cpio.gz
	scripts/test-kernels.sh $(KERNELS)

bench-kernels: setup $(KT_OUT)/initramfs.cpio.gz
	FIM_KT_GUEST_ENV="FIM_KT_BENCH=$(BENCH_ITERATIONS) $(FIM_KT_GUEST_ENV)" scripts/test-kernels.sh $(KERNELS)
	@for log in $(KT_OUT)/logs/*.log; do grep -q "^# bench" $$log || continue; \
		echo "$$(basename $$log .log):"; sed -n 's/^# \(bench .*\)/  \1/p' $$log; done

kernel-initramfs: $(KT_OUT)/initramfs.cpio.gz

$(KT_OUT)/fim-kernel-test: $(KT_SRCS) test/kernels/harness.h test/kernels/ndjson.h
	@mkdir -p $(KT_OUT)
	$(CC) $(KT_CFLAGS) -static -o $@ $(KT_SRCS)

# The actor is the same program under its own name and path, so the whodata of the changes it
# makes (comm, exe) differs from the driver's.
$(KT_OUT)/fim-actor: $(KT_OUT)/fim-kernel-test
	cp $< $@

$(KT_OUT)/initramfs.cpio.gz: test/kernels/init $(BUILD)/fim-loader $(KT_OUT)/fim-kernel-test $(KT_OUT)/fim-actor
	@file -L $(BUSYBOX) 2>/dev/null | grep -q 'statically linked' \
		|| { echo "$(BUSYBOX) is not a static busybox: run scripts/setup.sh (busybox-static)" >&2; exit 1; }
	rm -rf $(KT_OUT)/root
	mkdir -p $(KT_OUT)/root/bin $(KT_OUT)/root/sbin $(KT_OUT)/root/usr/bin $(KT_OUT)/root/usr/sbin \
		$(KT_OUT)/root/proc $(KT_OUT)/root/sys $(KT_OUT)/root/dev $(KT_OUT)/root/tmp
	cp $(BUSYBOX) $(KT_OUT)/root/bin/busybox
	install -m 0755 test/kernels/init $(KT_OUT)/root/init
	cp $(BUILD)/fim-loader $(KT_OUT)/fim-kernel-test $(KT_OUT)/root/sbin/
	cp $(KT_OUT)/fim-actor $(KT_OUT)/root/usr/bin/
	(cd $(KT_OUT)/root && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 > $@.tmp
	mv $@.tmp $@
