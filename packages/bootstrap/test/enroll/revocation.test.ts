import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import forge from 'node-forge';
import { generateKeyPair, type Timers } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable, type Clock } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { CertificateEnforcer } from '../../src/members/certificates.js';
import { FileCertificateStore, MemoryCertificateStore, type CertificateStore } from '../../src/enroll/certificate-store.js';
import { CertificateRevocation } from '../../src/enroll/revocation.js';
import { checkCsr } from '../../src/enroll/csr.js';
import { MeshTls } from '../../src/tls/mtls.js';
import { CertificateNotFound, CertificateRejected } from '../../src/errors.js';
import { makeCa } from './fixtures.js';

const DAY = 86_400_000;
const NOW = 1_700_000_000_000;
const clock: Clock = { now: () => NOW };
/** Timers that never fire: removals here must not wait for the enforcer's periodic check. */
const never: Timers = { setTimeout: () => 0, clearTimeout: () => undefined };

async function mesh(store: CertificateStore = new MemoryCertificateStore()) {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: 'rev', clock });
  const join = (name: string, serial: string) =>
    table.join({ name, identity: { publicKey: generateKeyPair().publicKey, cert: { fingerprint: `fp-${serial}`, serial, notAfterMs: NOW + 30 * DAY } }, endpoints: [], tags: {}, listenPort: 51820 });
  let enforcer: CertificateEnforcer | undefined;
  const revocation = new CertificateRevocation({ store, clock, members: () => table.membersWithCertificates(), enforce: () => enforcer?.sweep() ?? Promise.resolve() });
  enforcer = new CertificateEnforcer(table, { revocations: revocation, clock, timers: never });
  await revocation.start();
  enforcer.start();
  await enforcer.sweep();
  return { table, join, revocation, enforcer };
}

test('certificate stores: put adds or replaces by serial; the file store keeps them (0600) across restarts', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-certs-'));
  try {
    const file = path.join(dir, 'certificates.json');
    for (const store of [new MemoryCertificateStore(), new FileCertificateStore(file)]) {
      assert.deepEqual(await store.list(), []);
      await store.put([{ name: 'alpha', serial: 'a1', source: 'enrolled', issuedMs: NOW, notAfterMs: Date.now() + DAY }]);
      await store.put([{ name: 'alpha', serial: 'a1', source: 'enrolled', issuedMs: NOW, notAfterMs: Date.now() + DAY, revokedMs: NOW + 1 }, { name: 'beta', serial: 'b1', source: 'member', notAfterMs: Date.now() + DAY }]);
      const listed = await store.list();
      assert.deepEqual(listed.map((r) => [r.name, r.serial, r.revokedMs ?? 0]), [['alpha', 'a1', NOW + 1], ['beta', 'b1', 0]]);
    }
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await new FileCertificateStore(file).list()).length, 2, 'read back by a new store (a restart)');
    assert.match(await readFile(file, 'utf8'), /"version": 1/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('revoke NAME: its enrolled certificate is refused and its member removed before revoke returns (no periodic check)', async () => {
  const { table, join, revocation, enforcer } = await mesh();
  await join('alpha', 'a1');
  await join('beta', 'b1');
  await revocation.recordIssued({ name: 'alpha', serial: '0A1', notAfterMs: NOW + 30 * DAY });
  let heard = 0;
  revocation.onRevocationsChanged(() => heard++);

  const res = await revocation.revoke('alpha');
  assert.deepEqual(res.revoked!.map((r) => [r.name, r.serial, r.source, r.revokedMs]), [['alpha', 'a1', 'enrolled', NOW]]);
  assert.deepEqual(res.removedMembers, ['alpha']);
  assert.equal(table.get('alpha'), undefined, 'removed at once');
  assert.ok(table.get('beta'), 'nobody else');
  assert.ok(revocation.isRevoked('A1') && revocation.isRevoked('00a1'), 'serials compare normalized');
  assert.equal(heard, 1);
  assert.deepEqual((await revocation.list(false)).map((c) => c.name), ['alpha']);
  assert.deepEqual((await revocation.list(true)).map((c) => c.name), ['alpha']);
  await enforcer.stop();
});

test('a member whose certificate this bootstrap did not sign (a CA directory\'s) is revoked by name through its member\'s serial; -serial picks one', async () => {
  const { table, join, revocation, enforcer } = await mesh();
  await join('beta', 'b1');
  await assert.rejects(revocation.revoke('beta', 'ff'), (err: unknown) => err instanceof CertificateNotFound && /no certificate with serial ff/.test(err.message));
  await assert.rejects(revocation.revoke('nosuch'), (err: unknown) => err instanceof CertificateNotFound && /ca revoke -dir DIR NAME/.test(err.message));
  const res = await revocation.revoke('beta', 'B1');
  assert.deepEqual(res.revoked!.map((r) => [r.serial, r.source]), [['b1', 'member']]);
  assert.deepEqual(res.removedMembers, ['beta']);
  assert.equal(table.get('beta'), undefined);
  // Revoking again is no error: the same certificate, nothing more to remove.
  const again = await revocation.revoke('beta');
  assert.deepEqual(again.revoked!.map((r) => [r.serial, r.revokedMs]), [['b1', NOW]]);
  assert.deepEqual(again.removedMembers, []);
  await enforcer.stop();
});

test('the list outlives a restart: a new CertificateRevocation on the same file refuses the serial from its start', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-certs-'));
  try {
    const file = path.join(dir, 'certificates.json');
    const first = await mesh(new FileCertificateStore(file));
    await first.join('alpha', 'a1');
    await first.revocation.revoke('alpha');
    await first.enforcer.stop();
    const second = await mesh(new FileCertificateStore(file));
    assert.ok(second.revocation.isRevoked('a1'));
    await second.enforcer.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the local API view: errors carry their gRPC code (NOT_FOUND for an unknown name)', async () => {
  const { revocation, enforcer } = await mesh();
  await assert.rejects(revocation.admin.revoke('nosuch', ''), (err: unknown) => (err as { grpcCode?: number }).grpcCode === status.NOT_FOUND);
  await enforcer.stop();
});

/** A certificate of the CA for `name`, with its key: the server's and a node's. */
function issue(ca: ReturnType<typeof makeCa>, name: string): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  csr.setSubject([{ name: 'commonName', value: name }]);
  csr.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certPem: ca.sign(checkCsr(forge.pki.certificationRequestToPem(csr), name), { mesh: 'rev', nowMs: Date.now(), lifetimeMs: 86_400_000 }), keyPem };
}

