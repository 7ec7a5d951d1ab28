#!/usr/bin/env node
/**
 * Bundles the CLI with esbuild into packages/cli/bundle/, the files users run (bin/wgmesh.js):
 *
 *   commands/NAME.cjs        one self-contained file per command: a run loads one file, and only
 *                            the code that command reaches (no bootstrap in `join`, no ink in
 *                            `info` without -watch). Optional parts (prom-client, node-forge,
 *                            yaml) load inside it only when a run needs them.
 *   commands/NAME.cjs.cache  V8's code cache for it, made here: a start skips most compiling.
 *   (commands/NAME.cjs.warm  not made here: the code cache a run of the command keeps once it has
 *                            done its work, for the starts after it; bin/bundle-loader.js.)
 *   main.cjs                 help, version and unknown command names (src/help.ts).
 *   dashboard.mjs            ink and React for `info -watch` (ES module: yoga-layout uses
 *                            top-level await).
 *   ui/                      the page `wgmesh ui` serves (src/web/assets.ts reads it): app.js
 *                            (src/web/page/app.ts for the browser), index.html, style.css,
 *                            favicon.svg. Nothing in it is fetched from elsewhere.
 *
 * `tsc -b` still type-checks and writes dist/ (declarations, and the lab API the tests import).
 *
 *   node scripts/bundle.mjs [--metafile DIR]   (DIR: esbuild's account of what each bundle holds)
 *   WGMESH_BUNDLE_MINIFY=0 node scripts/bundle.mjs   (readable bundles, for profiles; not shipped)
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBundle } from '../bin/bundle-loader.js';

const cliDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(cliDir, 'src');
const outdir = path.join(cliDir, 'bundle');
const metafileDir = process.argv.includes('--metafile') ? process.argv[process.argv.indexOf('--metafile') + 1] : undefined;
const minify = process.env.WGMESH_BUNDLE_MINIFY !== '0';

// The commands and their modules, as src/commands/table.ts lists them (a unit test keeps it in
// step with help.ts's list).
const table = readFileSync(path.join(src, 'commands/table.ts'), 'utf8');
const commands = [...table.matchAll(/^\s+'?([a-z][a-z-]*)'?: async \(\) => \(await import\('\.\/([a-z-]+)\.js'\)\)\.(\w+),$/gm)].map((m) => ({ name: m[1], file: m[2], fn: m[3] }));
if (commands.length < 10) throw new Error(`bundle: found ${commands.length} commands in src/commands/table.ts; its lines no longer match this script's pattern`);

/**
 * `wgmesh version`'s commit and build time (src/help.ts reads them): the short commit, "+dirty" when
 * the tree has changes, "unknown" outside a git checkout (a release tarball) or without git.
 * SOURCE_DATE_EPOCH, when set, is the build time (reproducible builds).
 */
