import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coalescer } from '../src/coalescer.js';

test('a burst of requests while a run is going costs one more run, which starts after the last request', async () => {
  const runs: number[] = [];
  let release: (() => void) | undefined;
  let requested = 0;
  const coalescer = new Coalescer(async () => {
    runs.push(requested);
    await new Promise<void>((resolve) => (release = resolve));
  });
  requested = 1;
  const first = coalescer.run();
  requested = 2;
  void coalescer.run();
  requested = 3;
  const last = coalescer.run();
  assert.equal(first, last, 'every request of the burst resolves with the same pending work');
  release!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(runs, [1, 3], 'one run at once, one more that sees the last request');
  release!();
  await last;
  await coalescer.idle();
  assert.deepEqual(runs, [1, 3]);
  const again = coalescer.run();
  release!();
  await again;
  assert.deepEqual(runs, [1, 3, 3], 'after going idle, a request runs at once');
});

test('afterBurst runs once per burst, after its last run and before the burst\'s callers resume', async () => {
  const events: string[] = [];
  let release: (() => void) | undefined;
  const coalescer = new Coalescer(async () => {
    events.push('run');
    await new Promise<void>((resolve) => (release = resolve));
  }, () => events.push('after'));
  const first = coalescer.run();
  void coalescer.run();
  assert.equal(coalescer.busy, true);
  release!();
  await new Promise((r) => setImmediate(r));
  release!();
  await first;
  events.push('resumed');
  assert.deepEqual(events, ['run', 'run', 'after', 'resumed']);
  assert.equal(coalescer.busy, false);
});
