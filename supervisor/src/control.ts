import {chmodSync, rmSync} from 'node:fs';
import {connect, createServer, type Server, type Socket} from 'node:net';
import {join} from 'node:path';
import {RuntimeError} from './errors.js';

/**
 * The control socket of a running `fimctl start`: `<state dir>/control.sock`, a Unix socket
 * only root may open (0600, in the 0700 state directory). One request per connection, one JSON
 * line each way: `{"cmd":"status"}` → the status object. It also tells a second `fimctl start`
 * that the state directory is taken.
 */

export const controlSocketName = 'control.sock';

export type StatusProvider = () => Record<string, unknown> | Promise<Record<string, unknown>>;

export function controlSocketPath(stateDirectory: string): string {
	return join(stateDirectory, controlSocketName);
}

export class ControlServer {
	private constructor(private readonly server: Server, private readonly path: string) {}

	/**
	 * Listens on the state directory's socket. Fails with a clear message if another fimctl
	 * answers there; a socket left by a run that died is replaced.
	 */
	static async listen(stateDirectory: string, status: StatusProvider): Promise<ControlServer> {
		const path = controlSocketPath(stateDirectory);
		if (await answers(path)) {
			throw new RuntimeError(`another fimctl is running with the state directory ${stateDirectory} (its control socket answers); stop it, or give this one another --state-dir`);
		}

		rmSync(path, {force: true});
		const server = createServer(socket => {
			serve(socket, status);
		});
		await new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen(path, () => {
				server.off('error', reject);
				resolve();
			});
		});
		chmodSync(path, 0o600);
		// The socket must not keep fimctl alive by itself.
		server.unref();
		return new ControlServer(server, path);
	}

	async close(): Promise<void> {
		await new Promise<void>(resolve => {
			this.server.close(() => {
				resolve();
			});
		});
		rmSync(this.path, {force: true});
	}
}

function serve(socket: Socket, status: StatusProvider): void {
	let request = '';
	socket.setEncoding('utf8');
	socket.setTimeout(5000, () => socket.destroy());
	socket.on('error', () => {});
	socket.on('data', async (chunk: string) => {
		request += chunk;
		const newline = request.indexOf('\n');
		if (newline === -1) {
			if (request.length > 4096) {
				socket.end(`${JSON.stringify({ok: false, error: 'request too long'})}\n`);
			}

			return;
		}

		let command: {cmd?: unknown};
		try {
			command = JSON.parse(request.slice(0, newline)) as {cmd?: unknown};
		} catch {
			socket.end(`${JSON.stringify({ok: false, error: 'expected one JSON object per line'})}\n`);
			return;
		}

		request = '';
		const answer = command.cmd === 'status' ? {ok: true, ...await status()} : {ok: false, error: `unknown command ${JSON.stringify(command.cmd)} (known: status)`};
		socket.end(`${JSON.stringify(answer)}\n`);
	});
}

/** Whether something accepts connections on `path`. */
async function answers(path: string): Promise<boolean> {
	return new Promise<boolean>(resolve => {
		const socket = connect(path);
		socket.once('connect', () => {
			socket.destroy();
			resolve(true);
		});
		socket.once('error', () => {
			resolve(false);
		});
	});
}

/** Asks the fimctl running with `stateDirectory` for its status. */
export async function queryStatus(stateDirectory: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
	const path = controlSocketPath(stateDirectory);
	return new Promise((resolve, reject) => {
		const socket = connect(path);
		let answer = '';
		socket.setEncoding('utf8');
		socket.setTimeout(timeoutMs, () => {
			socket.destroy();
			reject(new RuntimeError(`fimctl at ${path} did not answer within ${timeoutMs / 1000} s`));
		});
		socket.once('connect', () => {
			socket.write(`${JSON.stringify({cmd: 'status'})}\n`);
		});
		socket.on('data', (chunk: string) => {
			answer += chunk;
		});
		socket.once('end', () => {
			try {
				resolve(JSON.parse(answer) as Record<string, unknown>);
			} catch {
				reject(new RuntimeError(`fimctl at ${path} gave an answer that is not JSON`));
			}
		});
		socket.once('error', (error: NodeJS.ErrnoException) => {
			const why = error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
				? `no fimctl is running with the state directory ${stateDirectory} (no control socket answers at ${path})`
				: error.code === 'EACCES' ? `permission denied on ${path} (the control socket is root's)` : `cannot reach ${path}: ${error.message}`;
			reject(new RuntimeError(why, {cause: error}));
		});
	});
}
