/**
 * `wgmesh join -token`: the node's side of enrollment. The key pair and CSR are made here (the
 * private key never leaves the machine); the bootstrap is trusted only through the CA fingerprint
 * the token carries; the certificate, key and CA are kept in the state dir (0600) so a restart
 * joins with them and needs no token.
 */
import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, type PeerCertificate } from 'node:tls';
import path from 'node:path';
import type forge from 'node-forge';
import { lazyRequire } from '@wgmesh/agent/lazy-require';
import { loadProtos } from '@wgmesh/agent/proto/load';
import { nodeFiles } from '@wgmesh/agent/node/files';
import { parseHostPort } from '@wgmesh/agent/endpoints/endpoints';
import { writeFileAtomic } from '@wgmesh/agent/atomic-file';
import { type EnrollResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/EnrollResponse';
import { type MeshClient } from '@wgmesh/agent/proto/gen/wgmesh/v1/Mesh';
import { certCommonName } from '@wgmesh/bootstrap/tls/mtls';
import { normalizeFingerprint, type EnrollmentToken } from '@wgmesh/bootstrap/enroll/token';
import { EnrollmentFailed } from '../errors.js';
import { tlsChannelOptions } from '../commands/tls.js';

// Loaded on first use: only TLS meshes need it.
const nodeForge = lazyRequire<typeof forge>(import.meta.url, 'node-forge');

export interface EnrolledIdentity {
  readonly name: string;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Tags the token gave this node. */
  readonly tags: Readonly<Record<string, string>>;
  /** Made now (true) or found in the state dir from an earlier enrollment. */
  readonly enrolledNow: boolean;
}

/** Where an enrolled node keeps its identity: <state-dir>/<mesh>/. */
export function enrollFiles(stateDir: string, mesh: string): { dir: string; cert: string; key: string; ca: string; meta: string } {
  const { dir } = nodeFiles(stateDir, mesh);
  return { dir, cert: path.join(dir, 'node.pem'), key: path.join(dir, 'node-key.pem'), ca: path.join(dir, 'ca.pem'), meta: path.join(dir, 'enrollment.json') };
}

/** A new RSA key (PKCS#8 PEM) and a CSR for it with CN = name; `extensions` only for tests of refusals. */
export function makeCsr(name: string, extensions: object[] = []): { keyPem: string; csrPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const { pki, md } = nodeForge();
  const csr = pki.createCertificationRequest();
  csr.publicKey = pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  csr.setSubject([{ name: 'commonName', value: name }]);
  if (extensions.length) csr.setAttributes([{ name: 'extensionRequest', extensions }]);
  csr.sign(pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey, md.sha256.create());
  return { keyPem, csrPem: pki.certificationRequestToPem(csr) };
}

/**
 * The identity from an earlier enrollment with this CA, or a new one from the token. A stored
 * certificate of another CA, or an expired one, is replaced by enrolling again.
 */
export async function loadOrEnroll(token: EnrollmentToken, tokenText: string, stateDir: string, name: string, timeoutMs = 15_000): Promise<EnrolledIdentity> {
  const files = enrollFiles(stateDir, token.mesh);
  const stored = await loadStored(files, token, name);
  if (stored) return stored;
  const { keyPem, csrPem } = makeCsr(name);
  const failures: string[] = [];
  for (const addr of token.addrs) {
    let response: EnrollResponse__Output;
    try {
      response = await enrollAt(addr, token, tokenText, csrPem, timeoutMs);
    } catch (err) {
      if (err instanceof Unreachable) {
        failures.push(`${addr}: ${err.message}`);
        continue;
      }
      throw err;
    }
    const identity = checkResponse(response, token, keyPem, name);
    await writeFileAtomic(files.key, keyPem, 0o600);
    await writeFileAtomic(files.cert, identity.cert.toString(), 0o600);
    await writeFileAtomic(files.ca, identity.ca.toString(), 0o600);
    await writeFileAtomic(files.meta, JSON.stringify({ name: identity.name, tags: identity.tags, addrs: token.addrs, caFingerprint: token.caFingerprint }, null, 1) + '\n', 0o600);
    return identity;
  }
  throw new EnrollmentFailed(`no bootstrap in the token answered: ${failures.join('; ')}`);
}

async function loadStored(files: ReturnType<typeof enrollFiles>, token: EnrollmentToken, name: string): Promise<EnrolledIdentity | undefined> {
  let ca: Buffer;
  let cert: Buffer;
  let key: Buffer;
  let meta: { tags?: Record<string, string> };
  try {
    [ca, cert, key] = await Promise.all([readFile(files.ca), readFile(files.cert), readFile(files.key)]);
    meta = JSON.parse(await readFile(files.meta, 'utf8')) as { tags?: Record<string, string> };
  } catch {
    return undefined;
  }
  try {
    const caCert = new X509Certificate(ca);
    const own = new X509Certificate(cert);
    if (normalizeFingerprint(caCert.fingerprint256) !== token.caFingerprint) return undefined;
    if (Date.parse(own.validTo) < Date.now() || certCommonName(own) !== name) return undefined;
  } catch {
    return undefined;
  }
  return { name, ca, cert, key, tags: meta.tags ?? {}, enrolledNow: false };
}

/** A bootstrap that could not be reached (try the token's next one); anything else is a verdict. */
class Unreachable extends Error {}

async function enrollAt(addr: string, token: EnrollmentToken, tokenText: string, csrPem: string, timeoutMs: number): Promise<EnrollResponse__Output> {
  let target: { host: string; port: number };
  try {
    target = parseHostPort(addr, 5000);
  } catch (err) {
    throw new Unreachable((err as Error).message);
  }
  const ca = await fetchPinnedCa(target.host, target.port, token.caFingerprint, timeoutMs);
  const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
  const address = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const client = new Mesh(address, grpc.credentials.createSsl(ca), tlsChannelOptions(target.host)) as unknown as MeshClient;
  try {
    return await new Promise<EnrollResponse__Output>((resolve, reject) => {
      client.enroll({ token: tokenText, csrPem }, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (!err) return resolve(res!);
        if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) reject(new Unreachable(err.details || err.message));
        else reject(new EnrollmentFailed(`the bootstrap at ${addr} refused the enrollment: ${err.details || err.message}`));
      });
    });
  } finally {
    client.close();
  }
}

