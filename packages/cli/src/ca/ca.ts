import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '@wgmesh/agent/atomic-file';
import { isIP } from 'node:net';
import path from 'node:path';
import forge from 'node-forge';
import { backdateMs } from '@wgmesh/bootstrap/enroll/csr';
import { createCrl, type RevokedEntry } from '@wgmesh/bootstrap/tls/crl';
import { CaError } from '../errors.js';

/**
 * The mesh CA: a directory holding ca.pem / ca-key.pem, the certificates it issued
 * (NAME.pem / NAME-key.pem), index.json (what was issued and revoked) and crl.pem.
 * Keys are made with Node's crypto (fast); certificates are built and signed with node-forge.
 */

export interface IssuedRecord {
  readonly name: string;
  readonly serial: string;
  readonly kind: 'node' | 'server';
  readonly notBefore: string;
  readonly notAfter: string;
  readonly fingerprint256: string;
  readonly revokedAt?: string;
}

interface CaIndex {
  readonly mesh: string;
  issued: IssuedRecord[];
}

export const caFiles = (dir: string) => ({
  cert: path.join(dir, 'ca.pem'),
  key: path.join(dir, 'ca-key.pem'),
  index: path.join(dir, 'index.json'),
  crl: path.join(dir, 'crl.pem'),
  issuedCert: (name: string) => path.join(dir, `${name}.pem`),
  issuedKey: (name: string) => path.join(dir, `${name}-key.pem`),
});

function newRsaKey(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    forgeKey: forge.pki.privateKeyFromPem(pem),
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    pem,
  };
}

/** 16 random bytes, high bit clear so the INTEGER stays positive. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f | 0x10;
  return bytes.toString('hex');
}

async function writeSecret(file: string, content: string): Promise<void> {
  await writeFile(file, content, { mode: 0o600 });
  await chmod(file, 0o600);
}

const writeAtomic = (file: string, content: string, mode = 0o644) => writeFileAtomic(file, content, mode);

async function exists(file: string): Promise<boolean> {
  return readFile(file).then(() => true, () => false);
}

export async function initCa(dir: string, options: { mesh?: string; days?: number; force?: boolean } = {}): Promise<{ cert: string; key: string }> {
  const files = caFiles(dir);
  if (!options.force && (await exists(files.key))) {
    throw new CaError(`${files.key} already exists: this directory already holds a CA. Use another -dir (a new CA would invalidate every certificate issued so far)`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const mesh = options.mesh ?? 'wgmesh';
  const key = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = newSerial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + (options.days ?? 3650) * 86_400_000);
  const subject = [{ name: 'commonName', value: `wgmesh CA ${mesh}` }, { name: 'organizationName', value: 'wgmesh' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  await writeSecret(files.key, key.pem);
  await writeAtomic(files.cert, certPem);
  await writeAtomic(files.index, JSON.stringify({ mesh, issued: [] } satisfies CaIndex, null, 1) + '\n');
  await writeAtomic(files.crl, createCrl({ cert, key: key.forgeKey }, []));
  return { cert: files.cert, key: files.key };
}

async function loadCa(dir: string): Promise<{ cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey; index: CaIndex }> {
  const files = caFiles(dir);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(files.cert, 'utf8');
    keyPem = await readFile(files.key, 'utf8');
  } catch {
    throw new CaError(`no CA in ${dir}: make one with \`wgmesh ca init -dir ${dir}\``);
  }
  const index = JSON.parse(await readFile(files.index, 'utf8').catch(() => '{"mesh":"wgmesh","issued":[]}')) as CaIndex;
  return { cert: forge.pki.certificateFromPem(certPem), key: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey, index };
}

export interface IssueOptions {
  readonly server?: boolean;
  readonly ips?: readonly string[];
  readonly dns?: readonly string[];
  readonly days?: number;
  /** Validity in milliseconds (ca issue -lifetime), instead of days: short-lived certificates, tests of renewal. */
  readonly lifetimeMs?: number;
  /** For tests of expiry handling: explicit validity. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly force?: boolean;
}

export async function issueCertificate(dir: string, name: string, options: IssueOptions = {}): Promise<{ cert: string; key: string; record: IssuedRecord }> {
  if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/i.test(name)) throw new CaError(`"${name}" is not a valid node name (a DNS label: letters, digits, '-')`);
  for (const ip of options.ips ?? []) if (!isIP(ip)) throw new CaError(`-ip ${ip} is not an IP address`);
  const ca = await loadCa(dir);
  const files = caFiles(dir);
  const live = ca.index.issued.find((r) => r.name === name && !r.revokedAt);
  if (live && !options.force && (await exists(files.issuedCert(name)))) {
    throw new CaError(`a certificate for "${name}" exists (serial ${live.serial}); revoke it first (\`wgmesh ca revoke -dir ${dir} ${name}\`), then issue again`);
  }
  const key = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = newSerial();
  const lifetimeMs = options.lifetimeMs ?? (options.days ?? 825) * 86_400_000;
  cert.validity.notBefore = options.notBefore ?? new Date(Date.now() - backdateMs(lifetimeMs));
  cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: name }, { name: 'organizationName', value: `wgmesh ${ca.index.mesh}` }]);
  cert.setIssuer(ca.cert.subject.attributes);
  const altNames = [
    ...(options.dns ?? (options.server ? [name] : [])).map((value) => ({ type: 2, value })),
    ...(options.ips ?? []).map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: options.server === true, clientAuth: true },
    ...(altNames.length ? [{ name: 'subjectAltName', altNames }] : []),
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  await writeSecret(files.issuedKey(name), key.pem);
  await writeAtomic(files.issuedCert(name), certPem);
  const record: IssuedRecord = {
    name,
    serial: cert.serialNumber,
    kind: options.server ? 'server' : 'node',
    notBefore: cert.validity.notBefore.toISOString(),
    notAfter: cert.validity.notAfter.toISOString(),
    fingerprint256: new X509Certificate(certPem).fingerprint256,
  };
  ca.index.issued.push(record);
  await writeAtomic(files.index, JSON.stringify(ca.index, null, 1) + '\n');
  return { cert: files.issuedCert(name), key: files.issuedKey(name), record };
}

/** Revokes every live certificate issued to NAME (only the one of `serial` when given) and rewrites crl.pem (bootstraps reload it). */
export async function revokeCertificate(dir: string, name: string, serial?: string): Promise<IssuedRecord[]> {
  const ca = await loadCa(dir);
  const now = new Date().toISOString();
  const wanted = serial?.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, '');
  const hit = ca.index.issued.filter((r) => r.name === name && !r.revokedAt && (wanted === undefined || r.serial.toLowerCase().replace(/^0+(?=.)/, '') === wanted));
  if (hit.length === 0) throw new CaError(`no live certificate for "${name}"${serial ? ` with serial ${serial}` : ''} in ${dir} (see \`wgmesh ca list -dir ${dir}\`)`);
  ca.index.issued = ca.index.issued.map((r) => (hit.includes(r) ? { ...r, revokedAt: now } : r));
  const revoked: RevokedEntry[] = ca.index.issued.filter((r) => r.revokedAt).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt!) }));
  const files = caFiles(dir);
  await writeAtomic(files.crl, createCrl({ cert: ca.cert, key: ca.key }, revoked));
  await writeAtomic(files.index, JSON.stringify(ca.index, null, 1) + '\n');
  return hit.map((r) => ({ ...r, revokedAt: now }));
}

export async function listCertificates(dir: string): Promise<IssuedRecord[]> {
  return (await loadCa(dir)).index.issued;
}
