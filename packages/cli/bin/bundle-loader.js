// Compiles and runs one CommonJS bundle of the CLI with V8's code cache beside it (made by
// scripts/bundle.mjs): what makes a start cheap. Shared by bin/wgmesh.js and the bundle script,
// so the cached code is for exactly the source compiled here.
'use strict';
const { readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

/** Compiles `filename` (with `cachedData` when given) and evaluates it; returns its exports and the script. */
function loadBundle(filename, cachedData) {
  const code = readFileSync(filename, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __wgmeshImport) { ${code}\n})`, {
    filename,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} };
  // The bundles import ES modules (the dashboard) through this module's import(): one compiled
  // inside the bundle has no loader once the code comes from a cache made by another process.
  script.runInThisContext()(module.exports, createRequire(filename), module, filename, path.dirname(filename), (specifier) => import(specifier));
  return { exports: module.exports, script };
}

/**
 * Loads a command's bundle with the best code cache at hand. The build's (NAME.cjs.cache) holds
 * what loading the modules compiles; the functions a run calls after that (the join, gRPC, the
 * codecs, WireGuard's socket) V8 still compiles at every start. So a run that has done its usual
 * work, and did not start from a kept cache, keeps V8's code for the next start: `warmed()` writes
 * NAME.cjs.warm (NAME.cjs.warm-HASH under node flags: flagsSuffix) beside the bundle, once
 * (`make build` removes it with the rest). A kept cache that V8 refuses (another node version) is
 * replaced the same way.
 */
function loadCommandBundle(filename) {
  const warmFile = `${filename}.warm${flagsSuffix(process.execArgv, process.env.NODE_OPTIONS)}`;
  const warm = readIfPresent(warmFile);
  const { exports, script } = loadBundle(filename, warm ?? readIfPresent(`${filename}.cache`));
  if (warm !== undefined && !script.cachedDataRejected) return { exports, warmed: undefined };
  let kept = false;
  const warmed = () => {
    if (kept) return;
    kept = true;
    keepCodeCache(script, warmFile);
  };
  return { exports, warmed };
}

/**
 * V8 refuses a cache made under other flags, whole (no fallback to the build's cache then): a node
 * started once with --jitless or another --max-semi-space-size would leave a kept cache that every
 * later plain start refuses, each compiling from nothing (2x slower starts), and it would not be
 * replaced until a run lived long enough to keep its own. So runs with node flags keep their own
 * file, NAME.cjs.warm-HASH; plain runs use NAME.cjs.warm. (v8.cachedDataVersionTag() says the
 * same, but loading node:v8 costs 1.7 ms of every start.)
 */
function flagsSuffix(execArgv, nodeOptions) {
  const flags = [...execArgv, nodeOptions ?? ''].join(' ').trim();
  if (flags === '') return '';
  // FNV-1a, 32 bits: a file name, not security.
  let hash = 0x811c9dc5;
  for (let i = 0; i < flags.length; i++) hash = Math.imul(hash ^ flags.charCodeAt(i), 0x01000193) >>> 0;
  return `-${hash.toString(16).padStart(8, '0')}`;
}

/** Writes V8's code for `script` to `file` whole or not at all (nodes starting together may race). */
function keepCodeCache(script, file) {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, script.createCachedData(), { mode: 0o644 });
    renameSync(temp, file);
  } catch {
    // A directory this user cannot write (a read-only /usr, `wgmesh info` as a user): the next
    // start uses the build's cache, as before.
    rmSync(temp, { force: true });
  }
}

function readIfPresent(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

module.exports = { loadBundle, loadCommandBundle, flagsSuffix };