test('the authenticator refuses a serial on the next call once the bootstrap\'s own list revokes it', async () => {
  const ca = makeCa();
  const server = issue(ca, 'boot');
  const node = issue(ca, 'alpha');
  const tls = new MeshTls({ caPem: Buffer.from(ca.certPem), certPem: Buffer.from(server.certPem), keyPem: Buffer.from(server.keyPem) });
  const { revocation, enforcer } = await mesh();
  const detach = tls.addRevocationSource(revocation);
  let heard = 0;
  tls.onRevocationsChanged(() => heard++);
  const serial = new X509Certificate(node.certPem).serialNumber;
  await revocation.recordIssued({ name: 'alpha', serial, notAfterMs: NOW + DAY });
  const call = { getAuthContext: () => ({ sslPeerCertificate: { raw: new X509Certificate(node.certPem).raw } }), getPeer: () => 'test' } as unknown as Parameters<MeshTls['identify']>[0];
  assert.equal(tls.identify(call).certName, 'alpha');

  await revocation.revoke('alpha');
  assert.throws(() => tls.identify(call), (err: unknown) => err instanceof CertificateRejected && /\(serial [0-9A-F]+\) has been revoked/.test((err as Error).message));
  assert.equal(heard, 1, 'the enforcer hears of it through the authenticator');
  detach();
  assert.equal(tls.identify(call).certName, 'alpha', 'detached: the list no longer applies');
  tls.close();
  await enforcer.stop();
});

test('a Heartbeat stream\'s identity, checked again per message (recheck): refused once its certificate is revoked or has expired', async () => {
  const ca = makeCa();
  const server = issue(ca, 'boot');
  const node = issue(ca, 'alpha');
  let now = Date.now();
  const tls = new MeshTls({ caPem: Buffer.from(ca.certPem), certPem: Buffer.from(server.certPem), keyPem: Buffer.from(server.keyPem), clock: { now: () => now } });
  const { revocation, enforcer } = await mesh();
  const detach = tls.addRevocationSource(revocation);
  const serial = new X509Certificate(node.certPem).serialNumber;
  await revocation.recordIssued({ name: 'alpha', serial, notAfterMs: NOW + DAY });
  const call = { getAuthContext: () => ({ sslPeerCertificate: { raw: new X509Certificate(node.certPem).raw } }), getPeer: () => 'test' } as unknown as Parameters<MeshTls['identify']>[0];
  // Identified once (the stream opening), checked again before each message.
  const who = tls.identify(call);
  assert.doesNotThrow(() => tls.recheck(who));
  now = who.cert!.notAfterMs + 1;
  assert.throws(() => tls.recheck(who), (err: unknown) => err instanceof CertificateRejected && /expired on/.test((err as Error).message));
  now = Date.now();
  await revocation.revoke('alpha');
  assert.throws(() => tls.recheck(who), (err: unknown) => err instanceof CertificateRejected && /has been revoked/.test((err as Error).message));
  detach();
  tls.close();
  await enforcer.stop();
});
