# Unit tests of the loader's pure-C modules
# (loader-c/json_out, cli, command). Included by the top-level Makefile;
# also works alone:  make -f test/c/tests.mk test-c
#
#   test-c   build every test with ASan+UBSan and run them all (default)
#
# Paths are relative to the repository root when make runs there, so
# including this file from the top-level Makefile needs nothing else.

test_c_root_abs := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../..)
TEST_C_ROOT := $(if $(filter $(test_c_root_abs),$(CURDIR)),.,$(test_c_root_abs))

TEST_C_CC ?= cc
TEST_C_CFLAGS ?= -std=c11 -O1 -g -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all -Wall -Wextra -Werror

TEST_C_SRC := $(TEST_C_ROOT)/test/c
TEST_C_LOADER := $(TEST_C_ROOT)/loader-c
TEST_C_OUT := $(TEST_C_ROOT)/build/test-c

test_c_json := $(TEST_C_LOADER)/json_out.c $(TEST_C_LOADER)/json_out.h
test_c_cmd := $(TEST_C_LOADER)/command.c $(TEST_C_LOADER)/command.h $(test_c_json)
test_c_cli := $(TEST_C_LOADER)/cli.c $(TEST_C_LOADER)/cli.h

TEST_C_UNITS := test_json_out test_cli test_command
TEST_C_BINS := $(addprefix $(TEST_C_OUT)/,$(TEST_C_UNITS))

# sanitizers report through stderr; make them fail the run loudly
test_c_env := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1

.PHONY: test-c clean-test-c

test-c: $(TEST_C_BINS)
	@fail=0; \
	for t in $(TEST_C_UNITS); do \
		$(test_c_env) $(TEST_C_OUT)/$$t || { echo "FAIL $$t"; fail=$$((fail+1)); }; \
	done; \
	if [ $$fail -eq 0 ]; then echo "test-c: all passed"; \
	else echo "test-c: $$fail failed"; exit 1; fi

$(TEST_C_OUT):
	mkdir -p $@

$(TEST_C_OUT)/test_json_out: $(TEST_C_SRC)/test_json_out.c $(TEST_C_SRC)/test.h $(test_c_json) | $(TEST_C_OUT)
	$(TEST_C_CC) $(TEST_C_CFLAGS) -I$(TEST_C_LOADER) -o $@ $(filter %.c,$^)

$(TEST_C_OUT)/test_cli: $(TEST_C_SRC)/test_cli.c $(TEST_C_SRC)/test.h $(test_c_cli) | $(TEST_C_OUT)
	$(TEST_C_CC) $(TEST_C_CFLAGS) -I$(TEST_C_LOADER) -o $@ $(filter %.c,$^)

$(TEST_C_OUT)/test_command: $(TEST_C_SRC)/test_command.c $(TEST_C_SRC)/test.h $(test_c_cmd) | $(TEST_C_OUT)
	$(TEST_C_CC) $(TEST_C_CFLAGS) -I$(TEST_C_LOADER) -o $@ $(filter %.c,$^)

clean-test-c:
	rm -rf $(TEST_C_OUT)
