import winston from 'winston';
import type {Logger} from './monitor.js';

export type LogFormat = 'text' | 'json';

/**
 * Diagnostics for the CLI, always on stderr: stdout carries events only.
 * text: `fimctl: warn: message`; json: one object per line with a timestamp.
 */
export function createLogger(options: {verbose: boolean; format: LogFormat}): Logger & {close(): void} {
	const logger = winston.createLogger({
		level: options.verbose ? 'debug' : 'info',
		format: options.format === 'json'
			? winston.format.combine(winston.format.timestamp(), winston.format.json())
			: winston.format.printf(({level, message}) => `fimctl: ${level}: ${String(message)}`),
		transports: [
			new winston.transports.Console({stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']}),
		],
	});
	return {
		error: message => logger.error(message),
		warn: message => logger.warn(message),
		info: message => logger.info(message),
		debug: message => logger.debug(message),
		close: () => logger.close(),
	};
}
