import {UsageError} from './errors.js';
import {compileFilter, filterKeys, parseIds, parseOperations, type FilterSpec} from './filters.js';
import {parseSinkConfig, type SinkConfig} from './sink-config.js';

/**
 * `--sink URL`: a sink on the command line. The scheme picks the type (and transport), the query
 * holds the same options as the config file, dotted (`?format=wazuh&rotate.max_bytes=100M`),
 * plus `id=` and the filter keys of a transform (`operations=add,delete`,
 * `exclude_paths=GLOB`, repeatable).
 *
 *   stdout   stdout?format=text              file:///var/log/fim/events.json
 *   syslog://127.0.0.1:514  (UDP)            syslog+tcp://host:601   syslog+unix:///dev/log
 *   http://host:8080/ingest                  https://es:9200/_bulk?mode=elasticsearch&index=fim
 *   fluent://127.0.0.1:24224                 fluent+tls://collector:24224
 *
 * For http(s), query keys that are not sink options stay in the URL sent to the server.
 */
export function sinkFromUrl(text: string, position: number, inputs: string[]): SinkConfig {
	const where = `--sink ${text}`;
	// Option names are given as the URL spells them, after the flag itself.
	const fail = (message: string): never => {
		const bare = message.replaceAll(`${where}.`, '').replace(`${where}: `, '');
		throw new UsageError(`${where}: ${bare}`);
	};

	let url: URL;
	try {
		// `stdout` and `stdout?format=text` are URLs once given their scheme's colon.
		url = new URL(/^stdout(?:$|\?)/.test(text) ? text.replace(/^stdout/, 'stdout:') : text);
	} catch {
		return fail('not a sink URL (stdout, file:///PATH, syslog://HOST:PORT, http(s)://…, fluent://HOST:PORT)');
	}

	const raw: Record<string, unknown> = {inputs};
	const [scheme, transport] = url.protocol.slice(0, -1).split('+') as [string, string | undefined];
	const ours = new Set<string>();
	switch (scheme) {
		case 'stdout': {
			if (url.pathname !== '' || url.host !== '') {
				fail('stdout takes no address (stdout, or stdout?format=text)');
			}

			raw['type'] = 'stdout';
			break;
		}

		case 'file': {
			if (url.host !== '') {
				// file://var/log/x.json reads "var" as a host: the path would be /log/x.json
				fail(`a file URL takes an absolute path after three slashes (file:///PATH), not a host ("${url.host}")`);
			}

			raw['type'] = 'file';
			raw['path'] = decodeURIComponent(url.pathname);
			break;
		}

		case 'syslog': {
			raw['type'] = 'syslog';
			raw['mode'] = transport ?? 'udp';
			if (transport === 'unix') {
				raw['path'] = decodeURIComponent(url.pathname);
			} else {
				raw['address'] = url.host;
			}

			break;
		}

		case 'http':
		case 'https': {
			raw['type'] = 'http';
			break;
		}

		case 'fluent': {
			raw['type'] = 'fluent';
			raw['address'] = url.host;
			if (transport === 'tls') {
				raw['tls.enabled'] = 'true';
			} else if (transport !== undefined) {
				fail(`unknown transport '${transport}' (fluent:// or fluent+tls://)`);
			}

			break;
		}

		default: {
			fail(`unknown sink scheme '${scheme}' (stdout, file, syslog, syslog+tcp, syslog+unix, http, https, fluent, fluent+tls)`);
		}
	}

	let id = `sink${position}`;
	const filter: FilterSpec = {};
	for (const key of new Set(url.searchParams.keys())) {
		const values = url.searchParams.getAll(key);
		if (key === 'id') {
			id = values.at(-1)!;
		} else if ((filterKeys as readonly string[]).includes(key)) {
			(filter as Record<string, unknown>)[key] = filterValue(key, values, where);
		} else if (raw['type'] === 'http' && !isSinkOption(key)) {
			continue;
		} else {
			raw[key] = values.at(-1);
		}

		ours.add(key);
	}

	if (raw['type'] === 'http') {
		for (const key of ours) {
			url.searchParams.delete(key);
		}

		raw['uri'] = url.href;
	}

	const sink = parseSinkConfig(id, raw, where, fail, true);
	if (Object.keys(filter).length > 0) {
		compileFilter(filter, where);
		sink.filter = filter;
	}

	return sink;
}

function isSinkOption(key: string): boolean {
	return /^(?:format|mode|index|compression|buffer\.|batch\.|request\.|tls\.)/.test(key);
}

function filterValue(key: string, values: string[], where: string): unknown {
	if (key === 'operations') {
		return values.flatMap(value => parseOperations(value, `${where}: operations`));
	}

	if (key.endsWith('_uids') || key.endsWith('_auids')) {
		return values.flatMap(value => parseIds(value, `${where}: ${key}`));
	}

	return values;
}
