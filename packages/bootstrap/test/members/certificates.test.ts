import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, type Timers } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable, type Clock, type MemberDelta } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { CertificateEnforcer, type RevocationSource } from '../../src/members/certificates.js';

const DAY = 86_400_000;

function manualClock(start = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => { now += ms; } };
}

/** Timers the test fires by hand: only the pending one (the enforcer keeps one at a time). */
function manualTimers(): Timers & { fire(): void; pending: number } {
  const due = new Map<number, () => void>();
  let next = 1;
  return {
    setTimeout(fn) {
      due.set(next, fn);
      return next++;
    },
    clearTimeout(handle) {
      due.delete(handle as number);
    },
    fire() {
      const entries = [...due.entries()];
      due.clear();
      for (const [, fn] of entries) fn();
    },
    get pending() {
      return due.size;
    },
  };
}

/** A CRL as the enforcer sees it: serials, and a way to announce a new list. */
function revocations(): RevocationSource & { revoke(serial: string): void } {
  const revoked = new Set<string>();
  const listeners = new Set<() => void>();
  return {
    isRevoked: (serial) => revoked.has(serial),
    onRevocationsChanged(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    revoke(serial) {
      revoked.add(serial);
      for (const l of listeners) l();
    },
  };
}

async function meshWithCertificates(clock: Clock) {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: 'crt', clock });
  const join = (name: string, serial: string, notAfterMs: number, publicKey = generateKeyPair().publicKey) =>
    table.join({ name, identity: { publicKey, cert: { fingerprint: `fp-${serial}`, serial, notAfterMs } }, endpoints: [], tags: {}, listenPort: 51820 });
  await join('alpha', 'a1', clock.now() + 30 * DAY);
  await join('beta', 'b1', clock.now() + 30 * DAY);
  await table.join({ name: 'devnode', identity: { publicKey: generateKeyPair().publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
  const published: MemberDelta[] = [];
  table.subscribe((d) => published.push(d));
  return { table, join, published };
}

/** Resolves once the table has published `n` changes (the enforcer's removals are asynchronous). */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the enforcer');
    await new Promise((r) => setImmediate(r));
  }
}

test('a member whose certificate is revoked is removed as soon as the new CRL is loaded, and nobody else', async () => {
  const clock = manualClock();
  const timers = manualTimers();
  const crl = revocations();
  const { table, published } = await meshWithCertificates(clock);
  const enforcer = new CertificateEnforcer(table, { revocations: crl, clock, timers });
  enforcer.start();
  await enforcer.sweep();
  assert.equal(published.length, 0, 'valid certificates: nothing removed');

  crl.revoke('a1');
  await until(() => published.length > 0);
  await enforcer.sweep();

  assert.deepEqual(published.map((d) => [d.kind, d.kind === 'remove' ? d.name : '']), [['remove', 'alpha']]);
  assert.deepEqual(table.list().map((n) => n.name), ['beta', 'devnode']);
  await enforcer.stop();
  assert.equal(timers.pending, 0, 'stop leaves no timer');
});

test('a member whose certificate expires while joined is removed at the next check (every 30 s)', async () => {
  const clock = manualClock();
  const timers = manualTimers();
  const { table, join, published } = await meshWithCertificates(clock);
  await join('shortlived', 's1', clock.now() + 45_000);
  published.length = 0;
  const enforcer = new CertificateEnforcer(table, { clock, timers });
  enforcer.start();
  await enforcer.sweep();
  assert.equal(published.length, 0);

  clock.advance(44_000);
  timers.fire();
  await enforcer.sweep();
  assert.equal(published.length, 0, 'not yet expired');

  clock.advance(1_000);
  timers.fire();
  await enforcer.sweep();
  assert.deepEqual(published.map((d) => (d.kind === 'remove' ? d.name : d.kind)), ['shortlived']);
  assert.ok(table.get('alpha') && table.get('beta') && table.get('devnode'));
  await enforcer.stop();
});

test('a member that re-joined with a new certificate before its turn is kept', async () => {
  const clock = manualClock();
  const crl = revocations();
  const { table, join, published } = await meshWithCertificates(clock);
  const key = table.get('alpha')!.publicKey;
  const enforcer = new CertificateEnforcer(table, { revocations: crl, clock, timers: manualTimers() });
  enforcer.start();
  await enforcer.sweep();
  // The re-join is queued in the table before the removal the CRL triggers.
  const rejoin = join('alpha', 'a2', clock.now() + 60 * DAY, key);
  crl.revoke('a1');
  await rejoin;
  await enforcer.sweep();
  assert.ok(table.get('alpha'), 'alpha holds a valid certificate now');
  assert.equal(table.get('alpha')!.certSerial, 'a2');
  assert.ok(published.every((d) => d.kind !== 'remove'));
  await enforcer.stop();
});
