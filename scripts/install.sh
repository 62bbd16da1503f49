#!/usr/bin/env bash
# make install / make uninstall: puts fim-whodata where a service can run it.
#
#   $PREFIX/lib/fim-whodata/      fimctl (bin/, dist/, package.json, production node_modules/)
#                                 and the loader (build/fim-loader), where fimctl looks for it
#   $PREFIX/bin/fimctl            symlink into the above
#   $SYSCONFDIR/fim-whodata/config.yaml   default config (an existing one is never overwritten)
#   $UNITDIR/fim-whodata.service  systemd unit
#   $LOGDIR                       where the default config's file sink writes (/var/log/fim-whodata)
#
# DESTDIR stages everything under another root (packaging, tests). PURGE=1 on uninstall also
# removes the config. Nothing is started or enabled: `systemctl enable --now fim-whodata`.
set -euo pipefail
cd "$(dirname "$0")/.."

action=${1:?usage: install.sh install|uninstall}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
DESTDIR=${DESTDIR:-}
LOGDIR=${LOGDIR:-/var/log/fim-whodata}
libdir=$PREFIX/lib/fim-whodata
bindir=$PREFIX/bin
config=$SYSCONFDIR/fim-whodata/config.yaml

say() { printf 'install: %s\n' "$*" >&2; }

# systemd is told about unit changes only on a live system it runs.
reload_systemd() {
	if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
}

case $action in
install)
	[ -x build/fim-loader ] && [ -f dist/supervisor/src/cli.js ] || { say "build first: make"; exit 1; }
	stage=$DESTDIR$libdir
	rm -rf "$stage"
	install -d -m 0755 "$stage/bin" "$stage/build" "$stage/dist" "$stage/node_modules" "$stage/supervisor" "$stage/docs"
	install -m 0755 bin/fimctl "$stage/bin/fimctl"
	install -m 0755 build/fim-loader "$stage/build/fim-loader"
	cp -R dist/supervisor "$stage/dist/supervisor"
	install -m 0644 package.json README.md "$stage/"
	install -m 0644 supervisor/README.md "$stage/supervisor/README.md"
	install -m 0644 docs/*.md "$stage/docs/"
	# Production dependencies only, as npm resolved them for this checkout.
	npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | while read -r dir; do
		rel=${dir#"$PWD"/}
		install -d "$stage/$(dirname "$rel")"
		cp -R "$dir" "$stage/$rel"
	done
	install -d -m 0755 "$DESTDIR$bindir"
	ln -sfn "../lib/fim-whodata/bin/fimctl" "$DESTDIR$bindir/fimctl"
	install -d -m 0755 "$DESTDIR$SYSCONFDIR/fim-whodata"
	if [ -e "$DESTDIR$config" ]; then
		say "kept the existing $config (the default is $libdir/config.yaml.default)"
	else
		install -m 0640 packaging/config.yaml "$DESTDIR$config"
	fi
	install -m 0644 packaging/config.yaml "$stage/config.yaml.default"
	install -d -m 0755 "$DESTDIR$UNITDIR"
	sed -e "s|@LIBDIR@|$libdir|g" -e "s|@BINDIR@|$bindir|g" -e "s|@CONFIG@|$config|g" \
		packaging/fim-whodata.service.in > "$DESTDIR$UNITDIR/fim-whodata.service"
	chmod 0644 "$DESTDIR$UNITDIR/fim-whodata.service"
	install -d -m 0750 "$DESTDIR$LOGDIR"
	reload_systemd
	say "installed under ${DESTDIR:-/}: $bindir/fimctl, $libdir, $config, $UNITDIR/fim-whodata.service"
	say "start with: systemctl enable --now fim-whodata"
	;;
uninstall)
	if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && systemctl is-active --quiet fim-whodata 2>/dev/null; then
		systemctl disable --now fim-whodata || true
	fi
	rm -rf "$DESTDIR$libdir"
	rm -f "$DESTDIR$bindir/fimctl" "$DESTDIR$UNITDIR/fim-whodata.service"
	if [ "${PURGE:-0}" = 1 ]; then
		rm -rf "$DESTDIR$SYSCONFDIR/fim-whodata"
	elif [ -e "$DESTDIR$config" ]; then
		say "kept $config and /var/log/fim-whodata (PURGE=1 removes the config)"
	fi
	reload_systemd
	say "uninstalled"
	;;
*)
	say "unknown action $action (install or uninstall)"
	exit 2
	;;
esac
