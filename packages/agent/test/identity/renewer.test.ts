import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CertificateRenewer, DAY_MS, renewalTime, daysLeft } from '../../src/identity/renewer.js';
import type { RenewRequest, RenewResponse__Output } from '../../src/proto/index.js';
import { SimTimers } from '../sim-timers.js';
import { recordingLogger } from '../fixtures.js';

/**
 * Certificates made with the openssl tool (the agent has no X.509 builder of its own); time is the
 * simulated clock, so a certificate of a few days is "renewed" in a few milliseconds.
 */
let dir: string;
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Signs a CSR with the test CA, valid for `days` from now (real time). */
function sign(csrPem: string, days: number): string {
  const csr = path.join(dir, `req-${randomBytes(4).toString('hex')}.csr`);
  execFileSync('sh', ['-c', `cat > ${csr}`], { input: csrPem });
  return openssl('x509', '-req', '-in', csr, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', '0x' + randomBytes(8).toString('hex'), '-days', String(days));
}

function makeCsr(name: string): { keyPem: string; csrPem: string } {
  const keyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const keyFile = path.join(dir, `k-${randomBytes(4).toString('hex')}.pem`);
  execFileSync('sh', ['-c', `umask 077; cat > ${keyFile}`], { input: keyPem });
  return { keyPem, csrPem: openssl('req', '-new', '-key', keyFile, '-subj', `/CN=${name}`) };
}

/** A node identity in fresh files: a certificate of `days` for h2, its key and the CA. */
async function identity(days = 3): Promise<{ cert: string; key: string; ca: string }> {
  const sub = await mkdtemp(path.join(dir, 'node-'));
  const { keyPem, csrPem } = makeCsr('h2');
  const files = { cert: path.join(sub, 'node.pem'), key: path.join(sub, 'node-key.pem'), ca: path.join(sub, 'ca.pem') };
  await writeFile(files.key, keyPem, { mode: 0o600 });
  await writeFile(files.cert, sign(csrPem, days));
  await writeFile(files.ca, await readFile(path.join(dir, 'ca.pem')));
  return files;
}

function setup(files: { cert: string; key: string; ca: string }, renew: (req: RenewRequest) => Promise<RenewResponse__Output>) {
  const timers = new SimTimers();
  const base = Date.now();
  const clock = { now: () => base + timers.nowMs };
  const logger = recordingLogger();
  const renewed: { cert: Buffer; key: Buffer }[] = [];
  const calls: RenewRequest[] = [];
  const renewer = new CertificateRenewer(
    { renew: (req) => (calls.push(req), renew(req)), makeCsr, onRenewed: (p) => renewed.push(p), timers, clock, logger, random: () => 1 },
    { nodeName: 'h2', files },
  );
  /** Advances simulated time and lets a renewal it started finish. */
  const advance = async (ms: number) => {
    timers.advance(ms);
    await renewer.settled();
  };
  return { timers, clock, logger, renewed, calls, renewer, advance };
}

const caAnswer = () => readFile(path.join(dir, 'ca.pem'), 'utf8');

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-renew-'));
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=test CA');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('renewal timing', () => {
  test('two thirds of the lifetime, from notBefore', () => {
    assert.equal(renewalTime(1000, 91_000), 61_000);
    assert.equal(renewalTime(0, 3 * DAY_MS), 2 * DAY_MS);
    assert.equal(daysLeft(10 * DAY_MS - 1, 0), 9);
  });
});

