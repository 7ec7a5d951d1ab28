import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { DEFAULTS } from '../src/constants.js';

const here = path.dirname(new URL(import.meta.url).pathname);

/**
 * A process that keeps about 200 MB alive and leaves promoted garbage behind (objects kept across a
 * timer, as pending writes of a fan-out are), with and without limitHeapGrowth: the peak heap.
 */
function peakHeapMb(percent: number): number {
  const script = `
    import { limitHeapGrowth } from ${JSON.stringify(path.join(here, '../src/heap-growth.ts'))};
    limitHeapGrowth(${percent});
    const live = [];
    for (let i = 0; i < 200_000; i++) live.push({ a: 'x'.repeat(900) + i, b: [i, i + 1, i + 2], c: { d: i } });
    let peak = 0;
    for (let round = 0; round < 300; round++) {
      let pending = [];
      for (let i = 0; i < 10_000; i++) pending.push({ buf: new Array(40).fill(i), s: 'm' + i + '-' + round, cb: () => i, o: { x: i, y: [i] } });
      await new Promise((r) => setTimeout(r, 5));
      pending = undefined;
      peak = Math.max(peak, process.memoryUsage().heapUsed);
      for (let i = 0; i < 20_000; i++) ({ k: i, v: [i] });
    }
    process.stdout.write(String(Math.round(peak / 1048576) + live.length * 0));
  `;
  const res = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(res.status, 0, res.stderr);
  return Number(res.stdout);
}

test('limitHeapGrowth keeps the heap near its live size where V8 would let promoted garbage pile up', () => {
  const unlimited = peakHeapMb(0);
  const limited = peakHeapMb(DEFAULTS.heapGrowthPercent);
  // About 200 MB live: V8's own choice lets the heap reach several times that.
  assert.ok(limited < unlimited * 0.7, `limited ${limited} MB vs V8's own ${unlimited} MB`);
});
