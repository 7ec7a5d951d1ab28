import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { Enrollment } from '../../src/enroll/enrollment.js';
import { MemoryTokenStore } from '../../src/enroll/token-store.js';
import { decodeToken, encodeToken, newTokenSecret } from '../../src/enroll/token.js';
import { toServiceError } from '../../src/service/status.js';
import { makeCa, makeCsr } from './fixtures.js';

const ca = makeCa();
const SOURCE = '192.0.2.7';

function setup(members: string[] = []) {
  const clock = { t: 1_800_000_000_000, now() { return this.t; } };
  const store = new MemoryTokenStore();
  const enrollment = new Enrollment(
    { ca, store, clock, isMember: (name) => members.includes(name) },
    { meshName: 'lab', defaultAddrs: () => ['192.0.2.1:5000'], certLifetimeMs: 30 * 86_400_000 },
  );
  const create = async (over: { name?: string; ttlMs?: number; uses?: number; tags?: Record<string, string> } = {}) =>
    (await enrollment.create({ name: over.name ?? '', ttlMs: over.ttlMs ?? 0, uses: over.uses ?? 0, tags: over.tags ?? {}, addrs: [] })).token!;
  return { clock, store, enrollment, create };
}

/** The gRPC answer an enrollment gets: its status code and message. */
async function refusal(work: Promise<unknown>): Promise<{ code: status; message: string }> {
  const err = await work.then(() => assert.fail('expected a refusal'), (e: unknown) => e);
  const service = toServiceError(err);
  return { code: service.code!, message: service.details! };
}

