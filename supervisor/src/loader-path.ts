import {fileURLToPath} from 'node:url';

/** Where the loader is looked for: $FIM_LOADER, else build/fim-loader in the package. */
export function defaultLoaderPath(env: NodeJS.ProcessEnv = process.env): string {
	const fromEnv = env['FIM_LOADER'];
	if (fromEnv !== undefined && fromEnv !== '') {
		return fromEnv;
	}

	// This file is dist/supervisor/src/loader-path.js once built.
	return fileURLToPath(new URL('../../../build/fim-loader', import.meta.url));
}
