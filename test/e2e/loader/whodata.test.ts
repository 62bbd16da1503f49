// Who made the change: real and effective ids of another user, and the audit login uid and
// session, which are null when unset (never 0, which would mean root).
import fs from 'node:fs';
import path from 'node:path';
import { assertEvents, bin, e2e, ino, run, withLoader } from './harness.js';

const UNSET = 4294967295;

e2e('a change made as another user carries its uid/euid/gid/egid', (t) =>
	withLoader(t, { worldWritable: true }, async (l) => {
		const f = path.join(l.dir, 'by-1000');
		const m = l.mark();
		const c = await run(
			bin('setpriv'),
			['--reuid', '1000', '--regid', '1000', '--clear-groups', bin('touch'), f],
			{ comm: bin('touch') },
		);
		t.is(fs.statSync(f).uid, 1000, 'setpriv really switched user');
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: f, inode: ino(f), ...c.who, uid: 1000, euid: 1000, gid: 1000, egid: 1000 },
		]);
	}));

e2e('real and effective uid are reported apart', (t) =>
	withLoader(t, { worldWritable: true }, async (l) => {
		const d = path.join(l.dir, 'mixed');
		const m = l.mark();
		// real uid 1000, effective uid 0: what a setuid-root program looks like
		const c = await run(bin('setpriv'), ['--ruid', '1000', bin('mkdir'), d], { comm: bin('mkdir') });
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: d, ...c.who, uid: 1000, euid: 0 }]);
	}));

e2e('a process with a login uid carries it as auid, with its session id', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'by-login');
		const m = l.mark();
		// Setting the login uid starts a new audit session; the shell prints the session id it
		// got (cat inherits it), then becomes touch, so the event's pid is the shell's.
		const c = await run(
			bin('sh'),
			['-c', 'echo 1000 > /proc/self/loginuid && cat /proc/self/sessionid && exec "$0" "$1"', bin('touch'), f],
			{ comm: bin('touch') },
		);
		const session = Number(c.stdout.trim());
		t.true(Number.isInteger(session) && session !== UNSET, `a session was assigned: ${c.stdout}`);
		assertEvents(t, await l.settle(m), [
			{ operation: 'add', path: f, ...c.who, uid: 0, euid: 0, auid: 1000, session_id: session },
		]);
	}));

e2e('a process without a login uid carries auid and session_id null', (t) =>
	withLoader(t, {}, async (l) => {
		const f = path.join(l.dir, 'no-login');
		const m = l.mark();
		// If the runner itself has a login uid (a login shell), clear it in the child first, then
		// report what the child really had.
		const c = await run(
			bin('sh'),
			[
				'-c',
				'read l < /proc/self/loginuid; [ "$l" = 4294967295 ] || echo 4294967295 > /proc/self/loginuid; ' +
					'read l < /proc/self/loginuid; read s < /proc/self/sessionid; echo "$l $s"; exec "$0" "$1"',
				bin('touch'),
				f,
			],
			{ comm: bin('touch') },
		);
		const [loginuid, session] = c.stdout.trim().split(' ').map(Number);
		const expect = {
			auid: loginuid === UNSET ? null : loginuid,
			session_id: session === UNSET ? null : session,
		};
		t.log('child loginuid/sessionid:', c.stdout.trim());
		assertEvents(t, await l.settle(m), [{ operation: 'add', path: f, ...c.who, ...expect }]);
		t.is(expect.auid, null, 'the child had no login uid');
	}));
