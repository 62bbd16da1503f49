import test from 'ava';
import {execa} from 'execa';
import {mkdirSync, readFileSync, rmSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {CgroupContainers} from '../../supervisor/src/cgroup-containers.js';
import {temporaryDirectory} from './helpers.js';

const docker = 'd'.repeat(64);
const crio = 'c'.repeat(64);

/** A fake cgroup v2 tree: a cgroup's id is its directory's inode number, as on cgroupfs. */
function fakeTree(): {root: string; id: (relative: string) => number} {
	const root = temporaryDirectory('fim-cgroup-');
	for (const directory of [
		'system.slice/cron.service',
		`system.slice/docker-${docker}.scope/init.scope`,
		`kubepods.slice/kubepods-pod1.slice/crio-${crio}.scope`,
	]) {
		mkdirSync(join(root, directory), {recursive: true});
	}

	return {root, id: relative => statSync(join(root, relative)).ino};
}

test('a cgroup id names the container whose cgroup it is, or one inside it', t => {
	const {root, id} = fakeTree();
	const cgroups = new CgroupContainers({root});
	t.is(cgroups.containerIdOf(id(`system.slice/docker-${docker}.scope`)), docker);
	t.is(cgroups.containerIdOf(id(`system.slice/docker-${docker}.scope/init.scope`)), docker);
	t.is(cgroups.containerIdOf(id(`kubepods.slice/kubepods-pod1.slice/crio-${crio}.scope`)), crio);
	t.is(cgroups.containerIdOf(id('system.slice/cron.service')), null);
	t.is(cgroups.containerIdOf(id('')), null); // the root cgroup
});

test('a cgroup newer than the listing is found by listing again, at most once per interval; an older unknown one lists nothing', t => {
	const {root} = fakeTree();
	// cgroup ids as the kernel gives them: upwards, never reused
	const ids = new Map<string, number>([['', 1], ['system.slice', 2], ['system.slice/cron.service', 5], [`system.slice/docker-${docker}.scope`, 6], [`system.slice/docker-${docker}.scope/init.scope`, 7], ['kubepods.slice', 8], ['kubepods.slice/kubepods-pod1.slice', 9], [`kubepods.slice/kubepods-pod1.slice/crio-${crio}.scope`, 10]]);
	let now = 0;
	const cgroups = new CgroupContainers({root, minRescanMs: 1000, nowMs: () => now, idOf: path => ids.get(path.slice(root.length + 1)) ?? Number.NaN});
	t.is(cgroups.containerIdOf(5), null);
	t.is(cgroups.listings, 1);
	const later = 'e'.repeat(64);
	mkdirSync(join(root, `system.slice/docker-${later}.scope`));
	ids.set(`system.slice/docker-${later}.scope`, 11);
	now = 500;
	t.is(cgroups.containerIdOf(11), undefined, 'listed 500 ms ago: not again yet');
	now = 1000;
	t.is(cgroups.containerIdOf(11), later);
	t.is(cgroups.listings, 2);
	// a cgroup made and removed between two listings (id 3): its events list nothing
	now = 5000;
	t.is(cgroups.containerIdOf(3), undefined);
	t.is(cgroups.listings, 2);
	// one gone since the listing is still named by it
	rmSync(join(root, `system.slice/docker-${later}.scope`), {recursive: true});
	t.is(cgroups.containerIdOf(11), later);
});

test('no cgroup v2: nothing is named, so that /proc is asked', t => {
	t.is(new CgroupContainers({root: null}).containerIdOf(1234), undefined);
	t.is(new CgroupContainers({root: join(temporaryDirectory('fim-cgroup-'), 'absent')}).containerIdOf(1234), undefined);
});

test('the host\'s cgroup v2 mount is found: this process\'s cgroup is listed, in no container', async t => {
	const mount = (await execa('findmnt', ['-n', '-o', 'TARGET', '-t', 'cgroup2'])).stdout.split('\n')[0]!;
	const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find(line => line.startsWith('0::'))!.slice(3);
	t.is(new CgroupContainers().containerIdOf(statSync(join(mount, own)).ino), null);
});
