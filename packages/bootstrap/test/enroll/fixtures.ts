/** A throwaway mesh CA and CSRs for the enrollment tests (made with node-forge, as `wgmesh ca` does). */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { CertificateAuthority } from '../../src/enroll/csr.js';

function rsaKey(bits = 2048): { pem: string; forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { pem, forgeKey: forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey, publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()) };
}

export function makeCaPems(): { certPem: string; keyPem: string } {
  const key = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = '1a';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const subject = [{ name: 'commonName', value: 'test CA' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }, { name: 'subjectKeyIdentifier' }]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem };
}

export function makeCa(): CertificateAuthority {
  const { certPem, keyPem } = makeCaPems();
  return new CertificateAuthority(certPem, keyPem);
}

/** A CSR with CN = name; extensions asked for, the key size and a corrupted signature as a test needs. */
export function makeCsr(name: string, options: { extensions?: object[]; bits?: number; tamper?: boolean; subject?: forge.pki.CertificateField[] } = {}): string {
  const key = rsaKey(options.bits ?? 2048);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = key.publicKey;
  csr.setSubject(options.subject ?? [{ name: 'commonName', value: name }]);
  if (options.extensions) csr.setAttributes([{ name: 'extensionRequest', extensions: options.extensions }]);
  csr.sign(key.forgeKey, forge.md.sha256.create());
  const pem = forge.pki.certificationRequestToPem(csr);
  if (!options.tamper) return pem;
  // One bit of the signature (the DER's last bytes) flipped.
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 5]! ^= 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}
