import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, type Timers } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable, type Clock, type Identity, type JoinInput, type MemberDelta } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { LivenessMonitor, type LivenessInit } from '../../src/members/liveness.js';
import { ConfigError } from '../../src/errors.js';

const MESH = 'live';
const SUSPECT = 8_000;
const FAILED = 12_000;
const REAP = 600_000;

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => { now += ms; } };
}

/** Timers that fire only when the test says so. */
function manualTimers(): Timers & { pending: Map<number, { fn: () => void; ms: number }>; fireAll(): void } {
  let next = 1;
  const pending = new Map<number, { fn: () => void; ms: number }>();
  return {
    pending,
    setTimeout: (fn, ms) => {
      const id = next++;
      pending.set(id, { fn, ms });
      return id;
    },
    clearTimeout: (h) => { pending.delete(h as number); },
    fireAll() {
      const due = [...pending.entries()];
      pending.clear();
      for (const [, t] of due) t.fn();
    },
  };
}

function joinInput(name: string, publicKey: string, extra: Partial<JoinInput> = {}): JoinInput {
  return { name, identity: { publicKey }, endpoints: [{ ip: '192.0.2.10', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: {}, listenPort: 51820, ...extra };
}

const monitors: LivenessMonitor[] = [];
afterEach(async () => {
  for (const m of monitors.splice(0)) await m.stop();
});

/** A mesh with a bootstrap node ("boot", exempt) and the given members, all just joined. */
async function mesh(names: string[], init: Partial<LivenessInit> = {}, store = new MemoryStateStore(), clock = manualClock()) {
  const table = await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock });
  const identities = new Map<string, Identity>();
  for (const name of ['boot', ...names]) {
    const publicKey = generateKeyPair().publicKey;
    const { secret } = await table.join(joinInput(name, publicKey, name === 'boot' ? { isBootstrap: true, fixedIp: '10.232.1.1' } : {}));
    identities.set(name, { publicKey, secret });
  }
  const published: MemberDelta[] = [];
  table.subscribe((d) => published.push(d));
  const monitor = new LivenessMonitor(table, { clock, exempt: (n) => n === 'boot', ...init });
  monitors.push(monitor);
  const status = (name: string) => table.get(name)?.status;
  const heartbeat = (name: string) => table.update(name, identities.get(name), {});
  return { store, clock, table, monitor, published, status, heartbeat, identities };
}

