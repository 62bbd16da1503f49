import {execa} from 'execa';

/**
 * A random mix of changes under one directory, for the tests that replay their events: files
 * made (O_TRUNC, O_EXCL or neither, O_TMPFILE then linked), appended to, truncated (by name
 * and by fd), fallocate, directories made and removed, unlink, rename (onto a file, a
 * directory, itself, another link of the same file), RENAME_EXCHANGE, link, symlink, fifo,
 * chmod and fchmod, utimes with explicit times, setxattr, over a few names a few levels deep
 * so that they collide, named by absolute paths, paths with "..", and paths relative to a cwd
 * that moves. Many calls fail (ENOENT, EEXIST, ENOTEMPTY, ...): those change nothing.
 *
 * Symlinks point nowhere, so no call goes through one: a name-based path through a symlink is
 * resolved by the loader when it reads the event, and the tree may have changed by then
 * (docs/protocol.md); that is not what the replays check.
 */
const script = `
import ctypes, os, random, sys
root, seed, n = os.fsencode(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
dirs_stay, no_links = sys.argv[4] == '1', sys.argv[5] == '1'
rnd = random.Random(seed)
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
def name(): return rnd.choice([b'a', b'b', b'c', b'x', b'y'])
def where():
    p = os.path.join(root, *[name() for _ in range(rnd.randint(0, 2))], name())
    r = rnd.random()
    if r < 0.15:
        return os.path.relpath(p)  # from the cwd, which moves now and then (below)
    parent = os.path.dirname(p)
    if r < 0.25 and parent != root:
        return os.path.join(parent, b'..', os.path.basename(parent), os.path.basename(p))
    return p
def fd_change(p, change):
    fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
    try:
        change(fd)
    finally:
        os.close(fd)
def tmpfile(p):
    fd = os.open(os.path.dirname(p) or b'.', os.O_TMPFILE | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b't')
        os.link(b'/proc/self/fd/%d' % fd, p)
    finally:
        os.close(fd)
# O_NONBLOCK: a fifo without a reader fails the open (ENXIO) instead of waiting for one
def write(p, flags):
    fd = os.open(p, flags | os.O_NONBLOCK, 0o644)
    os.write(fd, b'z' * rnd.randint(1, 64))
    os.close(fd)
def move(p, call):
    if dirs_stay and os.path.isdir(p) and not os.path.islink(p):
        raise OSError('directories stay where they are')
    return call()
ops = [
    lambda p, q: write(p, os.O_CREAT | os.O_WRONLY | rnd.choice([0, os.O_TRUNC, os.O_EXCL])),
    lambda p, q: write(p, os.O_WRONLY | os.O_APPEND),
    lambda p, q: os.truncate(p, rnd.randint(0, 8)),
    lambda p, q: os.mkdir(p),
    lambda p, q: os.mkdir(p),
    lambda p, q: os.rmdir(p),
    lambda p, q: os.unlink(p),
    lambda p, q: move(p, lambda: os.rename(p, q)),
    lambda p, q: move(p, lambda: os.rename(p, q)),
    lambda p, q: move(p, lambda: move(q, lambda: libc.renameat2(AT_FDCWD, p, AT_FDCWD, q, RENAME_EXCHANGE))),
    lambda p, q: None if no_links else os.link(p, q),
    lambda p, q: os.symlink(b'/nonexistent-fim-replay/x', p),
    lambda p, q: os.chmod(p, rnd.choice([0o600, 0o644, 0o755])),
    lambda p, q: os.mkfifo(p),
    lambda p, q: os.utime(p, (rnd.randint(1, 10**9), rnd.randint(1, 10**9))),
    lambda p, q: os.setxattr(p, b'user.fim', b'%d' % rnd.randint(0, 9)),
    lambda p, q: fd_change(p, lambda fd: os.ftruncate(fd, rnd.randint(0, 8))),
    lambda p, q: fd_change(p, lambda fd: os.fchmod(fd, rnd.choice([0o600, 0o644]))),
    lambda p, q: fd_change(p, lambda fd: os.posix_fallocate(fd, 0, 4096)),
    lambda p, q: tmpfile(p),
    lambda p, q: os.chdir(os.path.dirname(where()) or b'.'),
]
os.chdir(root)
done = 0
# FIM_REPLAY_LOG=<file>: each call that succeeded, with the cwd after it, in <file>.<seed>
log = open(os.environ['FIM_REPLAY_LOG'] + '.' + str(seed), 'w') if os.environ.get('FIM_REPLAY_LOG') else None
for _ in range(n):
    try:
        op = rnd.choice(ops)
        a, b = where(), where()
        r = op(a, b)
        if log and (r is None or r == 0):
            try: cwd = os.getcwd()
            except OSError: cwd = '?'
            log.write('%d %r %r cwd=%r\\n' % (ops.index(op), a, b, cwd))
        done += r is None or r == 0
    except OSError:
        pass
print(done)
`;

export type RandomChangesOptions = {
	/** No directory is renamed or exchanged. */
	directoriesStay?: boolean;
	/** No hard link is made. */
	noHardLinks?: boolean;
};

/** Makes `calls` random calls under `root` (the same ones for the same seed); resolves with how many succeeded. */
export async function randomChanges(root: string, seed: number, calls: number, options: RandomChangesOptions = {}): Promise<number> {
	const flag = (on?: boolean) => (on ? '1' : '0');
	const {stdout} = await execa('python3', ['-c', script, root, String(seed), String(calls), flag(options.directoriesStay), flag(options.noHardLinks)]);
	return Number(stdout.trim());
}
