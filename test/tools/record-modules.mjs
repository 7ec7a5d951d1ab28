// Preloaded with `node --import` into a process under test: appends the path of every JavaScript
// file the process loads (CommonJS require, or ES import through node's loader) to the file named
// by RECORD_MODULES_TO, one per line, as it loads. Plain JavaScript: lab hosts run it with node.
import Module, { register } from 'node:module';
import { appendFileSync } from 'node:fs';

const out = process.env.RECORD_MODULES_TO;
if (out) {
  const load = Module._load;
  Module._load = function recordLoad(request, parent, isMain) {
    const exports = load.call(this, request, parent, isMain);
    if (!Module.isBuiltin(request)) {
      try {
        appendFileSync(out, `${Module._resolveFilename(request, parent, isMain)}\n`);
      } catch (err) {
        appendFileSync(out, `unresolved ${request}: ${err.message}\n`);
      }
    }
    return exports;
  };
  register('./record-modules-hooks.mjs', import.meta.url, { data: { out } });
}
