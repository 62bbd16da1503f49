#!/usr/bin/env bash
# Installs what building, running and testing fim-whodata need on Debian 12 (as root), and
# nothing that is already there. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	say "run as root (apt-get and loading BPF need it)"
	exit 1
fi

# clang/llvm/bpftool/libbpf build the sensor; libelf/zlib link the static loader; attr, acl and
# python3 are used by the end-to-end tests to make real changes; file checks the static build;
# qemu-system-x86, busybox-static and cpio boot other kernels for `make test-kernels`;
# g++ (with make and python3) builds the native modules npm installs (better-sqlite3, unix-dgram:
# the local syslog socket); rsyslog is the real receiver the syslog sink is tested against (the
# test runs its own rsyslogd on free ports, never the system one); systemd brings
# systemd-analyze, which checks the installed unit.
apt_pkgs=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make gcc g++ file attr python3 util-linux qemu-system-x86 busybox-static cpio rsyslog systemd)
missing=()
for p in "${apt_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	say "installing nodejs and npm"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
	say "Node.js $(node --version) is too old: 20 or newer is needed"
	exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	say "installing npm dependencies"
	npm ci --no-audit --no-fund --loglevel=error
fi

# bpffs and tracefs are where BPF and tracepoints live; the loader mounts tracefs itself too.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
