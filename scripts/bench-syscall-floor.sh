#!/usr/bin/env bash
# What merely having one syscall trace event enabled costs an unrelated syscall: the floor under
# any sensor built on syscall tracepoints (issue 2's 1-byte write storm, target 1.05x).
#
# The first syscall trace event enabled puts every task on the kernel's syscall-tracing slow path,
# whichever syscall it is for and whether a BPF program or ftrace sits on it. This script enables
# sys_enter_openat and/or sys_exit_openat through tracefs (no BPF at all), runs the write storm
# (2 processes, 1-byte write(2) to /dev/null), and alternates that with nothing enabled.
#
# usage: scripts/bench-syscall-floor.sh [ROUNDS] [SAMPLE_MS]      (root; `make bench-syscall-floor`)
set -euo pipefail

rounds=${1:-6}
sample_ms=${2:-500}
workload=${WORKLOAD:-build/bench/workload}
tracing=/sys/kernel/tracing
events=$tracing/events/syscalls

die() { echo "bench-syscall-floor: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "needs root (it enables trace events)"
[[ -x $workload ]] || die "$workload missing: run make bench-tools first"
if [[ ! -d $events ]]; then
	mount -t tracefs nodev "$tracing" 2>/dev/null || die "cannot mount tracefs on $tracing"
	echo "bench-syscall-floor: mounted tracefs on $tracing" >&2
fi
for e in "$events"/sys_*/enable; do
	[[ $(cat "$e") == 0 ]] || die "a syscall trace event is already enabled ($e): the figures would be moot"
done

set_events() { # enter exit: 0 or 1 each
	echo "$1" > "$events/sys_enter_openat/enable"
	echo "$2" > "$events/sys_exit_openat/enable"
}

# On a kernel where audit has been enabled since boot every new process gets an audit context,
# which slows every syscall on its own; a task,never rule keeps the storms free of one, as on a
# machine that never enabled audit (the other benchmarks do the same).
audit_rule=0
cleanup() {
	set_events 0 0 || true
	if [[ $audit_rule == 1 ]]; then auditctl -d task,never >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT INT TERM
if command -v auditctl >/dev/null && ! auditctl -l 2>/dev/null | grep -qx -- '-a never,task'; then
	auditctl -a task,never >/dev/null 2>&1 && audit_rule=1
fi

declare -A samples
disturbed=0
configs=(none enter exit both)
for ((r = 1; r <= rounds; r++)); do
	for c in "${configs[@]}"; do
		case $c in
			none) set_events 0 0 ;;
			enter) set_events 1 0 ;;
			exit) set_events 0 1 ;;
			both) set_events 1 1 ;;
		esac
		out=$("$workload" write-storm --procs 2 --ms "$sample_ms")
		set_events 0 0
		ns=$(sed -n 's/.*"ns_per_op":\([0-9.]*\).*/\1/p' <<<"$out")
		share=$(sed -n 's/.*"cpu_share":\([0-9.]*\).*/\1/p' <<<"$out")
		samples[$c]+="$ns "
		# each storm process should have had a whole CPU; less means a neighbour's load
		if awk -v s="$share" 'BEGIN {exit !(s < 0.95)}'; then disturbed=$((disturbed + 1)); fi
		printf 'round %d/%d %-5s %s ns/write, CPU share %s\n' "$r" "$rounds" "$c" "$ns" "$share" >&2
	done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
base=$(median <<<"${samples[none]}")
echo "1-byte write(2) to /dev/null, 2 processes, median of $rounds alternated samples of $sample_ms ms on $(uname -r):"
printf '| %-34s | %10s | %6s |\n' "syscall trace events enabled" "ns/write" "ratio"
printf '|%s|%s|%s|\n' "------------------------------------" "------------" "--------"
for c in "${configs[@]}"; do
	case $c in
		none) label="none" ;;
		enter) label="sys_enter_openat" ;;
		exit) label="sys_exit_openat" ;;
		both) label="sys_enter_openat + sys_exit_openat" ;;
	esac
	m=$(median <<<"${samples[$c]}")
	printf '| %-34s | %10.1f | %5.2fx |\n' "$label" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN {print a / b}')"
done
if ((disturbed > 0)); then
	echo "$disturbed of $((rounds * ${#configs[@]})) samples were disturbed (storm CPU share < 0.95, a neighbour's load): run it again on a quiet machine"
fi
