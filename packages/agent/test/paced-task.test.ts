import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacedTask } from '../src/paced-task.js';
import { SimTimers } from './sim-timers.js';

/** A task that records the state it saw at each run. */
function recorder() {
  const state = { value: 0 };
  const runs: number[] = [];
  return { state, runs, task: async () => void runs.push(state.value) };
}

test('a request after a quiet interval runs at once; a busy interval\'s requests run once at its end, with the latest state', async () => {
  const timers = new SimTimers();
  const { state, runs, task } = recorder();
  const paced = new PacedTask(task, 1000, timers);
  await paced.request();
  assert.deepEqual(runs, [0]);

  const held = Array.from({ length: 10 }, () => {
    state.value++;
    return paced.request();
  });
  await paced.idle();
  assert.deepEqual(runs, [0], 'held back during the interval');
  let resolved = false;
  void Promise.all(held).then(() => (resolved = true));

  timers.advance(999);
  await paced.idle();
  assert.deepEqual(runs, [0]);
  timers.advance(1);
  await paced.settled();
  assert.deepEqual(runs, [0, 10], 'one run, with the last state');
  await Promise.all(held);
  assert.equal(resolved, true);

  timers.advance(1000);
  assert.equal(timers.pending, 0, 'quiet: no timer left');
  state.value = 11;
  await paced.request();
  assert.deepEqual(runs, [0, 10, 11], 'after a quiet interval: at once');
});

test('stop(true) runs what was held back, stop(false) drops it; no run after stop', async () => {
  for (const flush of [true, false]) {
    const timers = new SimTimers();
    const { state, runs, task } = recorder();
    const paced = new PacedTask(task, 1000, timers);
    await paced.request();
    state.value = 5;
    const held = paced.request();
    await paced.stop(flush);
    await held;
    assert.deepEqual(runs, flush ? [0, 5] : [0]);
    assert.equal(timers.pending, 0);
    await paced.request();
    timers.advance(5000);
    assert.deepEqual(runs, flush ? [0, 5] : [0], 'nothing runs after stop');
  }
});
