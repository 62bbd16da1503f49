#!/usr/bin/env bash
# Runs every test suite, prints each one's output, and ends with one line
# "N passed, N failed" (skips count as failures when end-to-end tests are required).
set -uo pipefail
cd "$(dirname "$0")/.."

export FIM_E2E_REQUIRED=${FIM_E2E_REQUIRED:-1}
passed=0 failed=0 status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# An ava suite through its TAP reporter: the closing "# pass/# fail/# skip" lines are the counts.
run_ava() {
	local name=$1; shift
	echo "== $name"
	npx ava --tap "$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local p f s
	p=$(awk '/^# pass/ {print $3}' "$log" | tail -1)
	f=$(awk '/^# fail/ {print $3}' "$log" | tail -1)
	s=$(awk '/^# skip/ {print $3}' "$log" | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0}
	if [ "$FIM_E2E_REQUIRED" = 1 ] && [ "$s" -gt 0 ]; then
		echo "$name: $s skipped test(s), and skips are failures here" >&2
		f=$((f + s))
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # the runner itself failed (crash, timeout, no tests found)
	fi
	passed=$((passed + p)) failed=$((failed + f))
	[ "$f" -eq 0 ] || status=1
}

# Each C test program prints "<name> N checks, M failed"; the runner adds "FAIL <name>" lines.
run_c() {
	echo "== C tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
	make --no-print-directory test-c 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local p f
	p=$(grep -cE '^[a-z_]+ +[0-9]+ checks, 0 failed' "$log")
	f=$(grep -cE '^FAIL ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f))
	[ "$f" -eq 0 ] || status=1
}

run_c
run_ava "unit tests" 'dist/test/unit/**/*.test.js'
run_ava "end-to-end tests (real kernel)" --serial 'dist/test/e2e/**/*.test.js'

echo
echo "$passed passed, $failed failed"
exit $status