describe('enrollment', () => {
  let s: ReturnType<typeof setup>;
  beforeEach(() => (s = setup(['bootstrap'])));

  test('a token names the bootstrap, the CA fingerprint and the name; it enrolls once, with its tags', async () => {
    const token = await s.create({ name: 'web1', tags: { role: 'web' } });
    const decoded = decodeToken(token);
    assert.deepEqual(decoded.addrs, ['192.0.2.1:5000']);
    assert.equal(decoded.caFingerprint, ca.fingerprint);
    assert.equal(decoded.name, 'web1');
    const res = await s.enrollment.enroll({ token, csrPem: makeCsr('web1') }, SOURCE);
    assert.equal(res.nodeName, 'web1');
    assert.equal(res.caPem, ca.certPem);
    assert.deepEqual(res.tags, { role: 'web' });
    const [info] = await s.enrollment.list();
    assert.equal(info!.used, 1);
    assert.deepEqual(info!.usedBy, ['web1']);
  });

  test('the same token again is refused: "already used" (PERMISSION_DENIED)', async () => {
    const token = await s.create();
    await s.enrollment.enroll({ token, csrPem: makeCsr('web1') }, SOURCE);
    const r = await refusal(s.enrollment.enroll({ token, csrPem: makeCsr('web2') }, SOURCE));
    assert.equal(r.code, status.PERMISSION_DENIED);
    assert.match(r.message, /already used/);
  });

  test('an expired token is refused with when it expired', async () => {
    const token = await s.create({ ttlMs: 1000 });
    s.clock.t += 1000;
    const r = await refusal(s.enrollment.enroll({ token, csrPem: makeCsr('web1') }, SOURCE));
    assert.equal(r.code, status.PERMISSION_DENIED);
    assert.match(r.message, new RegExp(`expired at ${new Date(s.clock.t).toISOString()}`));
  });

  test('an unknown token (right mesh and CA, a secret never issued) is UNAUTHENTICATED "unknown token"', async () => {
    const token = encodeToken({ mesh: 'lab', addrs: ['192.0.2.1:5000'], caFingerprint: ca.fingerprint, secret: newTokenSecret() });
    const r = await refusal(s.enrollment.enroll({ token, csrPem: makeCsr('web1') }, SOURCE));
    assert.equal(r.code, status.UNAUTHENTICATED);
    assert.match(r.message, /unknown token/);
  });

  test('a revoked token is refused', async () => {
    const token = await s.create();
    const [info] = await s.enrollment.list();
    await s.enrollment.revoke(info!.id!);
    assert.match((await refusal(s.enrollment.enroll({ token, csrPem: makeCsr('web1') }, SOURCE))).message, /revoked/);
  });

  test('oversized or malformed tokens, and tokens of another mesh or CA, are INVALID_ARGUMENT', async () => {
    const other = { addrs: ['192.0.2.1:5000'], secret: newTokenSecret() };
    for (const [token, message] of [
      ['wgm1.' + 'A'.repeat(5000), /more than 2048/],
      ['garbage', /not a wgmesh token/],
      [encodeToken({ ...other, mesh: 'other', caFingerprint: ca.fingerprint }), /for mesh "other"/],
      [encodeToken({ ...other, mesh: 'lab', caFingerprint: 'cd'.repeat(32) }), /another CA/],
    ] as const) {
      const r = await refusal(setup().enrollment.enroll({ token, csrPem: makeCsr('web1') }, SOURCE));
      assert.equal(r.code, status.INVALID_ARGUMENT);
      assert.match(r.message, message);
    }
  });

  for (const [what, csr, name] of [
    ['a malformed CSR', () => 'junk', undefined],
    ['a CSR for another name than the token allows', () => makeCsr('db1'), 'web1'],
    ['a CSR asking for CA:TRUE', () => makeCsr('web1', { extensions: [{ name: 'basicConstraints', cA: true }] }), undefined],
    ['a CSR asking for extra key usages', () => makeCsr('web1', { extensions: [{ name: 'keyUsage', digitalSignature: true, keyCertSign: true }] }), undefined],
  ] as const) {
    test(`${what}: INVALID_ARGUMENT, nothing signed, the token still unused`, async () => {
      const token = await s.create(name ? { name } : {});
      const r = await refusal(s.enrollment.enroll({ token, csrPem: csr() }, SOURCE));
      assert.equal(r.code, status.INVALID_ARGUMENT);
      assert.match(r.message, /nothing was signed/);
      const [info] = await s.enrollment.list();
      assert.equal(info!.used, 0);
      // ... and it still works with a good CSR.
      await s.enrollment.enroll({ token, csrPem: makeCsr(name ?? 'web1') }, SOURCE);
    });
  }

  test('a nameless token cannot take the name of a member (the bootstrap\'s, say): ALREADY_EXISTS, token unused', async () => {
    const token = await s.create();
    const r = await refusal(s.enrollment.enroll({ token, csrPem: makeCsr('bootstrap') }, SOURCE));
    assert.equal(r.code, status.ALREADY_EXISTS);
    assert.equal((await s.enrollment.list())[0]!.used, 0);
  });

  test('5 bad tokens a minute from one address, then RESOURCE_EXHAUSTED with when to retry; other addresses are not affected', async () => {
    const good = await s.create();
    const bad = encodeToken({ mesh: 'lab', addrs: ['192.0.2.1:5000'], caFingerprint: ca.fingerprint, secret: newTokenSecret() });
    for (let i = 0; i < 5; i++) assert.equal((await refusal(s.enrollment.enroll({ token: bad, csrPem: makeCsr('web1') }, SOURCE))).code, status.UNAUTHENTICATED);
    s.clock.t += 20_000;
    const limited = await refusal(s.enrollment.enroll({ token: good, csrPem: makeCsr('web1') }, SOURCE));
    assert.equal(limited.code, status.RESOURCE_EXHAUSTED);
    assert.match(limited.message, /too many bad tokens from 192\.0\.2\.7; retry in 40 s/);
    await s.enrollment.enroll({ token: good, csrPem: makeCsr('web1') }, '192.0.2.8');
    s.clock.t += 40_000;
    assert.equal((await refusal(s.enrollment.enroll({ token: good, csrPem: makeCsr('web2') }, SOURCE))).code, status.PERMISSION_DENIED, 'after the window the address is heard again');
  });

  test('token create refuses a bad name, -uses > 1 with a name, and a TTL beyond 30 days', async () => {
    const req = { name: '', ttlMs: 0, uses: 0, tags: {}, addrs: [] };
    for (const bad of [{ name: 'Not Valid' }, { name: 'web1', uses: 2 }, { ttlMs: 31 * 86_400_000 }]) {
      assert.equal((await refusal(s.enrollment.create({ ...req, ...bad }))).code, status.INVALID_ARGUMENT);
    }
  });

  test('the local API view carries gRPC codes', async () => {
    const err = (await s.enrollment.admin.revoke('ffffffffffff').catch((e: unknown) => e)) as { grpcCode: number };
    assert.equal(err.grpcCode, status.NOT_FOUND);
  });
});
