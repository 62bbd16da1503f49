import test from 'ava';
import {mkdirSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {Enricher} from '../../supervisor/src/enrich.js';
import {eventJsonLine} from '../../supervisor/src/formats.js';
import type {KernelEventFields} from '../../supervisor/src/types.js';
import {fakeProcess, temporaryDirectory} from './helpers.js';

const dockerId = 'd'.repeat(64);

/**
 * An Enricher over a fake /proc holding pid 42 (`prog`, started 10 s after boot) and its parent
 * 40, and a fake cgroup v2 tree with a docker container's cgroup (cgroupOf names its id).
 */
function fakeHost(maxCmdlineLength?: number, procCgroup?: string): Enricher {
	const root = temporaryDirectory('fim-proc-');
	fakeProcess(root, 40, 500, {comm: 'bash', exe: '/usr/bin/bash', cmdline: ['bash']});
	fakeProcess(root, 42, 1000, {ppid: 40, cmdline: ['prog', '--after-the-call'], cwd: '/srv', ...(procCgroup === undefined ? {} : {cgroup: procCgroup})});
	return new Enricher({proc: {procRoot: root, ...(maxCmdlineLength === undefined ? {} : {maxCmdlineLength})}, cgroups: {root: cgroupRoot}, bootTimeMs: 1_000_000, monotonicMs: () => 50_000, host: 'web1'});
}

const cgroupRoot = temporaryDirectory('fim-cgroup-');
mkdirSync(join(cgroupRoot, `system.slice/docker-${dockerId}.scope`), {recursive: true});
const cgroupOf = {root: 1, docker: statSync(join(cgroupRoot, `system.slice/docker-${dockerId}.scope`)).ino, host: statSync(join(cgroupRoot, 'system.slice')).ino};

/** A loader line of `pid`, 20 s after boot, with `members` after `exe` (where the kernel's cmdline goes). */
function loaderLine(members = '', pid = 42, cgroupId = cgroupOf.root): {raw: string; event: KernelEventFields} {
	const raw = `{"type":"event","timestamp":1020000000000,"operation":"modify","path":"/etc/hosts","old_path":null,"file_type":"file","inode":7,"dev":"254:0","pid":${pid},"tid":${pid},"ppid":40,"uid":0,"gid":0,"euid":0,"egid":0,"auid":null,"session_id":null,"process_name":"prog","exe":"/usr/bin/prog"${members},"syscall":"write","cgroup_id":${cgroupId},"source":"kernel"}`;
	return {raw, event: JSON.parse(raw) as KernelEventFields};
}

/** The fast path's line: the loader's members, then the enrichment's. */
function appended(raw: string, json: string): string {
	return `{${raw.slice('{"type":"event",'.length, -1)}${json}}`;
}

test('the kernel\'s cmdline is the event\'s over /proc\'s, the rest from /proc appended to the loader\'s line', t => {
	const enricher = fakeHost();
	const {raw, event} = loaderLine(',"cmdline":"prog --at-the-call"');
	const enrichment = enricher.enrich(event);
	t.like(enrichment.fields, {cmdline: 'prog --at-the-call', cwd: '/srv', parent_name: 'bash', user_name: 'root', host: 'web1'});
	t.false(enrichment.cmdlineTruncated);
	t.false(enrichment.json.includes('cmdline'));
	const line = eventJsonLine(raw, event, enrichment);
	t.is(line, appended(raw, enrichment.json));
	t.is(line.split('"cmdline":').length, 2);

	// Without one, /proc's, as before.
	const proc = loaderLine();
	const fromProc = enricher.enrich(proc.event);
	t.is(fromProc.fields.cmdline, 'prog --after-the-call');
	t.true(fromProc.json.startsWith(',"cmdline":"prog --after-the-call","cwd":"/srv","container_id":null,'));
	t.is(eventJsonLine(proc.raw, proc.event, fromProc), appended(proc.raw, fromProc.json));
});

test('a process\'s enrichment is reused while its kernel cmdline stays, made anew when it changes or is not there', t => {
	const enricher = fakeHost();
	const first = enricher.enrich(loaderLine(',"cmdline":"prog a"').event);
	t.is(enricher.enrich(loaderLine(',"cmdline":"prog a"').event), first);
	t.is(enricher.enrich(loaderLine(',"cmdline":"prog b"').event).fields.cmdline, 'prog b');
	const none = enricher.enrich(loaderLine().event);
	t.is(none.fields.cmdline, 'prog --after-the-call');
	t.true(none.json.includes('"cmdline":"prog --after-the-call"'));
	t.is(enricher.enrich(loaderLine(',"cmdline":"prog a"').event).fields.cmdline, 'prog a');
});

test('a process gone before /proc was read is named by the kernel\'s cmdline; what only /proc knows is null', t => {
	const cmdline = 'sh -c echo x >> /root/.ssh/authorized_keys';
	const {raw, event} = loaderLine(`,"cmdline":${JSON.stringify(cmdline)}`, 43);
	const enrichment = fakeHost().enrich(event);
	t.like(enrichment.fields, {cmdline, cwd: null, container_id: null, parent_name: 'bash', user_name: 'root'});
	const line = eventJsonLine(raw, event, enrichment);
	t.is(line, appended(raw, enrichment.json));
	t.is(line.split('"cmdline":').length, 2);
	t.like(JSON.parse(line) as Record<string, unknown>, {cmdline, cwd: null, container_id: null, parent_name: 'bash'});
});

test('a process gone before /proc was read is placed in its container by the kernel\'s cgroup id', t => {
	const {raw, event} = loaderLine(',"cmdline":"rm /srv/data/x"', 43, cgroupOf.docker);
	const enrichment = fakeHost().enrich(event);
	t.like(enrichment.fields, {cmdline: 'rm /srv/data/x', cwd: null, container_id: dockerId});
	const line = eventJsonLine(raw, event, enrichment);
	t.is(line, appended(raw, enrichment.json));
	t.like(JSON.parse(line) as Record<string, unknown>, {container_id: dockerId, parent_name: 'bash'});
});

test('the container is the kernel\'s cgroup\'s; /proc\'s where that cgroup is in none (containers in cgroup v1)', t => {
	const v1 = `12:pids:/docker/${dockerId}\n0::/\n`;
	t.is(fakeHost(undefined, v1).enrich(loaderLine('', 42, cgroupOf.root).event).fields.container_id, dockerId);
	t.is(fakeHost(undefined, v1).enrich(loaderLine('', 42, cgroupOf.host).event).fields.container_id, dockerId);
	t.is(fakeHost().enrich(loaderLine('', 42, cgroupOf.host).event).fields.container_id, null);
	// a process moved into a container's cgroup since its last event is enriched anew, not from the memo
	const enricher = fakeHost();
	t.is(enricher.enrich(loaderLine('', 42, cgroupOf.host).event).fields.container_id, null);
	const moved = enricher.enrich(loaderLine('', 42, cgroupOf.docker).event);
	t.is(moved.fields.container_id, dockerId);
	t.true(moved.json.includes(`"container_id":"${dockerId}"`));
});

test('a kernel cmdline is not flagged as cut for the length of /proc\'s', t => {
	const enricher = fakeHost(4);
	t.true(enricher.enrich(loaderLine().event).cmdlineTruncated);
	const {raw, event} = loaderLine(',"cmdline":"prog --at-the-call"');
	const enrichment = enricher.enrich(event);
	t.false(enrichment.cmdlineTruncated);
	const line = eventJsonLine(raw, event, enrichment);
	t.is(line, appended(raw, enrichment.json));
	t.false(line.includes('"truncated"'));
});
