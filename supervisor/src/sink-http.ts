import {Agent as HttpAgent, request as httpRequest, type IncomingMessage} from 'node:http';
import {Agent as HttpsAgent, request as httpsRequest} from 'node:https';
import {promisify} from 'node:util';
import {gzip} from 'node:zlib';
import {readCaFile, type HttpSinkConfig} from './sink-config.js';
import {errorText, SinkError, type SendOutcome, type Sink, type SinkEntry} from './sinks.js';

const gzipAsync = promisify(gzip);

/**
 * HTTP: each batch is one POST of NDJSON (one line per event), optionally gzipped, with the
 * configured headers (an `Authorization` token, say). `mode: elasticsearch` posts the batch to
 * a `_bulk` endpoint instead, each document after a `create` action for `index`, and reads the
 * per-document results.
 *
 * Outcomes: 2xx delivered; 400, 413 and 422 refused for good (counted as discarded: sending the
 * same body again cannot succeed); anything else (timeouts, refused connections, 5xx, 429, an
 * auth failure fixed meanwhile) is retried with the queue's backoff. In bulk mode documents
 * that failed with 429 or 5xx are sent again, other failures are refused.
 */

const refusedStatuses = new Set([400, 413, 422]);

type Response = {status: number; body: string};

export function createHttpSink(config: HttpSinkConfig): Sink {
	const url = new URL(config.uri);
	const secure = url.protocol === 'https:';
	const ca = readCaFile(config);

	// One connection kept open: batches go one at a time anyway.
	const agent = secure
		? new HttpsAgent({keepAlive: true, maxSockets: 1, ...(ca ? {ca} : {}), rejectUnauthorized: config.tls.verify_certificate})
		: new HttpAgent({keepAlive: true, maxSockets: 1});
	const bulk = config.mode === 'elasticsearch';
	const action = `${JSON.stringify({create: {_index: config.index}})}\n`;
	const timeoutMs = config.request.timeout_secs * 1000;

	const post = async (body: Buffer): Promise<Response> => new Promise<Response>((resolve, reject) => {
		const headers: Record<string, string | number> = {
			'content-type': 'application/x-ndjson',
			'user-agent': 'fim-whodata',
			...config.request.headers,
			'content-length': body.length,
		};
		if (config.compression === 'gzip') {
			headers['content-encoding'] = 'gzip';
		}

		const request = (secure ? httpsRequest : httpRequest)(url, {method: 'POST', agent, headers}, (response: IncomingMessage) => {
			const chunks: Buffer[] = [];
			response.on('data', (chunk: Buffer) => chunks.push(chunk));
			response.on('end', () => {
				resolve({status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')});
			});
			response.on('error', reject);
		});
		request.setTimeout(timeoutMs, () => {
			request.destroy(new Error(`no answer within ${config.request.timeout_secs} s`));
		});
		request.on('error', reject);
		request.end(body);
	});

	return {
		id: config.id,
		type: 'http',
		target: config.uri,
		async send(entries: readonly SinkEntry[]): Promise<SendOutcome | void> {
			let text = '';
			for (const entry of entries) {
				text += bulk ? `${action}${entry.line}\n` : `${entry.line}\n`;
			}

			const plain = Buffer.from(text);
			const body = config.compression === 'gzip' ? await gzipAsync(plain) : plain;
			let response: Response;
			try {
				response = await post(body);
			} catch (error) {
				throw new SinkError(`POST ${config.uri}: ${errorText(error)}`, {retryable: true, cause: error});
			}

			const {status} = response;
			if (status < 200 || status > 299) {
				const detail = `POST ${config.uri}: HTTP ${status}${response.body ? `: ${response.body.slice(0, 200)}` : ''}`;
				if (refusedStatuses.has(status)) {
					return {rejected: entries.length, rejectedReason: detail};
				}

				throw new SinkError(detail, {retryable: true});
			}

			return bulk ? bulkOutcome(response.body, entries) : undefined;
		},
		async close(): Promise<void> {
			agent.destroy();
		},
	};
}

type BulkItem = Record<string, {status?: number; error?: {type?: string; reason?: string}}>;

/** Reads Elasticsearch's per-document results: which to send again, how many were refused. */
export function bulkOutcome(body: string, entries: readonly SinkEntry[]): SendOutcome | void {
	let parsed: {errors?: boolean; items?: BulkItem[]};
	try {
		parsed = JSON.parse(body) as typeof parsed;
	} catch {
		throw new SinkError(`_bulk answered 2xx with a body that is not JSON: ${body.slice(0, 120)}`, {retryable: true});
	}

	if (!parsed.errors) {
		return undefined;
	}

	const items = parsed.items ?? [];
	if (items.length !== entries.length) {
		throw new SinkError(`_bulk answered ${items.length} results for ${entries.length} documents`, {retryable: true});
	}

	const retry: SinkEntry[] = [];
	let rejected = 0;
	let reason: string | undefined;
	for (const [index, item] of items.entries()) {
		const result = Object.values(item)[0] ?? {};
		const status = result.status ?? 0;
		if (status >= 200 && status <= 299) {
			continue;
		}

		if (status === 429 || status >= 500) {
			retry.push(entries[index]!);
		} else {
			rejected++;
			reason ??= `${status} ${result.error?.type ?? ''}: ${result.error?.reason ?? ''}`.trim();
		}
	}

	return {retry, rejected, ...(reason ? {rejectedReason: reason} : {})};
}
