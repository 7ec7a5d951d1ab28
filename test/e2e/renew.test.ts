import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { hostCommand, hostExec, labDown, labUp, labEnv, type LabState } from '@wgmesh/cli/lab';
import { initCa, issueCertificate, caFiles } from '@wgmesh/cli';
import { cliInfo, e2eWgmeshCommand, labSkipReason, pingUntil, startPing } from '../helpers/lab.js';
import { tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgren';
const MESH = 'ren';
/** How long the ping runs across the renewals. */
const PING_MS = 180_000;
const skip = await labSkipReason({ wireguard: true });

interface Seen {
  serial: string;
  notAfterMs: number;
  /** When the test first saw this certificate in the node's file. */
  seenAtMs: number;
}

describe('certificate renewal: a node whose certificate lives 60 s renews it over mTLS, losing no ping', { skip }, () => {
  let lab: LabState;
  let dir: string;
  let cleanup: () => Promise<void>;
  let certFile = '';
  const nodes: { host: string; child: ChildProcess; log: string }[] = [];

  /** Starts a wgmesh command in a lab host, in the background, its output in a log file. */
  function start(host: string, args: string[]): void {
    const log = path.join(dir, `${host}.log`);
    const fd = openSync(log, 'a');
    const [cmd, ...rest] = hostCommand(lab, host, ['wgmesh', ...args]);
    const child = spawn(cmd!, rest, { stdio: ['ignore', fd, fd], env: labEnv(process.env, { WGMESH_LOG_LEVEL: 'info' }) });
    closeSync(fd);
    nodes.push({ host, child, log });
  }

  async function currentCert(): Promise<{ serial: string; notAfterMs: number }> {
    const cert = new X509Certificate(await readFile(certFile));
    return { serial: cert.serialNumber.toLowerCase(), notAfterMs: Date.parse(cert.validTo) };
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await labDown({ name: LAB });
    ({ lab } = await labUp({ name: LAB, hosts: 3, mesh: MESH, hostsOnly: true, wgmeshCommand: e2eWgmeshCommand() }));
    const ca = path.join(dir, 'ca');
    await initCa(ca, { mesh: MESH });
    await issueCertificate(ca, 'h1', { server: true, ips: ['192.0.2.1'] });
    // The built CLI's -lifetime: h2's certificate lives 60 s.
    const issued = await hostExec(lab, 'h1', ['wgmesh', 'ca', 'issue', '-dir', ca, '-lifetime', '60s', 'h2'], { timeoutMs: 30_000 });
    assert.equal(issued.code, 0, issued.stderr);
    const f = caFiles(ca);
    certFile = f.issuedCert('h2');
    start('h1', ['bootstrap', '-n', MESH, '-cidr', '198.18.0.0/16', '-ip', '198.18.0.1', '-node-name', 'h1',
      '-grpc-ca-cert', f.cert, '-grpc-server-cert', f.issuedCert('h1'), '-grpc-server-key', f.issuedKey('h1'), '-ca-key', f.key, '-cert-lifetime', '60s']);
    start('h2', ['join', '-n', MESH, '-bootstrap-addr', '192.0.2.1:5000', '-ca-cert', f.cert, '-client-cert', certFile, '-client-key', f.issuedKey('h2')]);
    await waitFor('h2 to be connected', async () => (await cliInfo(lab, 'h2').catch(() => undefined))?.connected, 30_000, 200);
    // h3 enrolls with a token: its certificate, signed by the bootstrap, lives 60 s too (-cert-lifetime).
    const token = await hostExec(lab, 'h1', ['wgmesh', 'token', 'create', '-name', 'h3'], { timeoutMs: 30_000 });
    assert.equal(token.code, 0, token.stderr);
    start('h3', ['join', '-token', token.stdout.trim()]);
    await waitFor('h3 to be connected', async () => (await cliInfo(lab, 'h3').catch(() => undefined))?.connected, 45_000, 250);
  });

  /** h3's enrolled certificate, in its state dir (inside its host). */
  async function enrolledCert(): Promise<{ serial: string; notAfterMs: number } | undefined> {
    const out = await hostExec(lab, 'h3', ['cat', `/var/lib/wgmesh/${MESH}/node.pem`], { timeoutMs: 5000 });
    if (out.code !== 0) return undefined;
    const cert = new X509Certificate(out.stdout);
    return { serial: cert.serialNumber.toLowerCase(), notAfterMs: Date.parse(cert.validTo) };
  }

  after(async () => {
    for (const n of nodes) if (n.child.exitCode === null) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => (n.child.exitCode === null ? new Promise((r) => n.child.once('exit', r)) : undefined)));
    await labDown({ name: LAB });
    await cleanup?.();
  });

  test('3 minutes of pings h2 -> h1 and h3 -> h2 across the renewals: none lost; each certificate replaced before it expired', async () => {
    const first = await currentCert();
    assert.ok(first.notAfterMs - Date.now() <= 60_000, 'h2 starts with a certificate of at most 60 s');
    const firstEnrolled = (await enrolledCert())!;
    assert.ok(firstEnrolled.notAfterMs - Date.now() <= 60_000, 'h3 was enrolled with a certificate of at most 60 s');
    const h1Ip = (await cliInfo(lab, 'h1')).meshIp;
    const h2Ip = (await cliInfo(lab, 'h2')).meshIp;
    await pingUntil(lab, 'h2', h1Ip, 15_000);
    await pingUntil(lab, 'h3', h2Ip, 15_000);

    const seen: Seen[] = [{ ...first, seenAtMs: Date.now() }];
    const seenEnrolled: Seen[] = [{ ...firstEnrolled, seenAtMs: Date.now() }];
    const pings = [startPing(lab, 'h2', h1Ip, 0.2), startPing(lab, 'h3', h2Ip, 0.2)];
    const end = Date.now() + PING_MS;
    for (let round = 0; Date.now() < end; round++) {
      await new Promise((r) => setTimeout(r, 500));
      const now = await currentCert().catch(() => undefined);
      if (now && now.serial !== seen.at(-1)!.serial) seen.push({ ...now, seenAtMs: Date.now() });
      if (round % 4 !== 0) continue;
      const enrolled = await enrolledCert().catch(() => undefined);
      if (enrolled && enrolled.serial !== seenEnrolled.at(-1)!.serial) seenEnrolled.push({ ...enrolled, seenAtMs: Date.now() });
    }
    const results = [];
    for (const ping of pings) {
      const upTo = ping.lastSeq - 1; // the last probe may still be on its way
      await ping.stop();
      results.push({ from: ping.from, upTo, lost: ping.missing(upTo) });
    }
    const summary = (list: Seen[]) => list.slice(1).map((s, i) => ({ serial: s.serial.slice(0, 8), replacedBeforeExpiryS: (list[i]!.notAfterMs - s.seenAtMs) / 1000, validS: (s.notAfterMs - s.seenAtMs) / 1000 }));
    for (const r of results) process.stdout.write(`# renew: ${r.from}: ${r.upTo} pings over ${PING_MS / 1000} s, ${r.lost.length} lost\n`);
    process.stdout.write(`# renew: h2 (ca issue -lifetime 60s) ${seen.length - 1} renewals: ${JSON.stringify(summary(seen))}\n`);
    process.stdout.write(`# renew: h3 (enrolled) ${seenEnrolled.length - 1} renewals seen (polled every 2 s): ${JSON.stringify(summary(seenEnrolled))}\n`);

    for (const r of results) {
      assert.ok(r.upTo >= (PING_MS / 200) * 0.9, `${r.from}: ping ran the whole time (${r.upTo} probes)`);
      assert.deepEqual(r.lost, [], `${r.from}: no ping lost`);
    }
    for (const [who, list] of [['h2', seen], ['h3', seenEnrolled]] as const) {
      assert.ok(list.length >= 3, `${who}: at least two renewals in 3 minutes (seen ${list.length - 1})`);
      for (let i = 1; i < list.length; i++) {
        assert.ok(list[i]!.notAfterMs > list[i - 1]!.notAfterMs, `${who}: each renewed certificate expires later`);
        assert.ok(list[i]!.seenAtMs < list[i - 1]!.notAfterMs, `${who}: certificate ${i} replaced before the previous one expired`);
      }
    }
  });

  test('h2 is connected with no control error and shows its certificate; the bootstrap logged the renewals', async () => {
    const info = await waitFor('h2 connected', async () => {
      const i = await cliInfo(lab, 'h2').catch(() => undefined);
      return i?.connected ? i : undefined;
    }, 15_000, 200);
    assert.equal(info.controlError, '');
    assert.equal(info.certRenewError, '');
    assert.ok(info.certRenewals >= 2, `renewals: ${info.certRenewals}`);
    assert.equal(info.certSerial, (await currentCert()).serial, 'info shows the certificate in the file');
    assert.ok(Number(info.certNotAfterMs) > Date.now());
    assert.ok(Number(info.caNotAfterMs) > Date.now() + 3000 * 86_400_000, 'the CA (10 years) is far from expiry');
    assert.equal(info.certDaysLeft, 0);
    const human = await hostExec(lab, 'h2', ['wgmesh', 'info'], { timeoutMs: 10_000 });
    assert.match(human.stdout, /certificate serial [0-9a-f]+…: \d+ s left, (renews in \d+ s|renewing now)/);

    const bootLog = await readFile(nodes[0]!.log, 'utf8');
    assert.ok((bootLog.match(/certificate renewed/g) ?? []).length >= 2, 'the bootstrap logged the renewals');
    assert.doesNotMatch(bootLog, /renewal refused/);
    for (const node of nodes.slice(1)) {
      const nodeLog = await readFile(node.log, 'utf8');
      assert.match(nodeLog, /certificate renewed/, node.host);
      assert.doesNotMatch(nodeLog, /certificate renewal failed|warn.*membership stream ended/, node.host);
    }
    const h3 = await cliInfo(lab, 'h3');
    assert.ok(h3.connected && h3.controlError === '' && h3.certRenewals >= 2, `h3 (enrolled): connected, ${h3.certRenewals} renewals`);
  });

  test('the bootstrap serves a new server certificate once its files change, with no restart', async () => {
    const before = new X509Certificate(await readFile(caFiles(path.join(dir, 'ca')).issuedCert('h1'))).serialNumber.toLowerCase();
    await issueCertificate(path.join(dir, 'ca'), 'h1', { server: true, ips: ['192.0.2.1'], force: true });
    await waitFor('the bootstrap to reload its certificate', async () => /server certificate reloaded/.test(await readFile(nodes[0]!.log, 'utf8')), 10_000, 200);
    const shown = await hostExec(lab, 'h2', ['sh', '-c', 'openssl s_client -connect 192.0.2.1:5000 </dev/null 2>/dev/null | openssl x509 -noout -serial'], { timeoutMs: 10_000 });
    assert.equal(shown.code, 0, `openssl s_client: ${shown.stderr}`);
    const serial = shown.stdout.trim().replace(/^serial=/, '').toLowerCase();
    process.stdout.write(`# renew: a new connection to the bootstrap sees serial ${serial} (before: ${before})\n`);
    assert.match(serial, /^[0-9a-f]+$/);
    assert.notEqual(serial.replace(/^0+/, ''), before.replace(/^0+/, ''), 'a new connection sees the new certificate');
    // The node's next calls (new connections after its next renewal) still succeed.
    await new Promise((r) => setTimeout(r, 45_000));
    const info = await cliInfo(lab, 'h2');
    assert.equal(info.controlError, '');
    assert.equal(info.certRenewError, '');
  });
});
