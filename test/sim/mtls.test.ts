import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import path from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ControlCallError, createGrpcControlClient, generateKeyPair, MemoryWgDriver, type ControlClient } from '@wgmesh/agent';
import { Bootstrap, MeshTls, MemoryStateStore } from '@wgmesh/bootstrap';
import { initCa, issueCertificate, revokeCertificate, caFiles, clientCertificateProblem } from '@wgmesh/cli';
import { REPO_ROOT, sourceWgmeshCommand } from '@wgmesh/cli/lab';
import { tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

const MESH = 'tls';
/**
 * What the bootstrap says for a certificate of another CA, an expired one and one not yet valid
 * alike: grpc-js shows the service no certificate that TLS did not verify, so it cannot tell them
 * apart. The join command tells them apart itself (see "wgmesh join names the problem").
 */
const UNVERIFIED = 'no valid client certificate: none was presented, or it was not issued by this mesh\'s CA, has expired, or is not yet valid. ';
/** Valid from tomorrow, to the second (certificates hold whole seconds): the join command names this time. */
const FUTURE_FROM = new Date(Math.floor((Date.now() + 86_400_000) / 1000) * 1000);

describe('mTLS join service over loopback', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let bootstrap: Bootstrap;
  let meshTls: MeshTls;
  const clients: ControlClient[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await initCa(path.join(dir, 'ca'), { mesh: MESH });
    await initCa(path.join(dir, 'other-ca'), { mesh: 'evil' });
    await issueCertificate(path.join(dir, 'ca'), 'bootstrap', { server: true, ips: ['127.0.0.1'] });
    const files = caFiles(path.join(dir, 'ca'));
    meshTls = new MeshTls({
      caPem: await readFile(files.cert),
      certPem: await readFile(files.issuedCert('bootstrap')),
      keyPem: await readFile(files.issuedKey('bootstrap')),
      crlFile: files.crl,
    });
    bootstrap = new Bootstrap(
      { store: new MemoryStateStore(), driver: new MemoryWgDriver('wgtls'), serverCredentials: meshTls.credentials, authenticator: meshTls },
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

  /** A client presenting NAME's certificate from the CA in caDir (or none), trusting the mesh CA. */
  async function client(name: string | undefined, caDir = 'ca', dial = '127.0.0.1'): Promise<ControlClient> {
    const meshCa = await readFile(caFiles(path.join(dir, 'ca')).cert);
    const files = caFiles(path.join(dir, caDir));
    const credentials = name
      ? grpc.credentials.createSsl(meshCa, await readFile(files.issuedKey(name)), await readFile(files.issuedCert(name)))
      : grpc.credentials.createSsl(meshCa);
    const c = createGrpcControlClient({
      address: `${dial}:${bootstrap.port}`,
      credentials,
      channelOptions: { 'grpc.ssl_target_name_override': dial, 'grpc.default_authority': dial },
      callTimeoutMs: 5000,
    });
    clients.push(c);
    return c;
  }

  const join = (c: ControlClient, nodeName: string, publicKey = generateKeyPair().publicKey) =>
    c.join({ meshName: MESH, nodeName, publicKey, listenPort: 54540, endpoints: [{ ip: '192.0.2.10', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] });

  async function rejected(promise: Promise<unknown>): Promise<ControlCallError> {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ControlCallError, `expected a refused call, got ${String(err)}`);
    return err;
  }

  test('a valid node certificate joins, and the node name is taken from its CN when omitted', async () => {
    await issueCertificate(path.join(dir, 'ca'), 'alpha');
    const res = await join(await client('alpha'), 'alpha');
    assert.equal(res.nodeName, 'alpha');
    assert.match(res.meshIp, /^198\.18\./);
    await issueCertificate(path.join(dir, 'ca'), 'bravo');
    const byCn = await join(await client('bravo'), '');
    assert.equal(byCn.nodeName, 'bravo');
    assert.ok(bootstrap.table!.get('alpha')!.certFingerprint.length > 0, 'the member records its certificate fingerprint');
  });

  test('the RTT matrix over mTLS: a member gets it as itself; no other name, and no non-member', async () => {
    const alpha = await client('alpha');
    const anyKey = generateKeyPair().publicKey; // with certificates the certificate is the identity
    const matrix = await alpha.rtt({ meshName: MESH, nodeName: 'alpha', publicKey: anyKey });
    assert.deepEqual(matrix.nodes, ['alpha', 'bootstrap', 'bravo']);
    const asBravo = await rejected(alpha.rtt({ meshName: MESH, nodeName: 'bravo', publicKey: anyKey }));
    assert.equal(asBravo.code, grpc.status.PERMISSION_DENIED);
    await issueCertificate(path.join(dir, 'ca'), 'outsider');
    const outsider = await rejected((await client('outsider')).rtt({ meshName: MESH, nodeName: 'outsider', publicKey: anyKey }));
    assert.equal(outsider.code, grpc.status.NOT_FOUND, 'a valid certificate is not membership');
  });

  test('no client certificate: refused, and told to pass one', async () => {
    const err = await rejected(join(await client(undefined), 'nobody'));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    assert.match(err.details, /no valid client certificate: none was presented.*-client-cert/);
    assert.equal(bootstrap.table!.get('nobody'), undefined);
  });

  // The bootstrap refuses these three with the same words (UNVERIFIED); what `wgmesh join`
  // itself says about each, before it dials, is tested below.
  test('a certificate of another CA: refused by the bootstrap (which cannot say which problem it is)', async () => {
    await issueCertificate(path.join(dir, 'other-ca'), 'mallory');
    const err = await rejected(join(await client('mallory', 'other-ca'), 'mallory'));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    assert.ok(err.details.startsWith(UNVERIFIED), err.details);
    assert.equal(bootstrap.table!.get('mallory'), undefined);
  });

  test('an expired certificate: refused by the bootstrap', async () => {
    await issueCertificate(path.join(dir, 'ca'), 'old', { notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2026-01-01T00:00:00Z') });
    const err = await rejected(join(await client('old'), 'old'));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    assert.ok(err.details.startsWith(UNVERIFIED), err.details);
    assert.equal(bootstrap.table!.get('old'), undefined);
  });

  test('a not-yet-valid certificate: refused by the bootstrap', async () => {
    await issueCertificate(path.join(dir, 'ca'), 'future', { notBefore: FUTURE_FROM, notAfter: new Date(FUTURE_FROM.getTime() + 86_400_000) });
    const err = await rejected(join(await client('future'), 'future'));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    assert.ok(err.details.startsWith(UNVERIFIED), err.details);
    assert.equal(bootstrap.table!.get('future'), undefined);
  });

  test('a CN that differs from the requested node name: refused', async () => {
    await issueCertificate(path.join(dir, 'ca'), 'charlie');
    const err = await rejected(join(await client('charlie'), 'delta'));
    assert.equal(err.code, grpc.status.PERMISSION_DENIED);
    assert.match(err.details, /does not match the client certificate's CN "charlie"/);
    assert.equal(bootstrap.table!.get('delta'), undefined);
  });

  test('a revoked certificate is refused once the CRL changes, without restarting the bootstrap', async () => {
    await issueCertificate(path.join(dir, 'ca'), 'echo');
    const c = await client('echo');
    await join(c, 'echo');
    const before = meshTls.revokedCount;
    await revokeCertificate(path.join(dir, 'ca'), 'echo');
    await waitFor('the bootstrap to reload the CRL', () => meshTls.revokedCount > before, 5000);
    const err = await rejected(join(c, 'echo'));
    assert.equal(err.code, grpc.status.PERMISSION_DENIED);
    assert.match(err.details, /revoked/);
  });

  test('the certificate (its CN) is the identity: a re-issued one for alpha is alpha, a certificate for another name is not', async () => {
    const owner = await join(await client('alpha'), 'alpha');
    const first = bootstrap.table!.get('alpha')!;
    await issueCertificate(path.join(dir, 'ca'), 'alpha', { force: true });
    // A renewed or re-issued certificate from the mesh's CA (the operator's act) keeps the node and its IP.
    const again = await join(await client('alpha'), 'alpha');
    assert.equal(again.meshIp, owner.meshIp);
    assert.notEqual(bootstrap.table!.get('alpha')!.certSerial, first.certSerial, 'the certificate in use is recorded');
    // Knowing alpha's name and public key (every member does) is nothing without its certificate.
    const bravo = await client('bravo');
    // Each refusal is taken as it comes (the calls run at once: one answered before another is awaited is no unhandled rejection).
    const refusals = await Promise.all([
      bravo.update({ meshName: MESH, nodeName: 'alpha', publicKey: first.publicKey, tags: { hijacked: 'yes' } }),
      bravo.leave({ meshName: MESH, nodeName: 'alpha', publicKey: first.publicKey }),
      bravo.join({ meshName: MESH, nodeName: 'alpha', publicKey: first.publicKey, listenPort: 54540 }),
    ].map(rejected));
    for (const err of refusals) {
      assert.equal(err.code, grpc.status.PERMISSION_DENIED);
      assert.match(err.details, /does not match the client certificate's CN "bravo"/);
    }
    assert.equal(bootstrap.table!.get('alpha')!.tags.hijacked, undefined);
  });

  test('the client refuses a server certificate whose SANs do not name the dialed address', async () => {
    await issueCertificate(path.join(dir, 'ca'), 'foxtrot');
    // The server certificate names 127.0.0.1 only; expect the name "wrong.example" instead.
    const meshCa = await readFile(caFiles(path.join(dir, 'ca')).cert);
    const files = caFiles(path.join(dir, 'ca'));
    const c = createGrpcControlClient({
      address: `127.0.0.1:${bootstrap.port}`,
      credentials: grpc.credentials.createSsl(meshCa, await readFile(files.issuedKey('foxtrot')), await readFile(files.issuedCert('foxtrot'))),
      channelOptions: { 'grpc.ssl_target_name_override': 'wrong.example', 'grpc.default_authority': 'wrong.example' },
      callTimeoutMs: 3000,
    });
    clients.push(c);
    const err = await rejected(join(c, 'foxtrot'));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.equal(bootstrap.table!.get('foxtrot'), undefined);
  });

  test('a client that offers only TLS 1.2 cannot connect', async () => {
    const files = caFiles(path.join(dir, 'ca'));
    const ca = await readFile(files.cert, 'utf8');
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1', port: bootstrap.port, maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'],
        ca: [ca], checkServerIdentity: () => undefined,
      });
      socket.once('secureConnect', () => {
        resolve(`connected with ${socket.getProtocol()}`);
        socket.destroy();
      });
      socket.once('error', (err) => resolve(`error: ${err.message}`));
    });
    assert.match(outcome, /^error: .*(protocol version|alert)/i);
  });

  test('openssl s_client sees TLS 1.3 and a certificate request; without a certificate no Join completes', async () => {
    const out = await new Promise<string>((resolve) => {
      const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${bootstrap.port}`, '-alpn', 'h2', '-CAfile', caFiles(path.join(dir, 'ca')).cert], { timeout: 10_000 }, (_err, stdout, stderr) => resolve(stdout + stderr));
      child.stdin?.end();
    });
    assert.match(out, /Protocol\s*:\s*TLSv1\.3|New, TLSv1\.3/);
    assert.match(out, /Acceptable client certificate CA names[\s\S]*wgmesh CA tls/);
    assert.match(out, /Verify return code: 0 \(ok\)/);
    // And a gRPC call over a TLS connection without a client certificate is refused (checked above).
    const err = await rejected(join(await client(undefined), 'sneaky'));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
  });

  /**
   * `wgmesh join` from source with NAME's certificate from caDir, against the bootstrap above: its
   * exit code and stderr. -socket names a regular file: a join that got past its certificate
   * check stops there (not a socket), before it touches WireGuard or dials.
   */
  async function cliJoin(name: string, caDir = 'ca'): Promise<{ code: number | null; stderr: string }> {
    const files = caFiles(path.join(dir, caDir));
    const notASocket = path.join(dir, 'not-a-socket');
    await writeFile(notASocket, '');
    const [file, ...args] = sourceWgmeshCommand();
    const argv = [
      ...args, 'join', '-n', MESH, '-bootstrap-addr', `127.0.0.1:${bootstrap.port}`,
      '-ca-cert', caFiles(path.join(dir, 'ca')).cert, '-client-cert', files.issuedCert(name), '-client-key', files.issuedKey(name),
      '-state-dir', path.join(dir, 'join-state'), '-socket', notASocket, '-log-level', 'error',
    ];
    return new Promise((resolve) => {
      execFile(file!, argv, { cwd: REPO_ROOT, timeout: 60_000 }, (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }));
    });
  }

  test('wgmesh join names the problem with its own certificate: expired on a date, not valid before a time, another CA', async () => {
    // The exact words, one message each: the bootstrap's one message for all three says none of this.
    assert.deepEqual(await cliJoin('old'), {
      code: 2,
      stderr: 'wgmesh join: client side: the client certificate "old" expired on 2026-01-01; issue a new one with `wgmesh ca issue old`\n',
    });
    assert.deepEqual(await cliJoin('future'), {
      code: 2,
      stderr: `wgmesh join: client side: the client certificate "future" is not valid before ${FUTURE_FROM.toISOString()}; check this machine's clock\n`,
    });
    assert.deepEqual(await cliJoin('mallory', 'other-ca'), {
      code: 2,
      stderr: 'wgmesh join: client side: the client certificate "mallory" is not signed by the CA in -ca-cert; use the node certificate and CA of the same mesh (`wgmesh ca issue`)\n',
    });
    // A good certificate passes the check and gets as far as the -socket tripwire (as root; as
    // another user, to the root check).
    const good = await cliJoin('charlie');
    const next = process.getuid?.() === 0 ? 'is a regular file, not a socket' : 'must run as root';
    assert.ok(good.stderr.includes(next) && !good.stderr.includes('client side'), `a valid certificate passes join's own check; it said: ${good.stderr}`);
  });

  // The bootstrap cannot tell a foreign, expired or future certificate apart (see above), so the
  // join command checks its own certificate before dialing and names the exact problem.
  test('the join command checks its own certificate first and says what is wrong', async () => {
    const files = caFiles(path.join(dir, 'ca'));
    const ca = await readFile(files.cert);
    assert.match(clientCertificateProblem(await readFile(files.issuedCert('old')), ca, undefined, Date.now())!, /expired on 2026-01-01.*wgmesh ca issue old/);
    assert.match(clientCertificateProblem(await readFile(files.issuedCert('future')), ca, undefined, Date.now())!, /not valid before/);
    assert.match(clientCertificateProblem(await readFile(caFiles(path.join(dir, 'other-ca')).issuedCert('mallory')), ca, undefined, Date.now())!, /not signed by the CA in -ca-cert/);
    assert.match(clientCertificateProblem(await readFile(files.issuedCert('charlie')), ca, 'delta', Date.now())!, /does not match the client certificate's CN "charlie"/);
    assert.equal(clientCertificateProblem(await readFile(files.issuedCert('charlie')), ca, 'charlie', Date.now()), undefined);
  });
});

