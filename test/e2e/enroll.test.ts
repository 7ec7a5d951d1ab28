import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { hostExec, labDown, labUp, type LabState } from '@wgmesh/cli/lab';
import { cliInfo, e2eWgmeshCommand, hostProcesses, labSkipReason, pingUntil, startCaHoldingMesh, wgDump } from '../helpers/lab.js';
import { tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgenr';
const MESH = 'enr';
const skip = await labSkipReason({ wireguard: true });

describe('enrollment tokens: a node with only a token joins with mTLS', { skip }, () => {
  let lab: LabState;
  let dir: string;
  let cleanup: () => Promise<void>;
  let processes: ReturnType<typeof hostProcesses>;
  const nodes = () => processes.started;
  /** Starts a wgmesh command in a lab host, in the background, its output in a log file. */
  const start = (host: string, args: string[]) => void processes.start(host, args);

  /** A wgmesh command in a host, run to its end. */
  async function wgmesh(host: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return hostExec(lab, host, ['wgmesh', ...args], { timeoutMs });
  }

  /** `wgmesh token create` on the bootstrap host, against its local API; the token it prints. */
  async function createToken(args: string[]): Promise<string> {
    const result = await wgmesh('h1', ['token', 'create', ...args]);
    assert.equal(result.code, 0, `token create: ${result.stderr}`);
    const token = result.stdout.trim();
    assert.match(token, /^wgm1\.[A-Za-z0-9_-]+$/);
    return token;
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    processes = hostProcesses(() => lab, dir);
    await labDown({ name: LAB });
    ({ lab } = await labUp({ name: LAB, hosts: 3, mesh: MESH, hostsOnly: true, wgmeshCommand: e2eWgmeshCommand() }));
    await startCaHoldingMesh(lab, processes, dir, MESH);
  });

  after(async () => {
    await processes?.stopAll();
    await labDown({ name: LAB });
    await cleanup?.();
  });

  let h3Token = '';

  test('h3 joins with `wgmesh join -token` alone: certificate and key in its state dir (0600), connected, pings every node', async () => {
    h3Token = await createToken(['-name', 'h3', '-ttl', '10m', '-tags', 'role=web']);
    start('h3', ['join', '-token', h3Token]);
    const info = await waitFor('h3 to be connected', async () => {
      const i = await cliInfo(lab, 'h3').catch(() => undefined);
      return i?.connected && i.peers.length === 2 ? i : undefined;
    }, 45_000, 250);
    assert.equal(info.nodeName, 'h3');
    assert.equal(info.tags.role, 'web', 'the token\'s tags');
    const modes = await hostExec(lab, 'h3', ['stat', '-c', '%n %a', `/var/lib/wgmesh/${MESH}/node.pem`, `/var/lib/wgmesh/${MESH}/node-key.pem`, `/var/lib/wgmesh/${MESH}/ca.pem`]);
    assert.equal(modes.code, 0, modes.stderr);
    for (const line of modes.stdout.trim().split('\n')) assert.match(line, / 600$/, line);
    const subject = await hostExec(lab, 'h3', ['openssl', 'x509', '-in', `/var/lib/wgmesh/${MESH}/node.pem`, '-noout', '-subject']);
    if (subject.code === 0) assert.match(subject.stdout, /CN ?= ?h3/);

    const ips: Record<string, string> = {};
    for (const h of ['h1', 'h2', 'h3']) ips[h] = (await cliInfo(lab, h)).meshIp;
    for (const to of ['h1', 'h2']) await pingUntil(lab, 'h3', ips[to]!, 15_000);
    for (const from of ['h1', 'h2']) await pingUntil(lab, from, ips.h3!, 15_000);
    for (const h of ['h1', 'h2']) assert.ok((await wgDump(lab, h)).peers.some((p) => p.publicKey === info.publicKey), `h3 is a WireGuard peer of ${h}`);
    const bootLog = await readFile(nodes()[0]!.log, 'utf8');
    assert.match(bootLog, /node enrolled/);
  });

  test('the same token again is refused: "already used"', async () => {
    const result = await wgmesh('h3', ['join', '-token', h3Token, '-state-dir', '/run/again-state', '-socket', '/run/again.sock']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /already used/);
  });

  test('an expired token is refused: "expired at …"', async () => {
    const token = await createToken(['-name', 'h4', '-ttl', '1s']);
    await new Promise((r) => setTimeout(r, 1500));
    const result = await wgmesh('h3', ['join', '-token', token, '-state-dir', '/run/late-state', '-socket', '/run/late.sock']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /expired at \d{4}-\d\d-\d\dT/);
  });

  test('`token list` shows the tokens, used and unused, without their secrets; `token revoke` revokes', async () => {
    const result = await wgmesh('h1', ['token', 'list', '-json']);
    assert.equal(result.code, 0, result.stderr);
    const tokens = JSON.parse(result.stdout) as { id: string; name: string; used: number; usedBy: string[] }[];
    const h3 = tokens.find((t) => t.name === 'h3');
    assert.equal(h3?.used, 1);
    assert.deepEqual(h3?.usedBy, ['h3']);
    assert.ok(!result.stdout.includes(h3Token.slice(5, 40)), 'no token text in the list');
    const fresh = await createToken([]);
    const listed = JSON.parse((await wgmesh('h1', ['token', 'list', '-json'])).stdout) as { id: string; used: number; name: string }[];
    const id = listed.find((t) => t.name === '' && t.used === 0)!.id;
    assert.equal((await wgmesh('h1', ['token', 'revoke', id])).code, 0);
    const refused = await wgmesh('h3', ['join', '-token', fresh, '-node-name', 'h5', '-state-dir', '/run/rev-state', '-socket', '/run/rev.sock']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /revoked/);
  });
});
