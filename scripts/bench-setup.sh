#!/usr/bin/env bash
# Installs the peers `make bench` measures fim-whodata against: auditd and inotify-tools (Debian
# packages). Not part of scripts/setup.sh: the tests need neither.
#
# Installing auditd must not leave an audit daemon running or audit enabled. Debian's maintainer
# scripts start a freshly installed daemon unless /usr/sbin/policy-rc.d says no, so one saying no
# is put in place for the install (when there is none already) and removed after; and a daemon
# this install would start at the next boot is disabled again. The benchmark starts auditd itself
# with a private configuration and stops it by its pid.
set -euo pipefail

say() { printf 'bench-setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	say "run as root (apt-get needs it)"
	exit 1
fi

missing=()
for p in auditd inotify-tools; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# fim-whodata bench-setup: no daemon starts during this install\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	own_policy=1
fi

auditd_new=0
case " ${missing[*]} " in *" auditd "*) auditd_new=1 ;; esac

say "installing ${missing[*]} (no daemon is started)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

if [ "$auditd_new" = 1 ]; then
	# installed just now for the benchmark: it should not start at boot either
	if [ -d /run/systemd/system ]; then
		systemctl disable auditd.service >/dev/null 2>&1 || true
	elif command -v update-rc.d >/dev/null && [ -e /etc/init.d/auditd ]; then
		update-rc.d auditd disable >/dev/null 2>&1 || true
	fi
	if pid=$(pidof auditd); then
		say "warning: an audit daemon is running (pid $pid) after the install; the benchmark will leave auditd out"
	fi
fi