function buildStamp() {
  const git = (...args) => execFileSync('git', args, { cwd: cliDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let commit = 'unknown';
  try {
    commit = git('rev-parse', '--short=12', 'HEAD');
    if (git('status', '--porcelain', '--untracked-files=no')) commit += '+dirty';
  } catch {
    // not a git checkout, or no git: "unknown"
  }
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  const date = new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { commit, date };
}
const stamp = buildStamp();

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // The workspace packages' TypeScript sources (their "source" export condition), not dist/.
  conditions: ['source'],
  jsx: 'automatic',
  minify,
  // Stack traces and error messages keep the names of classes and functions.
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: metafileDir !== undefined,
  define: { __WGMESH_BUILD__: JSON.stringify(stamp) },
};

/** Where the bundles meet each other at run time instead of being copied into one another. */
const seams = {
  name: 'wgmesh-seams',
  setup(b) {
    // info -watch: the dashboard bundle, an ES module beside the commands, imported through the
    // loader's __wgmeshImport (bin/bundle-loader.js): an import() compiled into a command bundle
    // fails when V8's code cache made in another process is used ("A dynamic import callback was
    // not specified", node 20).
    b.onResolve({ filter: /\/ui\/live-dashboard\.js$/ }, () => ({ path: 'dashboard', namespace: 'wgmesh-seam' }));
    b.onLoad({ filter: /^dashboard$/, namespace: 'wgmesh-seam' }, () => ({
      contents: "export const runDashboard = async (...args) => (await __wgmeshImport(new URL('../dashboard.mjs', __wgmeshImportMetaUrl).href)).runDashboard(...args);",
      loader: 'js',
    }));
  },
};

const cjs = {
  ...common,
  format: 'cjs',
  // import() of a package becomes require() (see the dashboard's seam for why).
  supported: { 'dynamic-import': false },
  // Loaded from node_modules, and only by the runs that need them: etcd3 (-store etcd; it reads
  // its .proto files next to itself), node-forge (TLS, ca), yaml (-config), prom-client
  // (-metrics-addr), ink and React (the dashboard bundle). Kept out of the command bundles so a
  // static import of one shows as a load at start (test/e2e/startup-modules.test.ts catches it).
  external: ['etcd3', 'node-forge', 'yaml', 'prom-client', 'ink', 'react', 'react/*'],
  plugins: [seams],
  // ES module sources ask for import.meta.url (lazyRequire, the lab's paths): the bundle file's URL.
  define: { ...common.define, 'import.meta.url': '__wgmeshImportMetaUrl' },
  banner: { js: "var __wgmeshImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};

await rm(outdir, { recursive: true, force: true });
const metas = {};
const entry = (contents) => ({ contents, resolveDir: src, sourcefile: 'bundle-entry.js', loader: 'ts' });
await Promise.all([
  ...commands.map(async (c) => {
    metas[c.name] = (await build({
      ...cjs,
      stdin: entry([
        "import { startBundledCommand } from './bundle-entry.js';",
        "import type { CommandRuntime } from './run.js';",
        `const load = async () => (await import('./commands/${c.file}.js')).${c.fn};`,
        `export const start = (argv: string[], env: NodeJS.ProcessEnv, runtime?: CommandRuntime) => startBundledCommand(${JSON.stringify(c.name)}, load, argv, env, runtime);`,
        // For the code cache below: load every module a run of the command loads first, run nothing.
        "export const preload = () => Promise.all([import('./run.js'), load()]);",
      ].join('\n')),
      outfile: path.join(outdir, 'commands', `${c.name}.cjs`),
    })).metafile;
  }),
  build({
    ...cjs,
    stdin: entry("import { answerWithoutCommand } from './help.js';\nexport const start = async (argv: string[]) => answerWithoutCommand(argv) ?? 2;"),
    outfile: path.join(outdir, 'main.cjs'),
  }).then((r) => (metas.main = r.metafile)),
  build({
    ...common,
    format: 'esm',
    entryPoints: { dashboard: path.join(src, 'ui/live-dashboard.tsx') },
    outdir,
    outExtension: { '.js': '.mjs' },
    // ink's link to React DevTools (react-devtools-core, never installed) stays in a chunk of its
    // own, imported only with DEV=true.
    splitting: true,
    chunkNames: 'dashboard-chunks/[name]-[hash]',
    external: ['react-devtools-core'],
    banner: { js: "import { createRequire as __wgmeshCreateRequire } from 'node:module'; const require = __wgmeshCreateRequire(import.meta.url);" },
  }).then((r) => (metas.dashboard = r.metafile)),
  // wgmesh ui's page: one script for the browser, and its static files beside it.
  build({
    ...common,
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    format: 'esm',
    keepNames: false,
    entryPoints: [path.join(src, 'web/page/app.ts')],
    outfile: path.join(outdir, 'ui', 'app.js'),
  }).then(async (r) => {
    metas.ui = r.metafile;
    for (const file of ['index.html', 'style.css', 'favicon.svg']) await copyFile(path.join(src, 'web/page', file), path.join(outdir, 'ui', file));
  }),
]);

// The code caches: each command bundle compiled and its modules evaluated as a run would, then
// V8's compiled code written beside it. bin/wgmesh.js hands it back to V8, which checks it
// (same V8, same flags, same source) and compiles afresh if it does not fit.
for (const file of await readdir(path.join(outdir, 'commands'))) {
  if (!file.endsWith('.cjs')) continue;
  const filename = path.join(outdir, 'commands', file);
  // One character outside ASCII (esbuild leaves regular expressions as written) and V8 keeps the
  // whole source, which it holds for lazy compiling, at two bytes a character: 1.75 MB of a join
  // node's heap instead of 0.9. Write such characters as \u escapes.
  const nonAscii = readFileSync(filename, 'latin1').search(/[^\x00-\x7f]/);
  // (Unminified bundles keep comments, which may hold any character.)
  if (nonAscii >= 0 && minify) throw new Error(`bundle: ${filename} has a non-ASCII character at offset ${nonAscii}: write it as a \\u escape in the source`);
  const { exports, script } = loadBundle(filename);
  await exports.preload();
  await writeFile(`${filename}.cache`, script.createCachedData());
}

if (metafileDir) {
  await mkdir(metafileDir, { recursive: true });
  for (const [name, meta] of Object.entries(metas)) await writeFile(path.join(metafileDir, `${name}.json`), JSON.stringify(meta));
}
