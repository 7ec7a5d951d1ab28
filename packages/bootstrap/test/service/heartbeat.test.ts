import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPair, loadProtos, silentLogger, type HeartbeatAnswer__Output, type HeartbeatMessage, type MeshClient } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { devAuthenticator, type Authenticator, type CallIdentity } from '../../src/service/auth.js';
import { createMeshService } from '../../src/service/mesh-service.js';
import { JoinServer } from '../../src/service/server.js';
import { CertificateRejected, Unauthenticated } from '../../src/errors.js';

const MESH = 'hb';

/** A bootstrap's Mesh service on a loopback port, with its table. */
async function bootstrap(auth: Authenticator) {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: MESH });
  const service = createMeshService({ table, auth, logger: silentLogger() });
  const server = new JoinServer(service.handlers, { bindAddr: '127.0.0.1', port: 0, credentials: grpc.ServerCredentials.createInsecure() });
  await server.start();
  const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
  const clients: MeshClient[] = [];
  return {
    table,
    service,
    server,
    client(): MeshClient {
      const c = new Mesh(`127.0.0.1:${server.boundPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      service.closeWatchers();
      await server.stop();
    },
  };
}

/** One Heartbeat stream: send a message and wait for its answer; the stream's end status. */
function openStream(client: MeshClient) {
  const stream = client.heartbeat();
  const answers: HeartbeatAnswer__Output[] = [];
  const waiting = new Map<number, (a: HeartbeatAnswer__Output) => void>();
  let seq = 0;
  const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
  stream.on('error', () => {});
  stream.on('data', (a: HeartbeatAnswer__Output) => {
    answers.push(a);
    waiting.get(Number(a.seq))?.(a);
  });
  return {
    answers,
    ended,
    send(update: HeartbeatMessage['update']): Promise<HeartbeatAnswer__Output> {
      const s = ++seq;
      const answered = new Promise<HeartbeatAnswer__Output>((resolve) => waiting.set(s, resolve));
      stream.write({ seq: s, update });
      return answered;
    },
    end: () => stream.end(),
  };
}

async function member(table: MemberTable, name: string) {
  const publicKey = generateKeyPair().publicKey;
  const { secret } = await table.join({ name, identity: { publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
  return { meshName: MESH, nodeName: name, publicKey, nodeSecret: secret };
}

describe('Mesh.Heartbeat (bootstrap side)', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops) await s();
  });

  test('messages are applied as Updates, one at a time in arrival order, each answered with its seq, revision and relay pairs', async () => {
    const b = await bootstrap(devAuthenticator);
    stops.push(() => b.stop());
    const n1 = await member(b.table, 'n1');
    const s = openStream(b.client());
    // Three tag sets sent back to back: the last one sent is the one the table ends with.
    const answers = await Promise.all(['a', 'b', 'c'].map((v) => s.send({ ...n1, tags: { v } })));
    assert.deepEqual(answers.map((a) => Number(a.seq)), [1, 2, 3]);
    assert.ok(answers.every((a) => a.code === 0 && a.response !== null));
    assert.deepEqual(b.table.get('n1')!.tags, { v: 'c' });
    assert.equal(Number(answers[2]!.response!.revision), b.table.revision);
    assert.deepEqual(s.answers.map((a) => Number(a.seq)), [1, 2, 3], 'answered in the order sent');
    const before = b.table.lastSeenMs('n1')!;
    await new Promise((r) => setTimeout(r, 5));
    await s.send({ ...n1, tags: { v: 'c' } });
    assert.ok(b.table.lastSeenMs('n1')! > before, 'a heartbeat message counts as the node seen (liveness)');
    assert.equal(b.service.stats.heartbeatStreams, 1);
    s.end();
    const status = await s.ended;
    assert.equal(status.code, grpc.status.OK, 'the node closing its side ends the stream cleanly');
  });

  test('dev mode: a message with a wrong secret is refused (PERMISSION_DENIED) and changes nothing; the stream goes on', async () => {
    const b = await bootstrap(devAuthenticator);
    stops.push(() => b.stop());
    const n1 = await member(b.table, 'n1');
    const s = openStream(b.client());
    const refused = await s.send({ ...n1, nodeSecret: 'not-the-secret', tags: { x: '1' } });
    assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
    assert.equal(refused.response, null);
    assert.deepEqual(b.table.get('n1')!.tags, {});
    const ok = await s.send({ ...n1, tags: { x: '2' } });
    assert.equal(ok.code, 0);
    assert.deepEqual(b.table.get('n1')!.tags, { x: '2' });
  });

  test('a message for another node than the one that opened the stream is refused, even with that node\'s own proof', async () => {
    const b = await bootstrap(devAuthenticator);
    stops.push(() => b.stop());
    const n1 = await member(b.table, 'n1');
    const n2 = await member(b.table, 'n2');
    const s = openStream(b.client());
    assert.equal((await s.send({ ...n1, tags: {} })).code, 0);
    const other = await s.send({ ...n2, tags: { hijacked: 'yes' } });
    assert.equal(other.code, grpc.status.PERMISSION_DENIED);
    assert.match(other.message, /belongs to node "n1", not "n2"/);
    assert.deepEqual(b.table.get('n2')!.tags, {}, 'n2 untouched');
    // n2 on a stream of its own is fine.
    assert.equal((await openStream(b.client()).send({ ...n2, tags: { own: 'yes' } })).code, 0);
  });

  test('a node the bootstrap does not know: NOT_FOUND per message (the agent re-joins), as the unary Update answers', async () => {
    const b = await bootstrap(devAuthenticator);
    stops.push(() => b.stop());
    const s = openStream(b.client());
    const a = await s.send({ meshName: MESH, nodeName: 'ghost', publicKey: generateKeyPair().publicKey, nodeSecret: 'x', tags: {} });
    assert.equal(a.code, grpc.status.NOT_FOUND);
  });

  test('mTLS: the caller is identified once per stream; a certificate for another node is refused; a certificate revoked meanwhile refuses the next message', async () => {
    let identified = 0;
    let revoked = false;
    const cert = { fingerprint: 'AA', serial: '01', notAfterMs: Date.now() + 60_000 };
    const auth: Authenticator = {
      mode: 'mtls',
      identify: () => {
        identified++;
        return { certName: 'n1', cert };
      },
      recheck: (who: CallIdentity) => {
        if (revoked) throw new CertificateRejected(`the client certificate "${who.certName}" has been revoked`);
      },
    };
    const b = await bootstrap(auth);
    stops.push(() => b.stop());
    await b.table.join({ name: 'n1', identity: { publicKey: generateKeyPair().publicKey, cert }, endpoints: [], tags: {}, listenPort: 51820 });
    await b.table.join({ name: 'n2', identity: { publicKey: generateKeyPair().publicKey, cert: { ...cert, fingerprint: 'BB', serial: '02' } }, endpoints: [], tags: {}, listenPort: 51820 });
    const n1 = { meshName: MESH, nodeName: 'n1', publicKey: b.table.get('n1')!.publicKey, nodeSecret: '' };
    const s = openStream(b.client());
    for (let i = 0; i < 3; i++) assert.equal((await s.send({ ...n1, tags: { i: String(i) } })).code, 0);
    assert.equal(identified, 1, 'identified when the stream opened, not per message');
    const other = await s.send({ meshName: MESH, nodeName: 'n2', publicKey: b.table.get('n2')!.publicKey, nodeSecret: '', tags: { x: 'y' } });
    assert.equal(other.code, grpc.status.PERMISSION_DENIED);
    assert.match(other.message, /does not match the client certificate's CN "n1"/);
    revoked = true;
    const afterRevoke = await s.send({ ...n1, tags: { i: 'late' } });
    assert.equal(afterRevoke.code, grpc.status.PERMISSION_DENIED);
    assert.match(afterRevoke.message, /revoked/);
    assert.deepEqual(b.table.get('n1')!.tags, { i: '2' });
  });

  test('mTLS: a caller without a valid certificate cannot open a stream (UNAUTHENTICATED)', async () => {
    const auth: Authenticator = {
      mode: 'mtls',
      identify: () => {
        throw new Unauthenticated('no valid client certificate');
      },
    };
    const b = await bootstrap(auth);
    stops.push(() => b.stop());
    const s = openStream(b.client());
    s.send({ meshName: MESH, nodeName: 'n1', publicKey: generateKeyPair().publicKey, nodeSecret: '', tags: {} }).catch(() => {});
    const status = await s.ended;
    assert.equal(status.code, grpc.status.UNAUTHENTICATED);
    assert.equal(s.answers.length, 0);
  });

  test('the bootstrap stopping ends every open stream (the server can shut down at once)', async () => {
    const b = await bootstrap(devAuthenticator);
    const n1 = await member(b.table, 'n1');
    const s = openStream(b.client());
    await s.send({ ...n1, tags: {} });
    const t0 = Date.now();
    await b.stop();
    assert.ok(Date.now() - t0 < 1500, 'not held until the forced shutdown');
    assert.equal((await s.ended).code, grpc.status.OK);
    assert.equal(b.service.stats.heartbeatStreams, 0);
  });
});
