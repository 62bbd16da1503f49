#!/usr/bin/env bash
# Which writes the kernel's timestamp tracepoints see: whether a sensor without syscall
# tracepoints (the only hooks that spare an unrelated write(2) the tracing slow path, see
# scripts/bench-syscall-floor.sh) could still report `modify`.
#
# The timestamp tracepoints (ctime_ns_xchg, ctime_xchg_skip, inode_set_ctime_to_ts; 6.13+) fire
# where the kernel sets an inode's ctime. A namespace or attribute change always does. A write does
# only when the file's mtime/ctime is older than the clock's coarse tick, or when someone read the
# file's timestamps since its last change (multigrain timestamps): file_update_time() skips the
# update otherwise, and no tracepoint fires.
#
# Each round, in a private tmpfs, with a marker in the trace between the steps:
#   create    open(O_CREAT) and close
#   same-tick one write, at once (the same coarse tick as the create, unless the tick turns)
#   later     one write, 30 ms later (a later tick)
#   queried   stat, then one write at once (a fine-grained ctime, since it was read)
# and counts the timestamp events on the file's inode per step. Every step changes the file, so a
# sensor built on these hooks alone needs at least one event in each.
#
# It clears the kernel trace buffer (/sys/kernel/tracing/trace) and leaves the events disabled.
#
# usage: scripts/probe-timestamp-writes.sh [ROUNDS]       (root; `make probe-timestamp-writes`)
set -euo pipefail

rounds=${1:-20}
tracing=/sys/kernel/tracing
events=$tracing/events/timestamp
hooks=(ctime_ns_xchg ctime_xchg_skip inode_set_ctime_to_ts)

die() { echo "probe-timestamp-writes: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "needs root (it enables trace events and mounts a tmpfs)"
if [[ ! -d $tracing/events ]]; then
	mount -t tracefs nodev "$tracing" 2>/dev/null || die "cannot mount tracefs on $tracing"
	echo "probe-timestamp-writes: mounted tracefs on $tracing" >&2
fi
[[ -d $events/ctime_ns_xchg ]] || die "this kernel ($(uname -r)) has no timestamp tracepoints (6.13+)"
for h in "${hooks[@]}"; do
	[[ $(cat "$events/$h/enable") == 0 ]] || die "$h is already enabled: another tracer is using it"
done

dir=$(mktemp -d /tmp/fim-probe-ts.XXXXXX)
tracing_was_on=$(cat "$tracing/tracing_on")
cleanup() {
	for h in "${hooks[@]}"; do echo 0 > "$events/$h/enable" || true; done
	echo "$tracing_was_on" > "$tracing/tracing_on" || true
	umount "$dir" 2>/dev/null || true
	rmdir "$dir" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
mount -t tmpfs -o size=1m fim-probe "$dir"
# the tracepoints print the inode as MAJOR:MINOR:INO:GEN, with the device's numbers in decimal
dev=$(mountpoint -d "$dir")

echo > "$tracing/trace"
for h in "${hooks[@]}"; do echo 1 > "$events/$h/enable"; done
echo 1 > "$tracing/tracing_on"
mark() { echo "fim-probe $1" > "$tracing/trace_marker"; }

for ((r = 1; r <= rounds; r++)); do
	f=$dir/f$r
	mark "create $r"
	: > "$f"
	mark "same-tick $r"
	printf a >> "$f"
	sleep 0.03
	mark "later $r"
	printf b >> "$f"
	stat -c %z "$f" > /dev/null
	mark "queried $r"
	printf c >> "$f"
	mark "end $r"
done
echo 0 > "$tracing/tracing_on"

# Each step's events on the round's file (its inode, on this tmpfs only).
awk -v dev="$dev" -v rounds="$rounds" '
	/fim-probe (create|same-tick|later|queried|end) / {
		match($0, /fim-probe [a-z-]+ [0-9]+/)
		split(substr($0, RSTART, RLENGTH), m, " ")
		step = m[2]; round = m[3]
		next
	}
	step != "" && step != "end" && / (ctime_ns_xchg|ctime_xchg_skip|inode_set_ctime_to_ts): / {
		if (match($0, /ino=[0-9]+:[0-9]+:[0-9]+/)) {
			split(substr($0, RSTART + 4, RLENGTH - 4), id, ":")
			if (id[1] ":" id[2] != dev)
				next
			if (!(round in inode)) {
				# the first event of the round on another inode than the directory (1): the new file
				if (step != "create" || id[3] == 1)
					next
				inode[round] = id[3]
			}
			if (id[3] == inode[round])
				seen[step, round] = 1
		}
	}
	END {
		n = split("create same-tick later queried", steps, " ")
		printf "%-10s %s\n", "step", "rounds with a timestamp event on the file"
		for (i = 1; i <= n; i++) {
			c = 0
			for (r = 1; r <= rounds; r++) c += seen[steps[i], r]
			printf "%-10s %d of %d\n", steps[i], c, rounds
		}
	}' "$tracing/trace"
echo "kernel $(uname -r); a step seen in fewer rounds than it ran is a change those hooks alone would miss"
