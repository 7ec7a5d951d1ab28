import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ControlCallError, createGrpcControlClient, generateKeyPair, MemoryWgDriver, type ControlClient } from '@wgmesh/agent';
import { Bootstrap, CertificateAuthority, decodeToken, encodeToken, Enrollment, MeshTls, MemoryStateStore, MemoryTokenStore } from '@wgmesh/bootstrap';
import { initCa, issueCertificate, caFiles, loadOrEnroll, enrollFiles, EnrollmentFailed } from '@wgmesh/cli';
import { tempDir } from '../helpers/inprocess.js';

const MESH = 'enr';

describe('enrollment over loopback TLS: a token, a CSR, a certificate, then mTLS', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let bootstrap: Bootstrap;
  let meshTls: MeshTls;
  const clients: ControlClient[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const caDir = path.join(dir, 'ca');
    await initCa(caDir, { mesh: MESH });
    await issueCertificate(caDir, 'bootstrap', { server: true, ips: ['127.0.0.1'] });
    const files = caFiles(caDir);
    const caPem = await readFile(files.cert);
    meshTls = new MeshTls({ caPem, certPem: await readFile(files.issuedCert('bootstrap')), keyPem: await readFile(files.issuedKey('bootstrap')), sendCa: true });
    const ca = new CertificateAuthority(caPem.toString(), await readFile(files.key, 'utf8'));
    bootstrap = new Bootstrap(
      {
        store: new MemoryStateStore(), driver: new MemoryWgDriver('wgenr'), serverCredentials: meshTls.credentials, authenticator: meshTls,
        enrollment: (table) => new Enrollment({ ca, store: new MemoryTokenStore(), clock: { now: () => Date.now() }, isMember: (n) => table.get(n) !== undefined },
          { meshName: MESH, defaultAddrs: () => [`127.0.0.1:${bootstrap.port}`] }),
      },
      { meshName: MESH, nodeName: 'bootstrap', privateKey: generateKeyPair().privateKey, cidr: '198.18.0.0/16', selfIp: '198.18.0.1', grpcBindAddr: '127.0.0.1', grpcPort: 0 },
    );
    await bootstrap.start();
  });

  after(async () => {
    for (const c of clients) c.close();
    await bootstrap?.stop();
    meshTls?.close();
    await cleanup?.();
  });

  const newToken = async (over: { name?: string } = {}) => (await bootstrap.enrollment!.create({ name: over.name ?? '', ttlMs: 60_000, uses: 1, tags: { role: 'web' }, addrs: [] })).token!;

  function client(credentials: grpc.ChannelCredentials): ControlClient {
    const c = createGrpcControlClient({ address: `127.0.0.1:${bootstrap.port}`, credentials, channelOptions: { 'grpc.ssl_target_name_override': '127.0.0.1', 'grpc.default_authority': '127.0.0.1' }, callTimeoutMs: 5000 });
    clients.push(c);
    return c;
  }
  const join = (c: ControlClient, nodeName: string) =>
    c.join({ meshName: MESH, nodeName, publicKey: generateKeyPair().publicKey, listenPort: 54540, endpoints: [{ ip: '192.0.2.10', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] });

  test('a node with only a token enrolls (files 0600 in its state dir) and joins with mTLS as the token\'s name', async () => {
    const text = await newToken({ name: 'web1' });
    const stateDir = path.join(dir, 'web1-state');
    const identity = await loadOrEnroll(decodeToken(text), text, stateDir, 'web1');
    assert.equal(identity.enrolledNow, true);
    assert.deepEqual(identity.tags, { role: 'web' });
    const files = enrollFiles(stateDir, MESH);
    for (const f of [files.cert, files.key, files.ca, files.meta]) assert.equal((await stat(f)).mode & 0o777, 0o600, `${f} is 0600`);
    const joined = await join(client(grpc.credentials.createSsl(identity.ca, identity.key, identity.cert)), '');
    assert.equal(joined.nodeName, 'web1');

    // A restart finds the identity in the state dir: the used token is not presented again.
    const again = await loadOrEnroll(decodeToken(text), text, stateDir, 'web1');
    assert.equal(again.enrolledNow, false);
  });

  test('the same token again is refused as already used', async () => {
    const text = await newToken();
    await loadOrEnroll(decodeToken(text), text, path.join(dir, 'a'), 'web2');
    await assert.rejects(loadOrEnroll(decodeToken(text), text, path.join(dir, 'b'), 'web3'), (err: unknown) => err instanceof EnrollmentFailed && /already used/.test(err.message));
  });

  test('a token pinning another CA: the node stops at the handshake and sends nothing (the token stays unused)', async () => {
    const text = await newToken();
    const forged = encodeToken({ ...decodeToken(text), caFingerprint: 'ab'.repeat(32) });
    await assert.rejects(loadOrEnroll(decodeToken(forged), forged, path.join(dir, 'c'), 'web4'), (err: unknown) => err instanceof EnrollmentFailed && /did not show the CA the token names.*nothing was sent/.test(err.message));
    assert.equal((await bootstrap.enrollment!.list()).find((t) => decodeToken(text).secret && t.used === 0 && t.usedBy?.length === 0) !== undefined, true);
  });

  test('the other Mesh methods still refuse a caller without a client certificate', async () => {
    const ca = await readFile(caFiles(path.join(dir, 'ca')).cert);
    const err = await join(client(grpc.credentials.createSsl(ca)), 'web9').then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ControlCallError, String(err));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
  });
});
