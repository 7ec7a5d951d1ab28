import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { caFiles, initCa, issueCertificate, listCertificates, revokeCertificate } from '../../src/ca/ca.js';
import { CaError } from '../../src/errors.js';
import { clientTlsFromPems, parseLifetime } from '../../src/commands/tls.js';

/** openssl is the independent judge of what wgmesh ca writes. */
function openssl(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => execFile('openssl', args, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr })));
}

describe('wgmesh ca', () => {
  let dir: string;
  let files: ReturnType<typeof caFiles>;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-ca-'));
    files = caFiles(dir);
    await initCa(dir, { mesh: 'prod', days: 30 });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('init makes a CA certificate and a 0600 key, and refuses to overwrite them', async () => {
    assert.equal((await stat(files.key)).mode & 0o777, 0o600);
    const ca = new X509Certificate(await readFile(files.cert));
    assert.match(ca.subject, /CN=wgmesh CA prod/);
    assert.equal(ca.ca, true);
    await assert.rejects(initCa(dir), (err: Error) => err instanceof CaError && /already holds a CA/.test(err.message));
  });

  test('a node certificate: CN = name, client auth, verified by openssl against the CA', async () => {
    const issued = await issueCertificate(dir, 'node1');
    assert.equal((await stat(issued.key)).mode & 0o777, 0o600);
    const cert = new X509Certificate(await readFile(issued.cert));
    assert.match(cert.subject, /CN=node1/);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(new X509Certificate(await readFile(files.cert))));
    const v = await openssl('verify', '-CAfile', files.cert, '-purpose', 'sslclient', issued.cert);
    assert.equal(v.code, 0, v.out);
  });

  test('-lifetime: a short-lived certificate (60 s), its validity starting 6 s back (a tenth) rather than a minute', async () => {
    const before = Date.now();
    const issued = await issueCertificate(dir, 'short1', { lifetimeMs: 60_000 });
    const cert = new X509Certificate(await readFile(issued.cert));
    const lifetime = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    assert.ok(Math.abs(lifetime - 66_000) <= 1000, `66 s from notBefore to notAfter (${lifetime})`);
    assert.ok(Math.abs(Date.parse(cert.validTo) - (before + 60_000)) <= 2000);
  });

  test('a node certificate with another key than its own (a renewal interrupted between its two writes) is refused before dialing', async () => {
    const a = await issueCertificate(dir, 'pair-a');
    const b = await issueCertificate(dir, 'pair-b');
    const [ca, cert, key, ownKey] = await Promise.all([readFile(files.cert), readFile(a.cert), readFile(b.key), readFile(a.key)]);
    assert.throws(() => clientTlsFromPems({ ca, cert, key }, '192.0.2.1', 'pair-a'), /the private key is not the key of the certificate "pair-a"/);
    assert.equal(clientTlsFromPems({ ca, cert, key: ownKey }, '192.0.2.1', 'pair-a').certName, 'pair-a');
  });

  test('parseLifetime: s, m, h, d; nonsense and less than 10 s refused', () => {
    assert.equal(parseLifetime('60s', '-lifetime'), 60_000);
    assert.equal(parseLifetime('12h', '-lifetime'), 12 * 3_600_000);
    assert.equal(parseLifetime('365d', '-cert-lifetime'), 365 * 86_400_000);
    for (const bad of ['5s', '60', 'd', '-1d', '1y']) assert.throws(() => parseLifetime(bad, '-lifetime'), /-lifetime .*between 10s and 100 years/);
  });

  test('a server certificate carries the IP and DNS names nodes dial', async () => {
    const issued = await issueCertificate(dir, 'bootstrap', { server: true, ips: ['203.0.113.10'], dns: ['mesh.example'] });
    const cert = new X509Certificate(await readFile(issued.cert));
    assert.equal(cert.checkIP('203.0.113.10'), '203.0.113.10');
    assert.equal(cert.checkHost('mesh.example'), 'mesh.example');
    const v = await openssl('verify', '-CAfile', files.cert, '-purpose', 'sslserver', issued.cert);
    assert.equal(v.code, 0, v.out);
  });

  test('revoke writes a CRL that openssl accepts and that marks the certificate revoked', async () => {
    const victim = await issueCertificate(dir, 'node2');
    const before = await openssl('verify', '-crl_check', '-CAfile', files.cert, '-CRLfile', files.crl, victim.cert);
    assert.equal(before.code, 0, before.out);
    await revokeCertificate(dir, 'node2');
    const crl = await openssl('crl', '-in', files.crl, '-CAfile', files.cert, '-noout', '-text');
    assert.match(crl.out, /verify OK/);
    assert.match(crl.out, new RegExp(victim.record.serial.toUpperCase().replace(/^0+/, '')));
    const after = await openssl('verify', '-crl_check', '-CAfile', files.cert, '-CRLfile', files.crl, victim.cert);
    assert.notEqual(after.code, 0);
    assert.match(after.out, /certificate revoked/);
    const list = await listCertificates(dir);
    assert.ok(list.find((r) => r.name === 'node2')?.revokedAt);
    assert.ok(!list.find((r) => r.name === 'node1')?.revokedAt);
  });

  test('issuing twice for a live name is refused; bad names and IPs are refused', async () => {
    await assert.rejects(issueCertificate(dir, 'node1'), /a certificate for "node1" exists.*revoke it first/);
    await assert.rejects(issueCertificate(dir, 'bad_name'), /not a valid node name/);
    await assert.rejects(issueCertificate(dir, 'srv', { server: true, ips: ['not-an-ip'] }), /-ip not-an-ip is not an IP address/);
    await assert.rejects(revokeCertificate(dir, 'nobody'), /no live certificate for "nobody"/);
  });
});
