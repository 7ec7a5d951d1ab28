import type forge from 'node-forge';
import { lazyRequire } from '@wgmesh/agent/lazy-require';
import { CrlError } from '../errors.js';

// Loaded on first use: only TLS meshes need it.
const nodeForge = lazyRequire<typeof forge>(import.meta.url, 'node-forge');

/**
 * X.509 certificate revocation lists (RFC 5280, version 1: no extensions), which node-forge
 * does not provide: built and read here with its ASN.1 codec, signed SHA-256 with RSA.
 */

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

export interface RevokedEntry {
  /** Serial number, lower-case hex without leading zeros. */
  readonly serial: string;
  readonly revokedAt: Date;
}

function algorithmIdentifier(): forge.asn1.Asn1 {
  const { asn1 } = nodeForge();
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(SHA256_WITH_RSA).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
  ]);
}

function utcTime(date: Date): forge.asn1.Asn1 {
  const { asn1 } = nodeForge();
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date));
}

export function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

function serialToDer(hex: string): string {
  let h = normalizeSerial(hex);
  if (h.length % 2) h = '0' + h;
  // INTEGER is signed: a leading byte >= 0x80 needs a zero byte before it.
  if (parseInt(h.slice(0, 2), 16) >= 0x80) h = '00' + h;
  return nodeForge().util.hexToBytes(h);
}

export function createCrl(ca: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey }, revoked: readonly RevokedEntry[], options: { thisUpdate?: Date; nextUpdate?: Date } = {}): string {
  const lib = nodeForge();
  const { asn1 } = lib;
  const thisUpdate = options.thisUpdate ?? new Date();
  const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + 365 * 86_400_000);
  const fields: forge.asn1.Asn1[] = [
    algorithmIdentifier(),
    lib.pki.distinguishedNameToAsn1(ca.cert.subject),
    utcTime(thisUpdate),
    utcTime(nextUpdate),
  ];
  if (revoked.length > 0) {
    fields.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, revoked.map((r) =>
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, serialToDer(r.serial)),
        utcTime(r.revokedAt),
      ]))));
  }
  const tbs = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, fields);
  const md = lib.md.sha256.create();
  md.update(asn1.toDer(tbs).getBytes());
  const signature = ca.key.sign(md);
  const crl = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithmIdentifier(),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(0) + signature),
  ]);
  return lib.pem.encode({ type: 'X509 CRL', body: asn1.toDer(crl).getBytes() });
}

/** Reads a CRL and checks it is signed by the CA; returns the revoked serials. */
export function readCrl(pem: string, caCertPem: string): { revoked: RevokedEntry[]; thisUpdate: Date } {
  const lib = nodeForge();
  const { asn1 } = lib;
  let der: string;
  try {
    const msg = lib.pem.decode(pem).find((m) => m.type === 'X509 CRL');
    if (!msg) throw new Error('no "BEGIN X509 CRL" block');
    der = msg.body;
  } catch (err) {
    throw new CrlError(`not a PEM CRL: ${(err as Error).message}`);
  }
  const root = asn1.fromDer(der);
  const [tbs, , sigValue] = root.value as forge.asn1.Asn1[];
  if (!tbs || !sigValue) throw new CrlError('malformed CRL');
  const items = tbs.value as forge.asn1.Asn1[];
  let i = 0;
  if (items[0]?.type === asn1.Type.INTEGER) i++; // v2 CRLs carry a version
  i++; // signature algorithm
  i++; // issuer
  const thisUpdate = asn1.utcTimeToDate(items[i++]!.value as string);
  if (items[i] && (items[i]!.type === asn1.Type.UTCTIME || items[i]!.type === asn1.Type.GENERALIZEDTIME)) i++;
  const revoked: RevokedEntry[] = [];
  const list = items[i];
  if (list && list.type === asn1.Type.SEQUENCE && list.tagClass === asn1.Class.UNIVERSAL) {
    for (const entry of list.value as forge.asn1.Asn1[]) {
      const [serial, date] = entry.value as forge.asn1.Asn1[];
      revoked.push({ serial: normalizeSerial(lib.util.bytesToHex(serial!.value as string)), revokedAt: asn1.utcTimeToDate(date!.value as string) });
    }
  }
  const caCert = lib.pki.certificateFromPem(caCertPem);
  const md = lib.md.sha256.create();
  md.update(asn1.toDer(tbs).getBytes());
  const sigBytes = (sigValue.value as string).slice(1);
  let valid = false;
  try {
    valid = (caCert.publicKey as forge.pki.rsa.PublicKey).verify(md.digest().bytes(), sigBytes);
  } catch {
    valid = false;
  }
  if (!valid) throw new CrlError('its signature does not verify against the CA certificate (a CRL of another CA?)');
  return { revoked, thisUpdate };
}
