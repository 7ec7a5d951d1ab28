// The ES module half of record-modules.mjs: node's loader hooks (they run on their own thread).
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let out;

export function initialize(data) {
  out = data.out;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:')) appendFileSync(out, `${fileURLToPath(resolved.url)}\n`);
  return resolved;
}