describe('CertificateRenewer', () => {
  test('renews at two thirds of the lifetime, not before: a new key, the files replaced (0600), the new credentials handed on', async () => {
    const files = await identity(3);
    const oldKey = await readFile(files.key, 'utf8');
    const oldSerial = new X509Certificate(await readFile(files.cert)).serialNumber;
    const s = setup(files, async (req) => ({ certPem: sign(req.csrPem!, 6), caPem: await caAnswer() }));
    await s.renewer.start();
    const renewAt = s.renewer.status().renewAtMs;
    assert.ok(Math.abs(renewAt - (s.clock.now() + 2 * DAY_MS)) < 5000, 'two of three days from now');

    await s.advance(renewAt - s.clock.now() - 60_000);
    assert.equal(s.calls.length, 0, 'a minute before: nothing yet');
    await s.advance(61_000);
    assert.equal(s.calls.length, 1);
    assert.equal(s.calls[0]!.nodeName, 'h2');
    assert.match(s.calls[0]!.csrPem!, /BEGIN CERTIFICATE REQUEST/);

    const cert = new X509Certificate(await readFile(files.cert));
    const key = await readFile(files.key, 'utf8');
    assert.notEqual(cert.serialNumber, oldSerial, 'a new certificate in the same file');
    assert.notEqual(key, oldKey, 'a new key: a renewal never reuses the old one');
    assert.ok(cert.checkPrivateKey(createPrivateKey(key)));
    assert.equal((await stat(files.cert)).mode & 0o777, 0o600);
    assert.equal((await stat(files.key)).mode & 0o777, 0o600);
    assert.equal(s.renewed.length, 1);
    assert.equal(s.renewed[0]!.key.toString(), key);
    const status = s.renewer.status();
    assert.equal(status.renewals, 1);
    assert.equal(status.certSerial, cert.serialNumber.toLowerCase());
    assert.equal(status.renewAtMs, renewalTime(Date.parse(cert.validFrom), Date.parse(cert.validTo)), 'the next renewal follows the new certificate');
    assert.ok(s.logger.lines.some((l) => l.message === 'certificate renewed'));
    s.renewer.stop();
    assert.equal(s.timers.pending, 0, 'stop leaves no timer');
  });

  test('a failed renewal is retried with backoff and logged each time; a success clears the error', async () => {
    const files = await identity(3);
    let failures = 2;
    const s = setup(files, async (req) => {
      if (failures-- > 0) throw new Error('14 UNAVAILABLE: bootstrap away');
      return { certPem: sign(req.csrPem!, 6), caPem: await caAnswer() };
    });
    await s.renewer.start();
    await s.advance(s.renewer.status().renewAtMs - s.clock.now());
    assert.equal(s.calls.length, 1);
    assert.match(s.renewer.status().renewError, /bootstrap away/);
    await s.advance(999);
    assert.equal(s.calls.length, 1, 'not again within the first backoff (1 s)');
    await s.advance(1);
    assert.equal(s.calls.length, 2, 'again after 1 s');
    await s.advance(1999);
    assert.equal(s.calls.length, 2, 'the next wait doubles');
    await s.advance(1);
    assert.equal(s.calls.length, 3);
    assert.equal(s.renewer.status().renewError, '');
    assert.equal(s.renewer.status().renewals, 1);
    assert.equal(s.logger.lines.filter((l) => /renewal failed; retrying in/.test(l.message)).length, 2);
    s.renewer.stop();
  });

  test('an answer that is not for the new key is refused: the files stay as they were', async () => {
    const files = await identity(3);
    const before = await readFile(files.cert, 'utf8');
    const s = setup(files, async () => ({ certPem: sign(makeCsr('h2').csrPem, 6), caPem: await caAnswer() }));
    await s.renewer.start();
    await s.advance(s.renewer.status().renewAtMs - s.clock.now());
    assert.match(s.renewer.status().renewError, /not for the key this node just made/);
    assert.equal(await readFile(files.cert, 'utf8'), before);
    assert.equal(s.renewed.length, 0);
    s.renewer.stop();
  });

  test('a certificate for another name is refused', async () => {
    const files = await identity(3);
    const s = setup(files, async () => {
      const other = makeCsr('h9');
      return { certPem: sign(other.csrPem, 6), caPem: await caAnswer() };
    });
    await s.renewer.start();
    await s.advance(s.renewer.status().renewAtMs - s.clock.now());
    assert.ok(s.renewer.status().renewError !== '');
    s.renewer.stop();
  });

  test('fewer than 30 days left: a warning at start, then once a day (not on every wake-up)', async () => {
    const files = await identity(3);
    const s = setup(files, () => new Promise(() => {})); // never answers: no renewal gets in the way
    await s.renewer.start();
    const warnings = () => s.logger.lines.filter((l) => l.level === 'warn' && /this node's certificate expires in/.test(l.message));
    assert.equal(warnings().length, 1);
    assert.match(warnings()[0]!.message, /expires in 2 days/);
    await s.advance(DAY_MS / 2);
    assert.equal(warnings().length, 1);
    await s.advance(DAY_MS / 2);
    assert.equal(warnings().length, 2);
    assert.equal(s.logger.lines.filter((l) => /mesh CA certificate expires/.test(l.message)).length, 0, 'the CA has ten years');
    s.renewer.stop();
  });

  test('a long-lived certificate: no warning, and the wait is cut into days (timers overflow past 24.8 days)', async () => {
    const files = await identity(365);
    const s = setup(files, async (req) => ({ certPem: sign(req.csrPem!, 730), caPem: await caAnswer() }));
    await s.renewer.start();
    assert.equal(s.logger.lines.filter((l) => l.level === 'warn').length, 0);
    assert.equal(s.timers.pending, 1);
    await s.advance(DAY_MS);
    assert.equal(s.timers.pending, 1, 'woke after a day and slept again');
    assert.equal(s.calls.length, 0);
    s.renewer.stop();
  });
});
