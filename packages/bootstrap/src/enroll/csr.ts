import { randomBytes, X509Certificate } from 'node:crypto';
import type forge from 'node-forge';
import { lazyRequire } from '@wgmesh/agent/lazy-require';
import { errorMessage } from '@wgmesh/agent/log';
import { ConfigError, CsrRejected } from '../errors.js';
import { normalizeFingerprint } from './token.js';

// Loaded on first use: only TLS meshes need it.
const nodeForge = lazyRequire<typeof forge>(import.meta.url, 'node-forge');

/** A CSR larger than this is refused unread (a 4096-bit RSA CSR is about 1.7 KB of PEM). */
export const CSR_MAX_CHARS = 8192;
const MIN_RSA_BITS = 2048;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** The key usages a node certificate has; a CSR may ask for these, nothing more. */
const ALLOWED_KEY_USAGES = new Set(['digitalSignature', 'keyEncipherment']);
const KEY_USAGE_FLAGS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];
const EXT_KEY_USAGE_FLAGS = ['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection', 'timeStamping'];

/** A CSR that passed every check: its public key and the name it asks for. */
export interface CheckedCsr {
  readonly name: string;
  readonly publicKey: forge.pki.rsa.PublicKey;
}

interface CsrExtension {
  name?: string;
  id?: string;
  cA?: boolean;
  [flag: string]: unknown;
}

/**
 * Checks a PKCS#10 request before anything is signed: PEM of bounded size, RSA of at least 2048
 * bits, a valid self-signature, CN = a DNS label (the token's name when it names one), and no
 * request beyond a node certificate's: no CA:TRUE, no key usage but digitalSignature and
 * keyEncipherment, no extended key usage but clientAuth, no other extension (alternative names).
 */
export function checkCsr(pem: string, allowedName: string | undefined): CheckedCsr {
  if (!pem) throw new CsrRejected('no CSR was sent');
  if (pem.length > CSR_MAX_CHARS) throw new CsrRejected(`the CSR is ${pem.length} characters, more than ${CSR_MAX_CHARS}`);
  if (!/-----BEGIN CERTIFICATE REQUEST-----/.test(pem)) throw new CsrRejected('it is not a PEM certificate request (BEGIN CERTIFICATE REQUEST)');
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = nodeForge().pki.certificationRequestFromPem(pem);
  } catch (err) {
    throw new CsrRejected(`it cannot be parsed (${errorMessage(err)}); wgmesh nodes send RSA requests`);
  }
  let signed = false;
  try {
    signed = csr.verify();
  } catch {
    signed = false;
  }
  if (!signed) throw new CsrRejected('its signature does not verify against its own key');
  const publicKey = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!publicKey?.n) throw new CsrRejected('its key is not RSA');
  if (publicKey.n.bitLength() < MIN_RSA_BITS) throw new CsrRejected(`its RSA key has ${publicKey.n.bitLength()} bits, fewer than ${MIN_RSA_BITS}`);
  const cn = String(csr.subject.getField('CN')?.value ?? '');
  if (!cn) throw new CsrRejected('its subject has no CN (the node name)');
  const name = cn.toLowerCase();
  if (!DNS_LABEL.test(name)) throw new CsrRejected(`its CN "${cn.slice(0, 64)}" is not a node name (a DNS label: letters, digits, '-')`);
  if (allowedName !== undefined && name !== allowedName) throw new CsrRejected(`its CN "${cn}" is not the name the token was made for ("${allowedName}")`);
  const requested = (csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: CsrExtension[] } | null)?.extensions ?? [];
  for (const ext of requested) checkExtension(ext);
  return { name, publicKey };
}

function checkExtension(ext: CsrExtension): void {
  switch (ext.name) {
    case 'basicConstraints':
      if (ext.cA) throw new CsrRejected('it asks for CA:TRUE; a node certificate cannot sign certificates');
      return;
    case 'keyUsage': {
      const extra = KEY_USAGE_FLAGS.filter((f) => ext[f] === true && !ALLOWED_KEY_USAGES.has(f));
      if (extra.length) throw new CsrRejected(`it asks for key usage ${extra.join(', ')}; a node certificate has digitalSignature and keyEncipherment only`);
      return;
    }
    case 'extKeyUsage': {
      const known = EXT_KEY_USAGE_FLAGS.filter((f) => ext[f] === true && f !== 'clientAuth');
      const unknown = Object.keys(ext).filter((k) => /^\d+(\.\d+)+$/.test(k));
      const extra = [...known, ...unknown];
      if (extra.length) throw new CsrRejected(`it asks for extended key usage ${extra.join(', ')}; a node certificate is for clientAuth only`);
      return;
    }
    default:
      throw new CsrRejected(`it asks for the extension ${ext.name ?? ext.id ?? 'unknown'}, which node certificates do not carry`);
  }
}

/**
 * How far before now a certificate's validity starts (clock skew between machines): a minute, or a
 * tenth of a short lifetime, so that a certificate of 60 s still has most of its life ahead.
 */
export function backdateMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.floor(lifetimeMs / 10));
}

/** The mesh CA as a bootstrap with -ca-key holds it: signs checked CSRs as node certificates. */
export class CertificateAuthority {
  readonly certPem: string;
  /** SHA-256 of the CA certificate, lower-case hex. */
  readonly fingerprint: string;
  private readonly cert: forge.pki.Certificate;
  private readonly key: forge.pki.rsa.PrivateKey;

  constructor(caPem: string, keyPem: string) {
    const pems = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length !== 1) throw new ConfigError(`-ca-key needs -grpc-ca-cert to hold exactly the one CA certificate it belongs to (it holds ${pems.length})`);
    try {
      this.cert = nodeForge().pki.certificateFromPem(pems[0]!);
    } catch (err) {
      throw new ConfigError(`-grpc-ca-cert cannot be read as an RSA CA certificate: ${errorMessage(err)}`);
    }
    try {
      this.key = nodeForge().pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
    } catch (err) {
      throw new ConfigError(`-ca-key is not an RSA private key in PEM: ${errorMessage(err)}`);
    }
    const pub = this.cert.publicKey as forge.pki.rsa.PublicKey;
    if (!this.key?.n || pub.n.compareTo(this.key.n) !== 0) throw new ConfigError('-ca-key is not the key of the CA in -grpc-ca-cert; give the ca-key.pem beside that ca.pem');
    this.certPem = pems[0]! + '\n';
    this.fingerprint = normalizeFingerprint(new X509Certificate(this.certPem).fingerprint256);
  }

  /** A node certificate for a checked CSR: CN = name, clientAuth only, CA:FALSE. */
  sign(csr: CheckedCsr, options: { mesh: string; nowMs: number; lifetimeMs: number }): string {
    const { pki, md } = nodeForge();
    const cert = pki.createCertificate();
    cert.publicKey = csr.publicKey;
    const serial = randomBytes(16);
    serial[0] = (serial[0]! & 0x7f) | 0x10;
    cert.serialNumber = serial.toString('hex');
    cert.validity.notBefore = new Date(options.nowMs - backdateMs(options.lifetimeMs));
    cert.validity.notAfter = new Date(options.nowMs + options.lifetimeMs);
    cert.setSubject([{ name: 'commonName', value: csr.name }, { name: 'organizationName', value: `wgmesh ${options.mesh}` }]);
    cert.setIssuer(this.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.key, md.sha256.create());
    return pki.certificateToPem(cert);
  }
}
