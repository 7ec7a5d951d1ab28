/**
 * limitHeapGrowth sets V8's --heap-growing-percent, and nothing for 0. Its effect on the heap is
 * measured where it matters, at 10,000 agents (bench/control-plane.ts: heap peaks 848 → 389–402 MB,
 * bench/results.md): a child process's peak heap under the test runner's load is GC timing, and a
 * test of it failed in CI with the comparison reversed (limited 236 MB against V8's own 127 MB).
 * When a bootstrap applies it (a large mesh only) is tested in bootstrap.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { limitHeapGrowth } from '../src/heap-growth.js';

const here = path.dirname(new URL(import.meta.url).pathname);

test('limitHeapGrowth gives V8 --heap-growing-percent, rounded; 0 (or less) leaves V8\'s own', () => {
  const set: string[] = [];
  limitHeapGrowth(50, (f) => set.push(f));
  limitHeapGrowth(33.4, (f) => set.push(f));
  limitHeapGrowth(0, (f) => set.push(f));
  limitHeapGrowth(-5, (f) => set.push(f));
  assert.deepEqual(set, ['--heap-growing-percent=50', '--heap-growing-percent=33']);
});

test('V8 takes the flag at run time: a code cache made after it no longer fits a fresh process', () => {
  // The same check bin/bundle-loader.js's kept caches depend on (why a bootstrap sets it only for a large mesh).
  const script = `
    import vm from 'node:vm';
    import { limitHeapGrowth } from ${JSON.stringify(path.join(here, '../src/heap-growth.ts'))};
    const src = 'function f(x) { return x * 2 } f(3);';
    const s = new vm.Script(src, { filename: 'probe.js' }); s.runInThisContext();
    const before = s.createCachedData();
    limitHeapGrowth(50);
    const after = s.createCachedData();
    process.stdout.write(JSON.stringify({ before: before.toString('base64'), after: after.toString('base64') }));
  `;
  const made = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(made.status, 0, made.stderr);
  const caches = JSON.parse(made.stdout) as { before: string; after: string };
  const check = `
    const vm = require('node:vm');
    const src = 'function f(x) { return x * 2 } f(3);';
    const c = JSON.parse(process.argv[1]);
    const fits = (b) => !new vm.Script(src, { filename: 'probe.js', cachedData: Buffer.from(b, 'base64') }).cachedDataRejected;
    process.stdout.write(JSON.stringify([fits(c.before), fits(c.after)]));
  `;
  const fresh = spawnSync(process.execPath, ['-e', check, JSON.stringify(caches)], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.deepEqual(JSON.parse(fresh.stdout), [true, false]);
});
