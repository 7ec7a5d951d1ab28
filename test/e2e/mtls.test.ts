import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { hostCommand, labDown, labUp, labEnv, type LabState } from '@wgmesh/cli/lab';
import { hostExec } from '@wgmesh/cli/lab';
import { initCa, issueCertificate, revokeCertificate, caFiles } from '@wgmesh/cli';
import { cliInfo, e2eWgmeshCommand, hostProcesses, labSkipReason, pingUntil, testToolCommand, wgDump } from '../helpers/lab.js';
import { tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgtls';
const MESH = 'tls';
const skip = await labSkipReason({ wireguard: true });

describe('a 3-node mesh in full mTLS mode, certificates made by wgmesh ca', { skip }, () => {
  let lab: LabState;
  let dir: string;
  let cleanup: () => Promise<void>;
  let processes: ReturnType<typeof hostProcesses>;
  const nodes = () => processes.started;
  /** Starts a wgmesh command in a lab host, in the background, its output in a log file. */
  const start = (host: string, args: string[]) => void processes.start(host, args);

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    processes = hostProcesses(() => lab, dir);
    await labDown({ name: LAB });
    ({ lab } = await labUp({ name: LAB, hosts: 3, mesh: MESH, hostsOnly: true, wgmeshCommand: e2eWgmeshCommand() }));
    const ca = path.join(dir, 'ca');
    await initCa(ca, { mesh: MESH });
    await issueCertificate(ca, 'h1', { server: true, ips: ['192.0.2.1'] });
    await issueCertificate(ca, 'h2');
    await issueCertificate(ca, 'h3');
    const f = caFiles(ca);
    start('h1', ['bootstrap', '-n', MESH, '-cidr', '198.18.0.0/16', '-ip', '198.18.0.1', '-node-name', 'h1',
      '-grpc-ca-cert', f.cert, '-grpc-server-cert', f.issuedCert('h1'), '-grpc-server-key', f.issuedKey('h1'), '-grpc-crl', f.crl]);
    for (const h of ['h2', 'h3']) {
      start(h, ['join', '-n', MESH, '-bootstrap-addr', '192.0.2.1:5000', '-ca-cert', f.cert, '-client-cert', f.issuedCert(h), '-client-key', f.issuedKey(h)]);
    }
  });

  after(async () => {
    await processes?.stopAll();
    await labDown({ name: LAB });
    await cleanup?.();
  });

  test('every node has the other two as WireGuard peers', async () => {
    await waitFor('each node to configure both peers', async () => {
      for (const h of ['h1', 'h2', 'h3']) if ((await wgDump(lab, h).catch(() => undefined))?.peers.length !== 2) return false;
      return true;
    }, 30_000, 200);
    const bootLog = await readFile(nodes()[0]!.log, 'utf8');
    assert.match(bootLog, /TLS 1\.3, client certificates required/);
    assert.doesNotMatch(bootLog, /DEVELOPMENT MODE/);
  });

  test('every node pings every other over the mesh', async () => {
    // Each node's own mesh IP, from its local API (the nodes use the default socket in their host).
    const ips: Record<string, string> = {};
    for (const n of nodes()) {
      const ip = (await cliInfo(lab, n.host)).meshIp;
      assert.match(ip, /^198\.18\.\d+\.\d+$/, `${n.host}'s mesh IP is in the mesh's 198.18.0.0/16`);
      ips[n.host] = ip;
    }
    for (const from of ['h1', 'h2', 'h3']) {
      for (const to of ['h1', 'h2', 'h3']) {
        if (from === to) continue;
        assert.ok(ips[to], `${to}'s mesh IP is known`);
        await pingUntil(lab, from, ips[to]!, 15_000);
      }
    }
  });

  test('a node without a certificate from this CA is refused and told why', async () => {
    const other = path.join(dir, 'other-ca');
    await initCa(other, { mesh: 'evil' });
    await issueCertificate(other, 'h3');
    const f = caFiles(path.join(dir, 'ca'));
    const o = caFiles(other);
    const [cmd, ...rest] = hostCommand(lab, 'h3', ['wgmesh', 'join', '-n', MESH, '-bootstrap-addr', '192.0.2.1:5000', '-ca-cert', f.cert,
      '-client-cert', o.issuedCert('h3'), '-client-key', o.issuedKey('h3'), '-socket', '/run/other.sock', '-state-dir', '/run/other-state']);
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(cmd!, rest, { stdio: ['ignore', 'ignore', 'pipe'], env: labEnv() });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /client side: the client certificate "h3" is not signed by the CA in -ca-cert/);
  });

  // The nodes here are started by the test, not by the lab: their status comes through the CLI (cliInfo).

  /** A Mesh call from inside a host with that host's own certificate (test/tools/mesh-call.ts). */
  async function meshCallAs(host: string, method: string, request: Record<string, unknown>): Promise<{ code: string; details?: string }> {
    const f = caFiles(path.join(dir, 'ca'));
    const result = await hostExec(lab, host, [...testToolCommand('mesh-call.ts'), '192.0.2.1:5000', method, JSON.stringify(request), f.cert, f.issuedCert(host), f.issuedKey(host)], { timeoutMs: 30_000 });
    assert.equal(result.code, 0, `mesh-call in ${host}: ${result.stderr}`);
    return JSON.parse(result.stdout.trim().split('\n').pop()!) as { code: string; details?: string };
  }

  test("a forged Update and Leave for h2, with h3's own valid certificate, are refused: the certificate's CN is the identity", async () => {
    const h2Key = (await cliInfo(lab, 'h3'))?.peers.find((p) => p.node?.name === 'h2')?.node?.publicKey;
    assert.ok(h2Key, "h3 knows h2's public key");
    const asH2 = { meshName: MESH, nodeName: 'h2', publicKey: h2Key };
    for (const [method, request] of [['Update', { ...asH2, tags: { hijacked: 'yes' } }], ['Leave', asH2], ['Join', { ...asH2, listenPort: 51820 }]] as const) {
      const answer = await meshCallAs('h3', method, request);
      assert.equal(answer.code, 'PERMISSION_DENIED', `${method}: ${answer.details}`);
      assert.match(answer.details!, /does not match the client certificate's CN "h3"/);
    }
    for (const host of ['h1', 'h3']) assert.ok((await wgDump(lab, host)).peers.some((p) => p.publicKey === h2Key), `h2 is still a peer of ${host}`);
  });

  test('a revoked member leaves every wg show within 5 s of the CRL being written, and its own info says it is revoked', async (t) => {
    const h3Key = (await cliInfo(lab, 'h3'))?.publicKey;
    assert.ok(h3Key);
    for (const host of ['h1', 'h2']) assert.ok((await wgDump(lab, host)).peers.some((p) => p.publicKey === h3Key), `h3 is a peer of ${host} before`);

    await revokeCertificate(path.join(dir, 'ca'), 'h3');
    const revokedAt = Date.now();
    const goneAfter: Record<string, number> = {};
    await Promise.all(['h1', 'h2'].map((host) => waitFor(`h3 to leave ${host}'s wg show`, async () => {
      if ((await wgDump(lab, host)).peers.some((p) => p.publicKey === h3Key)) return false;
      goneAfter[host] = Date.now() - revokedAt;
      return true;
    }, 20_000, 50)));
    t.diagnostic(`h3 left wg show after: ${JSON.stringify(goneAfter)} ms`);
    for (const [host, ms] of Object.entries(goneAfter)) assert.ok(ms <= 5_000, `h3 left ${host}'s wg show ${ms} ms after the revocation`);

    const h3 = await waitFor("h3's info to say why it is out", async () => {
      const info = await cliInfo(lab, 'h3');
      return info && /revoked/.test(info.controlError) ? info : undefined;
    }, 15_000, 100);
    assert.equal(h3.connected, false);
    assert.match(h3.controlError, /certificate "h3".*revoked/);
  });
});