/**
 * The CA certificate, as the bootstrap sends it after its own in the TLS handshake, accepted only
 * if its SHA-256 is the token's and it issued the bootstrap's certificate. The handshake is not
 * trusted for anything else: the Enroll call then runs over a connection verified against this CA.
 */
export function fetchPinnedCa(host: string, port: number, fingerprint: string, timeoutMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ALPNProtocols: ['h2'], ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Unreachable(`no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Unreachable(err.message));
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const chain: PeerCertificate[] = [];
      for (let c: PeerCertificate | undefined = socket.getPeerCertificate(true); c?.raw && !chain.includes(c); c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate) chain.push(c);
      socket.destroy();
      const leaf = chain[0] ? new X509Certificate(chain[0].raw) : undefined;
      const pinned = chain.map((c) => new X509Certificate(c.raw)).find((c) => normalizeFingerprint(c.fingerprint256) === fingerprint);
      if (!leaf || !pinned) {
        reject(new EnrollmentFailed(
          `the server at ${host}:${port} did not show the CA the token names (SHA-256 ${fingerprint.slice(0, 16)}…): it is not this mesh's bootstrap, or it runs without -ca-key; nothing was sent to it`,
        ));
        return;
      }
      if (!pinned.ca || !(leaf.checkIssued(pinned) && leaf.verify(pinned.publicKey))) {
        reject(new EnrollmentFailed(`the server at ${host}:${port} showed the token's CA, but its own certificate is not issued by it; nothing was sent to it`));
        return;
      }
      resolve(Buffer.from(pinned.toString()));
    });
  });
}

/** What came back must be a certificate for our key and name, from the pinned CA. */
function checkResponse(res: EnrollResponse__Output, token: EnrollmentToken, keyPem: string, name: string): EnrolledIdentity {
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(res.caPem);
    cert = new X509Certificate(res.certPem);
  } catch (err) {
    throw new EnrollmentFailed(`the bootstrap's answer holds no readable certificate: ${(err as Error).message}`);
  }
  if (normalizeFingerprint(ca.fingerprint256) !== token.caFingerprint) throw new EnrollmentFailed('the bootstrap answered with another CA than the token names');
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new EnrollmentFailed('the certificate the bootstrap sent is not signed by the token\'s CA');
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new EnrollmentFailed('the certificate the bootstrap sent is not for this node\'s key');
  if (certCommonName(cert) !== name) throw new EnrollmentFailed(`the certificate the bootstrap sent names "${certCommonName(cert)}", not "${name}"`);
  return { name, ca: Buffer.from(res.caPem), cert: Buffer.from(res.certPem), key: Buffer.from(keyPem), tags: { ...res.tags }, enrolledNow: true };
}
