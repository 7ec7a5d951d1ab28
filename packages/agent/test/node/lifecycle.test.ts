/**
 * The lifecycle's order and its stop during a start: a part whose start completes after the node
 * was told to stop is stopped then, so nothing it made (a listening socket) outlives the node.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle } from '../../src/node/lifecycle.js';
import { StartCancelled } from '../../src/errors.js';

/** A start the test completes (or fails) when it chooses. */
function pending<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('Lifecycle', () => {
  test('stops parts last first, each once', async () => {
    const parts = new Lifecycle();
    const stopped: string[] = [];
    await parts.run(async () => {
      await parts.start('a', () => 'A', (v) => void stopped.push(`a:${v}`));
      await parts.start('b', async () => 'B', (v) => void stopped.push(`b:${v}`));
    });
    assert.deepEqual(parts.running, ['a', 'b']);
    await parts.stop();
    await parts.stop();
    assert.deepEqual(stopped, ['b:B', 'a:A']);
    assert.deepEqual(parts.running, []);
  });

  test('a start that completes after stop() is stopped then, and stop() waits for it', async () => {
    const parts = new Lifecycle();
    const start = pending<string>();
    const calls: (string | undefined)[] = [];
    const starting = parts.start('local API', () => start.promise, (v) => void calls.push(v));
    await Promise.resolve();
    const stopping = parts.stop();
    let stopDone = false;
    void stopping.then(() => (stopDone = true));
    // The first stop found nothing started yet.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(calls, [undefined]);
    assert.equal(stopDone, false, 'stop() must wait for the overtaken start');
    start.resolve('listening socket');
    await assert.rejects(starting, StartCancelled);
    await stopping;
    assert.deepEqual(calls, [undefined, 'listening socket']);
  });

  test('a start that fails after stop() is not stopped a second time', async () => {
    const parts = new Lifecycle();
    const start = pending<string>();
    const calls: (string | undefined)[] = [];
    const starting = parts.start('join', () => start.promise, (v) => void calls.push(v));
    const stopping = parts.stop();
    start.reject(new Error('join cancelled'));
    await assert.rejects(starting, /join cancelled/);
    await stopping;
    assert.deepEqual(calls, [undefined]);
  });

  test('a start that never completes holds stop() no longer than its bound', async () => {
    const parts = new Lifecycle(undefined, 50);
    void parts.start('stuck', () => new Promise<never>(() => {}), () => {}).catch(() => {});
    // The bound's timer is unref'd (it must not keep a stopping node alive): hold the loop here.
    const hold = setInterval(() => {}, 1_000);
    const began = Date.now();
    await parts.stop();
    const took = Date.now() - began;
    clearInterval(hold);
    assert.ok(took >= 40 && took < 2_000, `stop() took ${took} ms`);
  });

  test('no part starts after stop()', async () => {
    const parts = new Lifecycle();
    await parts.stop();
    let ran = false;
    await assert.rejects(parts.start('late', () => void (ran = true), () => {}), StartCancelled);
    assert.equal(ran, false);
  });
});
