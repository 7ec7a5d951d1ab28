// Compiles and runs one CommonJS bundle of the CLI with V8's code cache beside it (made by
// scripts/bundle.mjs): what makes a start cheap. Shared by bin/wgmesh.js and the bundle script,
// so the cached code is for exactly the source compiled here.
'use strict';
const { readFileSync } = require('node:fs');
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

module.exports = { loadBundle };
