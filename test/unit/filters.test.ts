import test from 'ava';
import {UsageError} from '../../supervisor/src/errors.js';
import {compileFilter, parseIds, parseOperations} from '../../supervisor/src/filters.js';
import type {KernelEventFields} from '../../supervisor/src/types.js';

const base: KernelEventFields = {
	timestamp: 1, operation: 'modify', path: '/srv/www/index.html', old_path: null, file_type: 'file', inode: 1, dev: '1:1',
	pid: 10, tid: 10, ppid: 1, uid: 1000, gid: 1000, euid: 1000, egid: 1000, auid: 1000, session_id: 3,
	process_name: 'vim', exe: '/usr/bin/vim', syscall: 'write', cgroup_id: 1, source: 'kernel',
};
const event = (fields: Partial<KernelEventFields>): KernelEventFields => ({...base, ...fields});

test('exclude globs match absolute paths, dotfiles included', t => {
	const accept = compileFilter({exclude_paths: ['**/*.swp']});
	t.false(accept(event({path: '/srv/www/.index.html.swp'})));
	t.true(accept(event({path: '/srv/www/index.html'})));
});

test('a rename is dropped only when both of its paths are excluded', t => {
	const accept = compileFilter({exclude_paths: ['**/*.swp']});
	t.true(accept(event({operation: 'rename', path: '/a/x.txt', old_path: '/a/x.swp'})));
	t.false(accept(event({operation: 'rename', path: '/a/y.swp', old_path: '/a/x.swp'})));
});

test('include globs keep a rename when either path matches', t => {
	const accept = compileFilter({include_paths: ['/etc/**']});
	t.true(accept(event({operation: 'rename', path: '/tmp/passwd', old_path: '/etc/passwd'})));
	t.false(accept(event({path: '/tmp/other'})));
});

test('operations', t => {
	const accept = compileFilter({operations: parseOperations('add, delete')});
	t.true(accept(event({operation: 'add'})));
	t.false(accept(event({operation: 'modify'})));
	t.throws(() => parseOperations('add,creat'), {instanceOf: UsageError, message: /unknown operation "creat"/});
	// a list that keeps nothing is a mistake, not a filter
	t.throws(() => compileFilter({operations: []}), {instanceOf: UsageError, message: /filter\.operations: expected at least one of add/});
	t.throws(() => parseOperations(''), {instanceOf: UsageError, message: '--ops: expected at least one operation'});
	t.throws(() => parseIds('1,,2', '--include-uid'), {instanceOf: UsageError, message: '--include-uid: an empty item in "1,,2"'});
});

test('process names and exe globs', t => {
	t.false(compileFilter({exclude_process_names: ['vim']})(base));
	t.true(compileFilter({include_process_names: ['vim', 'nano']})(base));
	t.false(compileFilter({include_exes: ['/usr/sbin/*']})(base));
	t.true(compileFilter({exclude_exes: ['/usr/sbin/*']})(base));
	// An unknown exe (kernel thread) can never match an include list.
	t.false(compileFilter({include_exes: ['**']})(event({exe: null})));
});

test('uids and auids; an unset auid matches no list', t => {
	t.false(compileFilter({exclude_uids: [1000]})(base));
	t.true(compileFilter({include_uids: [0, 1000]})(base));
	t.false(compileFilter({include_auids: [1000]})(event({auid: null})));
	t.true(compileFilter({exclude_auids: [0]})(event({auid: null})));
	t.deepEqual(parseIds('0, 1000', '--uid'), [0, 1000]);
	t.throws(() => parseIds('root', '--include-uid'), {instanceOf: UsageError, message: /--include-uid: "root" is not a numeric id/});
});

test('bad globs and values are usage errors naming where', t => {
	t.throws(() => compileFilter({exclude_paths: ['*.{a,b']}), {instanceOf: UsageError, message: /filter\.exclude_paths: bad glob/});
	t.throws(() => compileFilter({exclude_paths: ['']}), {instanceOf: UsageError, message: /empty glob/});
	t.throws(() => compileFilter({include_paths: ['*.log']}), {instanceOf: UsageError, message: 'filter.include_paths: glob "*.log" can never match: paths are absolute (at any depth: "**/*.log")'});
	t.throws(() => compileFilter({exclude_exes: ['bin/*']}), {instanceOf: UsageError, message: /glob "bin\/\*" can never match/});
	t.notThrows(() => compileFilter({include_paths: ['/etc/**', '**/*.conf', '{/etc,/srv}/**']}));
	t.throws(() => compileFilter({include_uids: ['x' as unknown as number]}), {instanceOf: UsageError});
	t.throws(() => compileFilter({exclude_paths: 'x' as unknown as string[]}), {instanceOf: UsageError, message: /list of strings/});
});

test('all filters combine with AND', t => {
	const accept = compileFilter({operations: ['modify'], exclude_process_names: ['rsync'], include_uids: [1000]});
	t.true(accept(base));
	t.false(accept(event({process_name: 'rsync'})));
	t.false(accept(event({uid: 0})));
});
