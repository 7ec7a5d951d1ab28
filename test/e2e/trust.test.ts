/**
 * Trust in dev mode, with real processes: a node's name and public key are public (every member
 * receives them), so a call that carries only those must not remove or redirect the node. And a
 * node the bootstrap removed notices and re-joins within 10 s; `-socket` never deletes a file
 * that is not a stale socket.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostExec, labDown, labHost, labUp, type LabState } from '@wgmesh/cli/lab';
import { agentInfo, e2eWgmeshCommand, labSkipReason, peerStatus, pingUntil, testToolCommand, wgDump } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const skip = await labSkipReason({ wireguard: true });
const LAB = 'wgtrust';
const MESH = 'trust';
const BOOTSTRAP = '192.0.2.1:5000';
const REJOIN_BUDGET_MS = 10_000;

/** A Mesh call made with test/tools/mesh-call.ts from inside a lab host, as any client there could. */
async function meshCall(lab: LabState, host: string, method: string, request: Record<string, unknown>): Promise<{ code: string; details?: string }> {
  const result = await hostExec(lab, host, [...testToolCommand('mesh-call.ts'), BOOTSTRAP, method, JSON.stringify(request)], { timeoutMs: 30_000 });
  assert.equal(result.code, 0, `mesh-call in ${host}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as { code: string; details?: string };
}

describe('dev mode: calls are bound to the node that joined', { skip: skip ?? false }, () => {
  let lab: LabState;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({
      name: LAB, hosts: 3, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000,
      // Fast failure detection and reaping, so the removal test below takes seconds.
      bootstrapArgs: ['-suspect-after', '2s', '-failed-after', '3s', '-reap-after', '3s'],
      joinArgs: ['-heartbeat', '1s'],
    })).lab;
  });

  after(async () => {
    // A stopped node would not exit on SIGTERM: wake it first (it is ours, by PID).
    for (const h of lab?.hosts ?? []) {
      if (h.process?.pid) try { process.kill(h.process.pid, 'SIGCONT'); } catch { /* already gone */ }
    }
    await labDown({ name: LAB });
  });

  test("a forged Leave and Update for h2 (its name and public key, as h3 knows them) are refused; h2 stays everyone's peer", async () => {
    const h3 = await agentInfo(lab, 'h3');
    const h2Key = h3?.peers.find((p) => p.node?.name === 'h2')?.node?.publicKey;
    assert.ok(h2Key, "h3 knows h2's public key, as every member does");
    const asH2 = { meshName: MESH, nodeName: 'h2', publicKey: h2Key };

    const update = await meshCall(lab, 'h3', 'Update', { ...asH2, tags: { hijacked: 'yes' }, endpoints: [{ ip: '192.0.2.66', port: 51820, kind: 'ENDPOINT_KIND_LAN' }] });
    assert.equal(update.code, 'PERMISSION_DENIED', update.details);
    assert.match(update.details!, /node_secret is missing/);
    const leave = await meshCall(lab, 'h3', 'Leave', asH2);
    assert.equal(leave.code, 'PERMISSION_DENIED', leave.details);
    const guessed = await meshCall(lab, 'h3', 'Leave', { ...asH2, nodeSecret: 'A'.repeat(43) });
    assert.equal(guessed.code, 'PERMISSION_DENIED', guessed.details);
    assert.match(guessed.details!, /node_secret does not match/);
    // Nor may it join in h2's place, or as a new node with h2's key.
    const takeover = await meshCall(lab, 'h3', 'Join', { ...asH2, listenPort: 51820 });
    assert.equal(takeover.code, 'ALREADY_EXISTS', takeover.details);
    const sharedKey = await meshCall(lab, 'h3', 'Join', { ...asH2, nodeName: 'mallory', listenPort: 51820 });
    assert.equal(sharedKey.code, 'ALREADY_EXISTS', sharedKey.details);
    assert.match(sharedKey.details!, /public_key/);

    for (const host of ['h1', 'h3']) {
      const peer = (await wgDump(lab, host)).peers.find((p) => p.publicKey === h2Key);
      assert.ok(peer, `h2 is still a WireGuard peer of ${host}`);
      assert.notEqual(peer.endpoint, '192.0.2.66:51820', `h2's endpoint on ${host} was not redirected`);
    }
    const h1 = await agentInfo(lab, 'h1');
    assert.equal(h1?.peers.find((p) => p.node?.name === 'h2')?.node?.tags.hijacked, undefined, 'no forged tag');
    await pingUntil(lab, 'h3', labHost(lab, 'h2').meshIp!, 10_000);
  });

  test(`a node removed while it was stopped (reaped) re-joins within ${REJOIN_BUDGET_MS / 1000} s of running again`, async (t) => {
    const pid = labHost(lab, 'h2').process!.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      // Stopped: no heartbeats. Failed after 3 s, reaped 3 s later: gone from the bootstrap's table.
      await waitFor('the bootstrap to reap h2', async () => {
        const h1 = await agentInfo(lab, 'h1');
        return h1 !== undefined && peerStatus(h1, 'h2') === undefined;
      }, 30_000, 100);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const resumedAt = Date.now();
    const h1 = await waitFor('h2 to be a member again', async () => {
      const info = await agentInfo(lab, 'h1');
      return info && peerStatus(info, 'h2') === 'NODE_STATUS_ALIVE' ? info : undefined;
    }, REJOIN_BUDGET_MS + 10_000, 100);
    const rejoinedMs = Date.now() - resumedAt;
    const h2Ip = h1.peers.find((p) => p.node?.name === 'h2')!.node!.meshIp;
    await pingUntil(lab, 'h3', h2Ip, REJOIN_BUDGET_MS);
    const reachableMs = Date.now() - resumedAt;
    t.diagnostic(`h2 re-joined ${rejoinedMs} ms and answered h3 ${reachableMs} ms after it ran again`);
    assert.ok(rejoinedMs <= REJOIN_BUDGET_MS, `h2 re-joined ${rejoinedMs} ms after it ran again`);
    assert.ok(reachableMs <= REJOIN_BUDGET_MS, `h3 reached h2 again ${reachableMs} ms after it ran again`);
    const h2 = await waitFor('h2 to show itself connected', async () => {
      const info = await agentInfo(lab, 'h2');
      return info?.connected && info.controlError === '' ? info : undefined;
    }, 10_000, 100);
    assert.equal(h2.meshIp, h2Ip);
  });

  test('-socket on a regular file: the node refuses to start and the file survives', async () => {
    const path = '/run/not-a-socket.txt';
    const content = 'precious data\n';
    await hostExec(lab, 'h3', ['sh', '-c', `printf '${content.replace('\n', '\\n')}' > ${path}`]);
    const result = await hostExec(lab, 'h3', ['wgmesh', 'join', '-dev', '-n', MESH, '-bootstrap-addr', BOOTSTRAP, '-node-name', 'h3b',
      '-socket', path, '-state-dir', '/run/h3b-state', '-listen-port', '51999', '-rtt-port', '0'], { timeoutMs: 30_000 });
    assert.notEqual(result.code, 0, 'the node did not start');
    assert.match(result.stderr, new RegExp(`${path}.*not a socket|not a socket.*${path}`));
    const after = await hostExec(lab, 'h3', ['cat', path]);
    assert.equal(after.stdout, content, 'the file is untouched');
    const h1 = await agentInfo(lab, 'h1');
    assert.equal(peerStatus(h1!, 'h3b'), undefined, 'and it did not join');
  });
});