describe('LivenessMonitor', () => {
  test('rejects inconsistent thresholds with a ConfigError', async () => {
    const { table, clock } = await mesh([]);
    const make = (init: Partial<LivenessInit>) => () => new LivenessMonitor(table, { clock, ...init });
    assert.throws(make({ suspectAfterMs: 0 }), ConfigError);
    assert.throws(make({ suspectAfterMs: 8000, failedAfterMs: 8000 }), (err: Error) => err instanceof ConfigError && /failedAfterMs \(8000\) must be greater than suspectAfterMs/.test(err.message));
    assert.throws(make({ failedAfterMs: 15000, reapAfterMs: 14999 }), (err: Error) => err instanceof ConfigError && /reapAfterMs/.test(err.message));
    assert.throws(make({ checkIntervalMs: 0 }), ConfigError);
    assert.throws(make({ suspectAfterMs: Number.NaN }), ConfigError);
    assert.doesNotThrow(make({ failedAfterMs: 15000, reapAfterMs: 15000 }));
  });

  test('a silent node becomes suspect, then failed, then is reaped: one delta each', async () => {
    const { clock, table, monitor, published, status } = await mesh(['alpha']);

    clock.advance(SUSPECT - 1);
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_ALIVE', 'not silent long enough yet');
    assert.equal(published.length, 0);

    clock.advance(1);
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_SUSPECT');

    // Passes in between change nothing.
    clock.advance(1000);
    await monitor.check();

    clock.advance(FAILED - SUSPECT - 1000);
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_FAILED');

    clock.advance(REAP - FAILED - 1);
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_FAILED', 'not reaped before reapAfterMs');

    clock.advance(1);
    await monitor.check();
    assert.equal(table.get('alpha'), undefined, 'reaped');
    assert.equal(table.lastSeenMs('alpha'), undefined);

    assert.deepEqual(
      published.map((d) => (d.kind === 'upsert' ? `upsert ${d.node.name} ${d.node.status}` : `remove ${d.name}`)),
      ['upsert alpha NODE_STATUS_SUSPECT', 'upsert alpha NODE_STATUS_FAILED', 'remove alpha'],
    );
    assert.equal(status('boot'), 'NODE_STATUS_ALIVE', 'the bootstrap itself is exempt');
    assert.deepEqual(monitor.stats, { passes: 6, suspected: 1, failed: 1, revived: 0, reaped: 1 });
  });

  test('a node silent past failedAfterMs at once goes straight to failed in one change', async () => {
    const { clock, monitor, published, status } = await mesh(['alpha']);
    clock.advance(FAILED + 5000);
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_FAILED');
    assert.equal(published.length, 1);
  });

  test('even long silent, a node is first marked failed and only reaped on a later pass', async () => {
    const { clock, table, monitor, status } = await mesh(['alpha']);
    clock.advance(REAP * 2);
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_FAILED');
    await monitor.check();
    assert.equal(table.get('alpha'), undefined);
  });

  test('a heartbeat before the reap makes a failed node alive again, with the same IP', async () => {
    const { clock, table, monitor, status, heartbeat } = await mesh(['alpha', 'beta']);
    const ip = table.get('alpha')!.meshIp;

    clock.advance(FAILED);
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_FAILED');

    clock.advance(REAP - FAILED - 1000);
    await heartbeat('alpha');
    assert.equal(status('alpha'), 'NODE_STATUS_ALIVE', 'the table revives it on a heartbeat');
    assert.equal(table.get('alpha')!.meshIp, ip);

    // Long past the original reap time: alpha keeps heartbeating and stays; beta is reaped.
    for (let t = 0; t < 10_000; t += 5_000) {
      clock.advance(5_000);
      await heartbeat('alpha');
      await monitor.check();
    }
    assert.equal(status('alpha'), 'NODE_STATUS_ALIVE');
    assert.equal(table.get('alpha')!.meshIp, ip);
    assert.equal(table.get('beta'), undefined);
  });

  test('a status set while a heartbeat was queued is corrected on the next pass', async () => {
    const { clock, table, monitor, status, heartbeat } = await mesh(['alpha']);
    clock.advance(SUSPECT);
    await heartbeat('alpha');
    // As if the monitor's own update ran right after that heartbeat.
    await table.update('alpha', undefined, { status: 'NODE_STATUS_SUSPECT' });
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_ALIVE');
    assert.equal(monitor.stats.revived, 1);
  });

  test('after a restart every member gets the full grace: nobody is reaped at once', async () => {
    const store = new MemoryStateStore();
    const clock = manualClock();
    const before = await mesh(['alpha', 'beta'], {}, store, clock);
    clock.advance(FAILED);
    await before.monitor.check();
    assert.equal(before.status('alpha'), 'NODE_STATUS_FAILED');
    assert.equal(before.status('beta'), 'NODE_STATUS_FAILED');
    await before.heartbeat('beta');

    // The bootstrap is down for an hour, then restarts from its state file: no heartbeat times.
    clock.advance(3_600_000);
    const table = await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock });
    assert.equal(table.lastSeenMs('alpha'), undefined);
    const monitor = new LivenessMonitor(table, { clock, timers: manualTimers(), exempt: (n) => n === 'boot' });
    monitors.push(monitor);
    monitor.start();

    await monitor.check();
    assert.equal(table.size, 3, 'nobody reaped on restart');
    assert.equal(table.get('alpha')!.status, 'NODE_STATUS_FAILED', 'failed stays failed: only a heartbeat revives');
    assert.equal(table.get('beta')!.status, 'NODE_STATUS_ALIVE');

    clock.advance(SUSPECT);
    await monitor.check();
    assert.equal(table.get('beta')!.status, 'NODE_STATUS_SUSPECT', 'silence counts from the restart');

    clock.advance(REAP - SUSPECT - 1);
    await monitor.check();
    assert.equal(table.get('alpha')!.status, 'NODE_STATUS_FAILED');
    assert.equal(table.get('beta')!.status, 'NODE_STATUS_FAILED');

    clock.advance(1);
    await monitor.check();
    assert.deepEqual(table.list().map((n) => n.name), ['boot'], 'reaped a full reapAfterMs after the restart');
  });

  test('exempt nodes and members that left are never touched', async () => {
    const { clock, table, monitor, status, store } = await mesh(['alpha', 'gone'], { exempt: (n) => n === 'boot' || n === 'alpha' });
    await table.update('gone', undefined, { status: 'NODE_STATUS_LEFT' });
    const saves = store.saves;

    clock.advance(REAP * 3);
    await monitor.check();
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_ALIVE');
    assert.equal(status('gone'), 'NODE_STATUS_LEFT');
    assert.equal(status('boot'), 'NODE_STATUS_ALIVE');
    assert.equal(store.saves, saves, 'nothing was written');
  });

  test('a pass that changes nothing neither saves nor publishes', async () => {
    const { clock, monitor, store, published, heartbeat } = await mesh(['alpha', 'beta']);
    clock.advance(SUSPECT);
    await monitor.check();
    const saves = store.saves;
    const revision = published.at(-1)?.revision;

    clock.advance(1000);
    await heartbeat('alpha'); // alpha was suspect: alive again (one save by the table)
    assert.equal(store.saves, saves + 1);
    for (let i = 0; i < 2; i++) {
      clock.advance(1000);
      await monitor.check();
    }
    // alpha is alive and recent, beta already suspect and not yet failed (11 s < 12 s): nothing to do.
    assert.equal(store.saves, saves + 1);
    assert.equal(published.at(-1)?.revision, (revision ?? 0) + 1);
  });

  test('start runs a pass every checkIntervalMs until stop', async () => {
    const timers = manualTimers();
    const { clock, monitor, status } = await mesh(['alpha'], { timers, checkIntervalMs: 500 });
    monitor.start();
    assert.equal(timers.pending.size, 1);
    assert.equal([...timers.pending.values()][0]!.ms, 500);

    clock.advance(SUSPECT);
    timers.fireAll();
    await monitor.stop(); // waits for the pass in progress
    assert.equal(status('alpha'), 'NODE_STATUS_SUSPECT');
    assert.equal(monitor.stats.passes, 1);
    assert.equal(timers.pending.size, 0, 'stopped: nothing scheduled');

    monitor.start();
    timers.fireAll();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(timers.pending.size, 1, 'the next pass is scheduled after the previous finished');
    await monitor.stop();
    assert.equal(timers.pending.size, 0);
  });
});

