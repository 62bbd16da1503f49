import {spawn, type ChildProcess} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

export {freePort} from '../../unit/helpers.js';

/**
 * A private rsyslogd for a test: its own config, pid file, work directory, ports on 127.0.0.1
 * and unix socket, all under a fresh temporary directory. It never reads /etc/rsyslog.conf nor
 * touches /dev/log or a system rsyslog. What it receives is written one message per line:
 *
 *   <input>|<tag or app-name>|<msgid>|<structured data>|<msg>
 */

export const rsyslogd = '/usr/sbin/rsyslogd';

export class Rsyslog {
	readonly directory = mkdtempSync(join(tmpdir(), 'fim-rsyslog-'));
	readonly output = join(this.directory, 'received.log');
	readonly socketPath = join(this.directory, 'log.sock');
	private child: ChildProcess | undefined;

	constructor(readonly tcpPort: number, readonly udpPort: number) {
		writeFileSync(join(this.directory, 'rsyslog.conf'), `
global(workDirectory="${this.directory}" maxMessageSize="64k")
module(load="imtcp")
module(load="imudp")
module(load="imuxsock" SysSock.Use="off")
input(type="imtcp" address="127.0.0.1" port="${tcpPort}")
input(type="imudp" address="127.0.0.1" port="${udpPort}")
input(type="imuxsock" Socket="${this.socketPath}" RateLimit.Interval="0" UseSysTimeStamp="off")
template(name="fields" type="string" string="%inputname%|%app-name%|%msgid%|%structured-data%|%msg%\\n")
*.* action(type="omfile" file="${this.output}" template="fields")
`);
	}

	async start(): Promise<void> {
		const child = spawn(rsyslogd, ['-n', '-f', join(this.directory, 'rsyslog.conf'), '-i', join(this.directory, 'rsyslogd.pid')], {stdio: ['ignore', 'ignore', 'pipe']});
		let stderr = '';
		child.stderr!.on('data', (chunk: Buffer) => {
			stderr += chunk.toString();
		});
		this.child = child;
		// Listening once its TCP port takes connections (and the socket file exists).
		const deadline = Date.now() + 10_000;
		while (!(await this.accepting()) || !existsSync(this.socketPath)) {
			if (child.exitCode !== null || Date.now() > deadline) {
				throw new Error(`rsyslogd did not start: ${stderr}`);
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 50);
			});
		}
	}

	async stop(): Promise<void> {
		const child = this.child;
		this.child = undefined;
		if (child && child.exitCode === null) {
			const exited = new Promise(resolve => {
				child.once('exit', resolve);
			});
			child.kill('SIGTERM');
			await exited;
		}
	}

	lines(): string[] {
		return existsSync(this.output) ? readFileSync(this.output, 'utf8').split('\n').filter(Boolean) : [];
	}

	private async accepting(): Promise<boolean> {
		const {connect} = await import('node:net');
		return new Promise(resolve => {
			const socket = connect({host: '127.0.0.1', port: this.tcpPort});
			socket.once('connect', () => {
				socket.destroy();
				resolve(true);
			});
			socket.once('error', () => {
				resolve(false);
			});
		});
	}
}
