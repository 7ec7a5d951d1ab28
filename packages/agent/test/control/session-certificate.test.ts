import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ControlSession } from '../../src/control/session.js';
import { ControlCallError, type ControlClient } from '../../src/control/client.js';
import type { Timers } from '../../src/timers.js';
import { recordingLogger } from '../fixtures.js';

const REVOKED = 'the client certificate "h3" (serial 1A2B) has been revoked; a revoked node cannot join: issue a new certificate if this node should be in the mesh';

test('a revoked certificate: said once in the log (not at every retry), shown as certificateRefusal, cleared when calls succeed; nothing torn down', async () => {
  const logger = recordingLogger();
  let joins = 0;
  const refuse = (method: string) => new ControlCallError(grpcStatus.PERMISSION_DENIED, REVOKED, method);
  const control = {
    async join() {
      joins++;
      throw refuse('Join');
    },
    watch: () => ({ cancel() {} }),
    async update() {
      throw refuse('Update');
    },
    async leave() {},
    async rtt() {
      return { nodes: [], rows: [], partial: true };
    },
    close() {},
  } as unknown as ControlClient;
  // The re-join's retries are scheduled on these and fired by hand.
  const pending: (() => void)[] = [];
  const timers: Timers = { setTimeout: (fn) => pending.push(fn), clearTimeout: () => undefined };
  let changed = 0;
  let rejoined = 0;
  const session = new ControlSession(
    { control, membership: { netmap: { revision: 3 }, receive() {} }, logger, timers },
    { meshName: 'm', nodeName: 'h3', publicKey: 'pk', nodeSecret: 's', backoffInitialMs: 10, backoffMaxMs: 100 },
    { joinRequest: async () => ({ endpoints: [], tags: {}, listenPort: 51820 }), rejoined: async () => void rejoined++, changed: () => void changed++ },
  );
  session.start();

  session.heartbeatFailed(refuse('Update'));
  await session.rejoin();
  for (let i = 0; i < 3; i++) {
    session.heartbeatFailed(refuse('Update'));
    pending.splice(0).forEach((fn) => fn());
    await session.rejoin();
  }

  const refusal = session.certificateRefusal;
  assert.equal(refusal?.state, 'revoked');
  assert.equal(refusal?.serial, '1a2b');
  assert.ok(joins >= 2, 'it keeps trying');
  assert.equal(rejoined, 0);
  const said = logger.lines.filter((l) => /this node's certificate is revoked \(serial 1a2b\)/.test(l.message));
  assert.equal(said.length, 1, 'once (then once a minute)');
  assert.equal(said[0]!.level, 'error');
  assert.ok(logger.lines.every((l) => !(l.level === 'error' && /re-join failed/.test(l.message))), 'the retries are not logged as errors one by one');
  assert.ok(changed > 0);

  session.callSucceeded();
  assert.equal(session.certificateRefusal, undefined);
  session.stop();
});

test('an expired certificate: the TLS layer refuses it without a reason, and the node reads its own expiry to say "expired"', async () => {
  const logger = recordingLogger();
  const tlsRefusal = new ControlCallError(grpcStatus.UNAVAILABLE, 'No connection established. Last error: Error: write EPROTO … alert certificate expired', 'Update');
  const control = { async join() { throw tlsRefusal; }, watch: () => ({ cancel() {} }), async update() { throw tlsRefusal; }, async leave() {}, async rtt() { return { nodes: [], rows: [], partial: true }; }, close() {} } as unknown as ControlClient;
  const timers: Timers = { setTimeout: () => 0, clearTimeout: () => undefined };
  let notAfter = Date.now() + 60_000;
  const session = new ControlSession(
    { control, membership: { netmap: { revision: 3 }, receive() {} }, logger, timers, ownCertificateNotAfterMs: () => notAfter },
    { meshName: 'm', nodeName: 'h3', publicKey: 'pk', nodeSecret: 's', backoffInitialMs: 10, backoffMaxMs: 100 },
    { joinRequest: async () => ({ endpoints: [], tags: {}, listenPort: 51820 }), rejoined: async () => undefined, changed: () => undefined },
  );
  session.start();
  session.heartbeatFailed(tlsRefusal);
  assert.equal(session.certificateRefusal, undefined, 'a failed call while the certificate is valid is not about it');
  notAfter = Date.now() - 1_000;
  session.heartbeatFailed(tlsRefusal);
  assert.equal((session.certificateRefusal as { state: string } | undefined)?.state, 'expired');
  assert.ok(logger.lines.some((l) => l.level === 'error' && /this node's certificate is expired/.test(l.message)));
  session.stop();
});
