import {execa} from 'execa';

/**
 * A random mix of changes under one directory, for the tests that replay their events: files
 * made (O_TRUNC, O_EXCL or neither), appended to and truncated, directories made and removed,
 * unlink, rename (onto a file, a directory, itself, another link of the same file),
 * RENAME_EXCHANGE, link, symlink, chmod, over a few names a few levels deep so that they
 * collide. Many calls fail (ENOENT, EEXIST, ENOTEMPTY, ...): those change nothing.
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
    return os.path.join(root, *[name() for _ in range(rnd.randint(0, 2))], name())
def write(p, flags):
    fd = os.open(p, flags, 0o644)
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
]
done = 0
for _ in range(n):
    try:
        r = rnd.choice(ops)(where(), where())
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
