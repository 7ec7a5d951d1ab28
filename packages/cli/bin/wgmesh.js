#!/usr/bin/env node
// The bundled CLI (`make build` writes packages/cli/bundle/): what users, the lab, `make demo`
// and the tests run. A command runs from its own bundle, bundle/commands/NAME.cjs; help, version
// and unknown names from bundle/main.cjs.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadBundle } from './bundle-loader.js';

const bundleDir = fileURLToPath(new URL('../bundle/', import.meta.url));
const [name = '', ...rest] = process.argv.slice(2);
const commandFile = /^[a-z][a-z-]*$/.test(name) ? `${bundleDir}commands/${name}.cjs` : undefined;
if (commandFile && existsSync(commandFile)) {
  process.exitCode = await loadBundle(commandFile, readCodeCache(`${commandFile}.cache`)).exports.start(rest, process.env);
} else if (existsSync(`${bundleDir}main.cjs`)) {
  process.exitCode = await loadBundle(`${bundleDir}main.cjs`).exports.start(process.argv.slice(2), process.env);
} else {
  process.stderr.write(`wgmesh: the CLI is not built (no ${bundleDir}): run \`make build\`\n`);
  process.exitCode = 1;
}

function readCodeCache(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined; // No cache: V8 compiles the bundle itself, a little slower.
  }
}
