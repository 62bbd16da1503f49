import {renameSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import test from 'ava';
import {UserDb} from '../../supervisor/src/user-db.js';
import {temporaryDirectory} from './helpers.js';

test('names by id, refreshed when the files are replaced', t => {
	const directory = temporaryDirectory();
	const passwdPath = join(directory, 'passwd');
	const groupPath = join(directory, 'group');
	writeFileSync(passwdPath, 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n# comment\nbroken\n');
	writeFileSync(groupPath, 'root:x:0:\nstaff:x:50:alice\n');
	let now = 0;
	const db = new UserDb({passwdPath, groupPath, checkIntervalMs: 1000, now: () => now});
	const generation = db.refreshIfDue();
	t.is(db.user(1000)?.name, 'alice');
	t.is(db.user(1000)?.json, '"alice"');
	t.is(db.group(50)?.name, 'staff');
	t.is(db.user(4242), undefined);
	t.is(db.user(null), undefined);

	// useradd writes a new file and renames it over the old one.
	writeFileSync(`${passwdPath}.new`, 'root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000::/home/bob:/bin/sh\n');
	renameSync(`${passwdPath}.new`, passwdPath);
	now = 500;
	t.is(db.refreshIfDue(), generation);
	t.is(db.user(1000)?.name, 'alice', 'not re-checked before the interval');
	now = 1500;
	t.not(db.refreshIfDue(), generation);
	t.is(db.user(1000)?.name, 'bob');
});
