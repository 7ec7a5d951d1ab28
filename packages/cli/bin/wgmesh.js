#!/usr/bin/env node
// The bundled CLI (`make build` writes packages/cli/bundle/): what users, the lab, `make demo`
// and the tests run. A command runs from its own bundle, bundle/commands/NAME.cjs; help, version
// and unknown names from bundle/main.cjs.
// CommonJS (bin/package.json), not an ES module: an ES entry point makes node set up its ES
// module loader first, 5-8 ms of CPU on every command.
'use strict';
const { existsSync } = require('node:fs');
const path = require('node:path');
const { loadBundle, loadCommandBundle } = require('./bundle-loader.js');

const bundleDir = path.join(__dirname, '..', 'bundle') + path.sep;
const [name = '', ...rest] = process.argv.slice(2);
const commandFile = /^[a-z][a-z-]*$/.test(name) ? `${bundleDir}commands/${name}.cjs` : undefined;

async function main() {
  if (commandFile && existsSync(commandFile)) {
    const { exports, warmed } = loadCommandBundle(commandFile);
    return exports.start(rest, process.env, warmed ? { warmed } : {});
  }
  if (existsSync(`${bundleDir}main.cjs`)) {
    return loadBundle(`${bundleDir}main.cjs`).exports.start(process.argv.slice(2), process.env);
  }
  process.stderr.write(`wgmesh: the CLI is not built (no ${bundleDir}): run \`make build\`\n`);
  return 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    // What the bundles' own handlers did not catch: a bug, shown whole.
    process.stderr.write(`wgmesh: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
