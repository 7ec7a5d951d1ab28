// Compiles and runs one CommonJS bundle of the CLI with V8's code cache beside it (made by
// scripts/bundle.mjs): what makes a start cheap. Shared by bin/wgmesh.js and the bundle script,
// so the cached code is for exactly the source compiled here.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

/** Compiles `filename` (with `cachedData` when given) and evaluates it; returns its exports and the script. */
export function loadBundle(filename, cachedData) {
  const code = readFileSync(filename, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${code}\n})`, {
    filename,
    ...(cachedData ? { cachedData } : {}),
    // The bundles' import() of the dashboard (an ES module) goes through node's own loader.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(filename), module, filename, path.dirname(filename));
  return { exports: module.exports, script };
}
