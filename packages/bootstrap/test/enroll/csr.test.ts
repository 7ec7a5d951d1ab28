import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { checkCsr, CertificateAuthority } from '../../src/enroll/csr.js';
import { ConfigError, CsrRejected } from '../../src/errors.js';
import { makeCa, makeCaPems, makeCsr } from './fixtures.js';

const refused = (message: RegExp) => (err: unknown) => err instanceof CsrRejected && message.test(err.message) && /nothing was signed/.test(err.message);

describe('CSR checks', () => {
  test('a plain CSR passes, with its CN as the name (lower-cased)', () => {
    assert.equal(checkCsr(makeCsr('Web1'), undefined).name, 'web1');
    assert.equal(checkCsr(makeCsr('web1'), 'web1').name, 'web1');
  });

  test('a CSR that asks only for what a node certificate has passes', () => {
    const ok = [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true }, { name: 'extKeyUsage', clientAuth: true }];
    assert.equal(checkCsr(makeCsr('web1', { extensions: ok }), undefined).name, 'web1');
  });

  const cases: [string, () => string, string | undefined, RegExp][] = [
    ['empty', () => '', undefined, /no CSR was sent/],
    ['not PEM', () => 'hello', undefined, /not a PEM certificate request/],
    ['malformed', () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', undefined, /cannot be parsed/],
    ['oversized', () => '-----BEGIN CERTIFICATE REQUEST-----\n' + 'A'.repeat(9000), undefined, /more than 8192/],
    ['a bad signature', () => makeCsr('web1', { tamper: true }), undefined, /signature does not verify/],
    ['a 1024-bit key', () => makeCsr('web1', { bits: 1024 }), undefined, /1024 bits, fewer than 2048/],
    ['no CN', () => makeCsr('', { subject: [{ name: 'organizationName', value: 'x' }] }), undefined, /no CN/],
    ['a CN that is no node name', () => makeCsr('web 1'), undefined, /not a node name/],
    ['another name than the token allows', () => makeCsr('db1'), 'web1', /CN "db1" is not the name the token was made for \("web1"\)/],
    ['CA:TRUE', () => makeCsr('web1', { extensions: [{ name: 'basicConstraints', cA: true }] }), undefined, /CA:TRUE/],
    ['key usage keyCertSign', () => makeCsr('web1', { extensions: [{ name: 'keyUsage', digitalSignature: true, keyCertSign: true }] }), undefined, /key usage keyCertSign/],
    ['extended key usage serverAuth', () => makeCsr('web1', { extensions: [{ name: 'extKeyUsage', clientAuth: true, serverAuth: true }] }), undefined, /extended key usage serverAuth/],
    ['alternative names', () => makeCsr('web1', { extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'bootstrap' }] }] }), undefined, /extension subjectAltName/],
  ];
  for (const [what, csr, allowed, message] of cases) {
    test(`refused: ${what}`, () => {
      assert.throws(() => checkCsr(csr(), allowed), refused(message));
    });
  }
});

describe('the CA that signs', () => {
  test('signs a node certificate: CN = the name, CA:FALSE, clientAuth, chained to the CA', () => {
    const ca = makeCa();
    const pem = ca.sign(checkCsr(makeCsr('web1'), undefined), { mesh: 'lab', nowMs: Date.now(), lifetimeMs: 30 * 86_400_000 });
    const cert = new X509Certificate(pem);
    const caCert = new X509Certificate(ca.certPem);
    assert.match(cert.subject, /CN=web1/);
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey));
    assert.equal(ca.fingerprint, caCert.fingerprint256.replace(/:/g, '').toLowerCase());
  });

  test('refuses a key that is not the CA certificate\'s, and a bundle of several CAs', () => {
    const a = makeCaPems();
    const b = makeCaPems();
    assert.throws(() => new CertificateAuthority(a.certPem, b.keyPem), (err: unknown) => err instanceof ConfigError && /not the key of the CA/.test(err.message));
    assert.throws(() => new CertificateAuthority(a.certPem + b.certPem, a.keyPem), (err: unknown) => err instanceof ConfigError && /exactly the one CA/.test(err.message));
  });
});
