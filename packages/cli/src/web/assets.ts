/**
 * The page's files, built by `make build` (scripts/bundle.mjs) into packages/cli/bundle/ui/:
 * read once at start and served from memory. Nothing is fetched from elsewhere: the page works
 * offline.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UiPageMissing } from '../errors.js';
import type { Asset } from './server.js';

/** URL path -> file in bundle/ui, and its type. */
export const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/**
 * Where the built page is: beside the command bundles (bundle/commands/ui.cjs -> bundle/ui/), or
 * from the sources and dist/ (src/web/assets.ts -> bundle/ui/).
 */
export function pageDirs(moduleUrl: string = import.meta.url): string[] {
  return [new URL('../ui/', moduleUrl), new URL('../../bundle/ui/', moduleUrl)].map((u) => fileURLToPath(u));
}

export function loadPage(dirs: readonly string[] = pageDirs()): Map<string, Asset> {
  for (const dir of dirs) {
    try {
      const assets = new Map<string, Asset>();
      for (const [path, { file, type }] of Object.entries(PAGE_FILES)) assets.set(path, { type, body: readFileSync(dir + file) });
      return assets;
    } catch {
      // not built there
    }
  }
  throw new UiPageMissing(`the web page's files are missing (looked in ${dirs.join(', ')}): run \`make build\``);
}
