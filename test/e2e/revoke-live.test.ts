import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { hostExec, labDown, labUp, type LabState } from '@wgmesh/cli/lab';
import { cliInfo, e2eWgmeshCommand, hostProcesses, labSkipReason, startCaHoldingMesh, wgDump } from '../helpers/lab.js';
import { tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgrev';
const MESH = 'rev';
const SOCKET = '/var/run/wgmesh.sock';
const skip = await labSkipReason({ wireguard: true });

describe('ca revoke against the bootstrap that holds the CA key: the member is out at once', { skip }, () => {
  let lab: LabState;
  let dir: string;
  let cleanup: () => Promise<void>;
  let processes: ReturnType<typeof hostProcesses>;
  /** Starts a wgmesh command in a lab host, in the background, its output in a log file. */
  const start = (host: string, args: string[]) => void processes.start(host, args);

  async function wgmesh(host: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return hostExec(lab, host, ['wgmesh', ...args], { timeoutMs });
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    processes = hostProcesses(() => lab, dir);
    await labDown({ name: LAB });
    ({ lab } = await labUp({ name: LAB, hosts: 4, mesh: MESH, hostsOnly: true, wgmeshCommand: e2eWgmeshCommand() }));
    // h2 with a certificate from the CA directory; h3 and h4 enroll with tokens (the bootstrap signs theirs).
    await startCaHoldingMesh(lab, processes, dir, MESH);
    for (const host of ['h3', 'h4']) {
      const made = await wgmesh('h1', ['token', 'create', '-name', host, '-ttl', '10m']);
      assert.equal(made.code, 0, `token create: ${made.stderr}`);
      start(host, ['join', '-token', made.stdout.trim()]);
    }
    await waitFor('every node to see three peers', async () => {
      for (const host of ['h1', 'h2', 'h3', 'h4']) {
        const info = await cliInfo(lab, host).catch(() => undefined);
        if (!info || info.peers.length !== 3 || (!info.isBootstrap && !info.connected)) return false;
      }
      return true;
    }, 60_000, 250);
  });

  after(async () => {
    await processes?.stopAll();
    await labDown({ name: LAB });
    await cleanup?.();
  });

  test('refusals say what to do: a name it knows no certificate of, and a node that is not a bootstrap', async () => {
    const unknown = await wgmesh('h1', ['ca', 'revoke', '-socket', SOCKET, 'nosuch']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no certificate of "nosuch" is known to this bootstrap.*ca revoke -dir DIR NAME/s);
    const notBootstrap = await wgmesh('h2', ['ca', 'revoke', '-socket', SOCKET, 'h3']);
    assert.notEqual(notBootstrap.code, 0);
    assert.match(notBootstrap.stderr, /this node is not a bootstrap/);
  });

  test('`ca revoke h3` on the bootstrap host: h3 (enrolled) leaves every other wg show within 5 s, and its own info says its certificate is revoked', async (t) => {
    const h3Key = (await cliInfo(lab, 'h3')).publicKey;
    for (const host of ['h1', 'h2', 'h4']) assert.ok((await wgDump(lab, host)).peers.some((p) => p.publicKey === h3Key), `h3 is a peer of ${host} before`);

    const revokedAt = Date.now();
    const goneAfter: Record<string, number> = {};
    const watching = Promise.all(['h1', 'h2', 'h4'].map((host) => waitFor(`h3 to leave ${host}'s wg show`, async () => {
      if ((await wgDump(lab, host)).peers.some((p) => p.publicKey === h3Key)) return false;
      goneAfter[host] = Date.now() - revokedAt;
      return true;
    }, 20_000, 50)));
    const result = await wgmesh('h1', ['ca', 'revoke', '-socket', SOCKET, 'h3']);
    const answeredAfter = Date.now() - revokedAt;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /revoked by the bootstrap: "h3" serial [0-9a-f]+/);
    assert.match(result.stdout, /removed from the mesh: h3/);
    await watching;
    t.diagnostic(`ca revoke answered after ${answeredAfter} ms; h3 left wg show after: ${JSON.stringify(goneAfter)} ms`);
    for (const [host, ms] of Object.entries(goneAfter)) assert.ok(ms <= 5_000, `h3 left ${host}'s wg show ${ms} ms after the revocation`);
    const serial = /serial ([0-9a-f]+)/.exec(result.stdout)![1]!;

    const h3 = await waitFor("h3's info to say its certificate is revoked", async () => {
      const info = await cliInfo(lab, 'h3').catch(() => undefined);
      return info?.certificateRefusal ? info : undefined;
    }, 20_000, 200);
    t.diagnostic(`h3 info: certificateRefusal=${JSON.stringify(h3.certificateRefusal)}`);
    assert.equal(h3.certificateRefusal!.state, 'revoked');
    assert.equal(h3.certificateRefusal!.serial, serial);
    assert.equal(h3.connected, false);
    const text = await wgmesh('h3', ['info']);
    assert.match(text.stdout, new RegExp(`certificate: revoked \\(serial ${serial}\\)`));
    const h3Log = await readFile(processes.started.find((n) => n.host === 'h3')!.log, 'utf8');
    assert.match(h3Log, /this node's certificate is revoked/);
    assert.equal((h3Log.match(/this node's certificate is revoked/g) ?? []).length, 1, 'said once (then once a minute)');

    // h4, h2 untouched; the list says what was revoked, and it is kept in the bootstrap's state dir.
    const keys = Object.fromEntries(await Promise.all(['h1', 'h2', 'h4'].map(async (h) => [h, (await cliInfo(lab, h)).publicKey] as const)));
    for (const [host, others] of [['h1', ['h2', 'h4']], ['h2', ['h1', 'h4']], ['h4', ['h1', 'h2']]] as const) {
      const peers = (await wgDump(lab, host)).peers.map((p) => p.publicKey);
      for (const other of others) assert.ok(peers.includes(keys[other]!), `${host} keeps ${other} as a peer (its peers: ${peers.length})`);
    }
    const listed = await wgmesh('h1', ['ca', 'list', '-socket', SOCKET, '-json']);
    assert.equal(listed.code, 0, listed.stderr);
    const certificates = JSON.parse(listed.stdout) as { name: string; serial: string; revokedMs: number; source: string }[];
    assert.deepEqual(certificates.map((c) => [c.name, c.serial, c.source]), [['h3', serial, 'enrolled']]);
    const kept = await hostExec(lab, 'h1', ['cat', `/var/lib/wgmesh/${MESH}/certificates.json`]);
    assert.match(kept.stdout, new RegExp(`"serial": "${serial}"`));
  });

  test('a member with a CA-directory certificate is revoked by name too (its member\'s serial), and -serial picks one certificate', async () => {
    const wrong = await wgmesh('h1', ['ca', 'revoke', '-socket', SOCKET, '-serial', 'abcdef', 'h2']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /"h2" has no certificate with serial abcdef/);
    const h2Key = (await cliInfo(lab, 'h2')).publicKey;
    const result = await wgmesh('h1', ['ca', 'revoke', '-socket', SOCKET, 'h2']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /"h2" serial [0-9a-f]+ \(the member's certificate\)/);
    assert.match(result.stdout, /removed from the mesh: h2/);
    for (const host of ['h1', 'h4']) await waitFor(`h2 to leave ${host}'s wg show`, async () => !(await wgDump(lab, host)).peers.some((p) => p.publicKey === h2Key), 5_000, 50);
  });
});
