import { createRequire } from 'node:module';

/**
 * A CommonJS dependency loaded the first time it is used, not when the module naming it loads:
 * node-forge (TLS, CA) and yaml (-config) would otherwise cost every run their load time and
 * memory. For code that needs the module synchronously; async code uses `await import()`.
 * `from` is the caller's `import.meta.url`: the package resolves from the caller's own
 * node_modules (source, dist or the CLI bundle alike).
 */
export function lazyRequire<T>(from: string, id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= createRequire(from)(id) as T);
}
