# Unit, round-trip and fuzz tests of the loader's pure-C modules
# (loader-c/json_out, cli, command), and of the benchmark's parsers (bench/formats). Included by the top-level Makefile;
# also works alone:  make -f test/c/tests.mk test-c
#
#   test-c   build every test with ASan+UBSan and run them all (default)
#   fuzz-c   libFuzzer targets, TEST_C_FUZZ_SECONDS each (needs clang)
#   bench-c  json_out throughput, optimised and without sanitizers
#
# Paths are relative to the repository root when make runs there, so
# including this file from the top-level Makefile needs nothing else.

test_c_root_abs := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../..)
TEST_C_ROOT := $(if $(filter $(test_c_root_abs),$(CURDIR)),.,$(test_c_root_abs))

TEST_C_CC ?= cc
TEST_C_CLANG ?= clang
TEST_C_NODE ?= node
TEST_C_CFLAGS ?= -std=c11 -O1 -g -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all -Wall -Wextra -Werror
TEST_C_FUZZ_SEED ?= 1
TEST_C_FUZZ_ITERS ?= 200000
TEST_C_FUZZ_SECONDS ?= 30

TEST_C_SRC := $(TEST_C_ROOT)/test/c
TEST_C_LOADER := $(TEST_C_ROOT)/loader-c
TEST_C_OUT := $(TEST_C_ROOT)/build/test-c

# Every test/c/test_NAME.c is a unit test of loader-c/NAME.{c,h}: test-c
# finds it, builds it with that module and runs it. A test that needs more
# modules names them as extra prerequisites, as test_command does below.
TEST_C_UNITS := $(sort $(patsubst $(TEST_C_SRC)/%.c,%,$(wildcard $(TEST_C_SRC)/test_*.c)))
TEST_C_BINS := $(addprefix $(TEST_C_OUT)/,$(TEST_C_UNITS) fuzz_roundtrip)

test_c_json := $(TEST_C_LOADER)/json_out.c $(TEST_C_LOADER)/json_out.h
test_c_cmd := $(TEST_C_LOADER)/command.c $(TEST_C_LOADER)/command.h $(test_c_json)

# sanitizers report through stderr; make them fail the run loudly
test_c_env := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1

.PHONY: test-c fuzz-c bench-c clean-test-c

test-c: $(TEST_C_BINS)
	@fail=0; \
	for t in $(TEST_C_UNITS); do \
		$(test_c_env) $(TEST_C_OUT)/$$t || { echo "FAIL $$t"; fail=$$((fail+1)); }; \
	done; \
	$(test_c_env) $(TEST_C_OUT)/fuzz_roundtrip $(TEST_C_FUZZ_SEED) $(TEST_C_FUZZ_ITERS) \
		$(TEST_C_OUT)/roundtrip.ndjson || { echo "FAIL fuzz_roundtrip"; fail=$$((fail+1)); }; \
	if command -v $(TEST_C_NODE) >/dev/null 2>&1; then \
		$(TEST_C_NODE) $(TEST_C_SRC)/check-ndjson.mjs $(TEST_C_OUT)/roundtrip.ndjson \
			|| { echo "FAIL check-ndjson"; fail=$$((fail+1)); }; \
	else \
		echo "FAIL check-ndjson: $(TEST_C_NODE) not found"; fail=$$((fail+1)); \
	fi; \
	if [ $$fail -eq 0 ]; then echo "test-c: all passed"; \
	else echo "test-c: $$fail failed"; exit 1; fi

$(TEST_C_OUT):
	mkdir -p $@

$(TEST_C_OUT)/test_%: $(TEST_C_SRC)/test_%.c $(TEST_C_SRC)/test.h \
		$(TEST_C_LOADER)/%.c $(TEST_C_LOADER)/%.h | $(TEST_C_OUT)
	$(TEST_C_CC) $(TEST_C_CFLAGS) -I$(TEST_C_LOADER) -o $@ $(filter %.c,$^)

$(TEST_C_OUT)/test_command: $(test_c_json)

# The benchmark's monitor-output parsers (bench/formats.c) are tested here too.
$(TEST_C_OUT)/test_bench_formats: $(TEST_C_SRC)/test_bench_formats.c $(TEST_C_SRC)/test.h \
		$(TEST_C_ROOT)/bench/formats.c $(TEST_C_ROOT)/bench/formats.h | $(TEST_C_OUT)
	$(TEST_C_CC) $(TEST_C_CFLAGS) -I$(TEST_C_ROOT)/bench -o $@ $(filter %.c,$^)

# The sensor's and the loader's shared list of syscall tracepoints (a header only).
$(TEST_C_OUT)/test_fim_hooks: $(TEST_C_SRC)/test_fim_hooks.c $(TEST_C_SRC)/test.h \
		$(TEST_C_ROOT)/bpf/fim-hooks.h $(TEST_C_ROOT)/bpf/fim.h | $(TEST_C_OUT)
	$(TEST_C_CC) $(TEST_C_CFLAGS) -I$(TEST_C_ROOT)/bpf -o $@ $(filter %.c,$^)

$(TEST_C_OUT)/fuzz_roundtrip: $(TEST_C_SRC)/fuzz_roundtrip.c $(TEST_C_SRC)/test.h $(test_c_cmd) | $(TEST_C_OUT)
	$(TEST_C_CC) $(TEST_C_CFLAGS) -I$(TEST_C_LOADER) -o $@ $(filter %.c,$^)

# libFuzzer: clang's runtime is optional on a build machine, so this is a
# separate target rather than part of test-c.
test_c_fuzzflags := -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Wall -Wextra -Werror -I$(TEST_C_LOADER)

$(TEST_C_OUT)/libfuzz_command: $(TEST_C_SRC)/libfuzz_command.c $(test_c_cmd) | $(TEST_C_OUT)
	$(TEST_C_CLANG) $(test_c_fuzzflags) -o $@ $(filter %.c,$^)

$(TEST_C_OUT)/libfuzz_json_out: $(TEST_C_SRC)/libfuzz_json_out.c $(test_c_cmd) | $(TEST_C_OUT)
	$(TEST_C_CLANG) $(test_c_fuzzflags) -o $@ $(filter %.c,$^)

fuzz-c: $(TEST_C_OUT)/libfuzz_command $(TEST_C_OUT)/libfuzz_json_out
	@for f in libfuzz_command libfuzz_json_out; do \
		mkdir -p $(TEST_C_OUT)/corpus-$$f; \
		$(TEST_C_OUT)/$$f -artifact_prefix=$(TEST_C_OUT)/$$f- -max_total_time=$(TEST_C_FUZZ_SECONDS) -max_len=9000 \
			-print_final_stats=1 $(TEST_C_OUT)/corpus-$$f $(TEST_C_SRC)/corpus \
			2>$(TEST_C_OUT)/$$f.log \
			|| { tail -n 40 $(TEST_C_OUT)/$$f.log; echo "FAIL $$f"; exit 1; }; \
		grep -E '^Done' $(TEST_C_OUT)/$$f.log | sed "s/^/$$f: /"; \
	done

$(TEST_C_OUT)/bench_json_out: $(TEST_C_SRC)/bench_json_out.c $(test_c_json) | $(TEST_C_OUT)
	$(TEST_C_CC) -std=c11 -O2 -Wall -Wextra -Werror -I$(TEST_C_LOADER) -o $@ $(filter %.c,$^)

bench-c: $(TEST_C_OUT)/bench_json_out
	$(TEST_C_OUT)/bench_json_out

clean-test-c:
	rm -rf $(TEST_C_OUT)