describe('LivenessMonitor with several bootstraps (the etcd leader judges)', () => {
  test('judges only while active; then from the heartbeats any bootstrap received, with a grace from when it became active for the rest', async () => {
    const { store, clock } = await mesh(['alpha', 'beta']);
    // A bootstrap that heard no heartbeat itself (it just started): the same members, no heartbeat times.
    const table = await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock });
    let active = false;
    const monitor = new LivenessMonitor(table, { clock, exempt: (n) => n === 'boot', active: () => active });
    monitors.push(monitor);
    const status = (name: string) => table.get(name)?.status;
    clock.advance(FAILED * 2);
    await monitor.check();
    assert.equal(monitor.stats.passes, 0, 'not the leader: no pass');

    active = true;
    await monitor.check();
    assert.deepEqual([status('alpha'), status('beta')], ['NODE_STATUS_ALIVE', 'NODE_STATUS_ALIVE'], 'the grace counts from becoming leader, not from the start');
    clock.advance(3_000);
    // Another bootstrap received beta's heartbeat now (published through etcd); non-members are ignored.
    table.noteHeartbeats(new Map([['beta', clock.now()], ['nobody', clock.now()]]));
    clock.advance(SUSPECT - 3_000);
    await monitor.check();
    assert.equal(status('alpha'), 'NODE_STATUS_SUSPECT', 'alpha: silent since the grace began');
    assert.equal(status('beta'), 'NODE_STATUS_ALIVE', 'beta: heard from 5 s ago, by another bootstrap');
    assert.equal(table.lastSeenMs('nobody'), undefined);
  });
});
