/**
 * Watch a directory with the library and print who changed what, until Ctrl-C.
 *
 * As root, from the repository root, after `make`:
 *   node dist/examples/basic-monitor.js /tmp
 */
import {isSupervisorRecord, WhoDataMonitor} from 'fim-whodata';

const paths = process.argv.slice(2);
const monitor = await WhoDataMonitor.create({
	paths: paths.length > 0 ? paths : ['/tmp'],
	filter: {exclude_paths: ['**/*.swp', '**/*~']},
});

process.once('SIGINT', () => {
	void monitor.close();
});

console.error(`watching ${monitor.paths.join(', ')}; Ctrl-C to stop`);
for await (const record of monitor) {
	if (isSupervisorRecord(record)) {
		console.error(`supervisor: ${record.message}`);
		continue;
	}

	const who = record.user_name ?? `uid ${record.uid}`;
	const login = record.login_user ? ` (logged in as ${record.login_user})` : '';
	const from = record.old_path ? ` from ${record.old_path}` : '';
	console.log(`${record.operation} ${record.path}${from} by ${who}${login}: ${record.process_name}[${record.pid}] ${record.cmdline ?? record.exe ?? ''}`);
}
