import {existsSync, lstatSync, readFileSync, readlinkSync, statSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {execa} from 'execa';
import {repoRoot, temporaryDirectory} from './helpers.js';

/**
 * `make install` and `make uninstall` (scripts/install.sh) into a staging root, and the unit
 * they install checked by systemd-analyze. Needs the build (make) done first, as `make test` does.
 */

const script = join(repoRoot, 'scripts/install.sh');

test.serial('install into DESTDIR: fimctl runs from there and finds its loader; the config is kept on reinstall; uninstall', async t => {
	const root = temporaryDirectory('fim-destdir-');
	const env = {DESTDIR: root, PREFIX: '/usr/local', SYSCONFDIR: '/etc'};
	await execa(script, ['install'], {env});
	const fimctl = join(root, 'usr/local/bin/fimctl');
	t.is(readlinkSync(fimctl), '../lib/fim-whodata/bin/fimctl');
	t.is(statSync(join(root, 'usr/local/lib/fim-whodata/build/fim-loader')).mode & 0o777, 0o755);
	t.true(existsSync(join(root, 'usr/local/lib/fim-whodata/node_modules/yaml/package.json')));
	t.false(existsSync(join(root, 'usr/local/lib/fim-whodata/node_modules/ava')), 'no dev dependencies');
	t.is(statSync(join(root, 'etc/fim-whodata/config.yaml')).mode & 0o777, 0o640);
	t.true(lstatSync(join(root, 'var/log/fim-whodata')).isDirectory());

	const version = await execa(fimctl, ['version']);
	// the installed fimctl found the installed loader: both name their versions
	t.regex(String(version.stdout), /^fimctl \d+\.\d+\.\d+ \(protocol 1\)\nfim-loader \d+\.\d+\.\d+ \(protocol 1\)$/);
	const validate = await execa(fimctl, ['validate', '--config', join(root, 'etc/fim-whodata/config.yaml')], {reject: false});
	t.is(validate.exitCode, 0, String(validate.stderr));
	t.regex(String(validate.stdout), /paths: \/etc, \/usr\/bin, \/usr\/sbin, \/usr\/local\/bin, \/usr\/local\/sbin, \/var\/log/);

	const unit = readFileSync(join(root, 'usr/local/lib/systemd/system/fim-whodata.service'), 'utf8');
	t.regex(unit, /^ExecStart=\/usr\/local\/bin\/fimctl start --config \/etc\/fim-whodata\/config\.yaml$/m);
	t.regex(unit, /^Restart=on-failure$/m);
	t.regex(unit, /^CapabilityBoundingSet=.*CAP_BPF.*CAP_PERFMON/m);
	t.false(unit.includes('@'), 'every placeholder replaced');

	writeFileSync(join(root, 'etc/fim-whodata/config.yaml'), '# mine\n');
	const again = await execa(script, ['install'], {env});
	t.regex(String(again.stderr), /kept the existing \/etc\/fim-whodata\/config\.yaml/);
	t.is(readFileSync(join(root, 'etc/fim-whodata/config.yaml'), 'utf8'), '# mine\n');

	await execa(script, ['uninstall'], {env});
	t.false(existsSync(fimctl));
	t.false(existsSync(join(root, 'usr/local/lib/fim-whodata')));
	t.false(existsSync(join(root, 'usr/local/lib/systemd/system/fim-whodata.service')));
	t.true(existsSync(join(root, 'etc/fim-whodata/config.yaml')), 'the config stays');
	await execa(script, ['uninstall'], {env: {...env, PURGE: '1'}});
	t.false(existsSync(join(root, 'etc/fim-whodata')));
});

test.serial('systemd-analyze verify accepts the installed unit', async t => {
	const root = temporaryDirectory('fim-prefix-');
	// Installed for real under a temporary prefix, so that the unit's commands exist where it says.
	await execa(script, ['install'], {env: {PREFIX: join(root, 'usr'), SYSCONFDIR: join(root, 'etc'), UNITDIR: join(root, 'units'), LOGDIR: join(root, 'log')}});
	const verify = await execa('systemd-analyze', ['verify', join(root, 'units/fim-whodata.service')], {reject: false});
	t.is(verify.exitCode, 0, `${String(verify.stdout)}${String(verify.stderr)}`);
	t.is(String(verify.stderr).trim(), '');
});
