/**
 * Key rotation: `wgmesh rotate-key` on a node under a continuous ping (every 100 ms) loses no
 * ping; every host's WireGuard then has the node's new key and not the old one; the node keeps the
 * new key in its private.key (0600), and after a restart it still reaches its peers with it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostExec, labDown, labHost, labRestartNode, labUp, type LabState } from '@wgmesh/cli/lab';
import { publicKeyFromPrivate } from '@wgmesh/agent';
import { agentInfo, e2eWgmeshCommand, labSkipReason, meshIps, pingUntil, startPing, wgDump, type PingRun } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgrot';
const MESH = 'rot';
const PING_INTERVAL_S = 0.1;
const HOSTS = ['h1', 'h2', 'h3', 'h4'];
const ROTATING = 'h3';
const PINGER = 'h2';
const skip = await labSkipReason({ wireguard: true });

/** What every host's `wg show` says the rotating node's key is: the keys it has for that node's mesh IP. */
async function keysFor(lab: LabState, meshIp: string): Promise<Map<string, string[]>> {
  const seen = new Map<string, string[]>();
  for (const host of HOSTS.filter((h) => h !== ROTATING)) {
    const dump = await wgDump(lab, host);
    seen.set(host, dump.peers.filter((p) => p.allowedIps.some((a) => a.split('/')[0] === meshIp)).map((p) => p.publicKey));
  }
  return seen;
}

describe('wgmesh rotate-key', { skip: skip ?? false }, () => {
  let lab: LabState;
  let ping: PingRun | undefined;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: HOSTS.length, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
  });

  after(async () => {
    await ping?.stop();
    await labDown({ name: LAB });
  });

  test(`a node rotating its key under a ping every ${PING_INTERVAL_S * 1000} ms loses no ping, and every host has its new key`, async (t) => {
    const ips = meshIps(lab);
    const target = ips.get(ROTATING)!;
    const keyFile = join(labHost(lab, ROTATING).stateDir, MESH, 'private.key');
    const oldKey = publicKeyFromPrivate((await readFile(keyFile, 'utf8')).trim());
    assert.equal((await wgDump(lab, ROTATING)).publicKey, oldKey, 'the interface has the key of private.key');

    // The tunnel is up before the window opens.
    await pingUntil(lab, PINGER, target, 15_000);
    ping = startPing(lab, PINGER, target, PING_INTERVAL_S);
    await waitFor('the continuous ping to get its first answer', () => ping!.answered.size > 0, 10_000, 20);
    const firstSeq = ping.lastSeq + 1;
    await new Promise((r) => setTimeout(r, 1_000));

    const rotated = await hostExec(lab, ROTATING, ['wgmesh', 'rotate-key', '-json'], { timeoutMs: 30_000 });
    assert.equal(rotated.code, 0, `wgmesh rotate-key: ${rotated.stderr}`);
    const answer = JSON.parse(rotated.stdout) as { previousPublicKey: string; publicKey: string; revision: number };
    assert.equal(answer.previousPublicKey, oldKey);
    const newKey = answer.publicKey;
    assert.notEqual(newKey, oldKey);

    // Every host swaps the peer; ping goes on for 5 s after that.
    await waitFor('every host to have the new key and not the old one', async () => {
      const seen = await keysFor(lab, target);
      return [...seen.values()].every((keys) => keys.length === 1 && keys[0] === newKey);
    }, 15_000, 100);
    await new Promise((r) => setTimeout(r, 5_000));
    // The last few may still be on their way when ping is stopped.
    const lastSeq = ping.lastSeq - 3;
    const run = ping;
    await run.stop();
    ping = undefined;
    const sent = lastSeq - firstSeq + 1;
    const lost = Array.from({ length: sent }, (_, i) => firstSeq + i).filter((seq) => !run.answered.has(seq));
    t.diagnostic(`icmp_seq ${firstSeq}..${lastSeq} (${sent} pings) sent across the rotation, ${lost.length} lost`);
    assert.ok(sent >= 50, `ping ran across the rotation (${sent} pings)`);
    assert.deepEqual(lost, [], 'no ping lost');

    // wg show everywhere: the node's own interface and every peer.
    assert.equal((await wgDump(lab, ROTATING)).publicKey, newKey, `${ROTATING}'s interface has the new key`);
    for (const host of HOSTS.filter((h) => h !== ROTATING)) {
      const keys = (await wgDump(lab, host)).peers.map((p) => p.publicKey);
      assert.ok(keys.includes(newKey), `${host}: wg show has the new key`);
      assert.ok(!keys.includes(oldKey), `${host}: wg show no longer has the old key`);
    }
    // The key on disk is the new one, 0600, and nothing is left pending.
    assert.equal(publicKeyFromPrivate((await readFile(keyFile, 'utf8')).trim()), newKey, 'private.key holds the new key');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600, 'private.key is 0600');
    await assert.rejects(stat(`${keyFile}.next`), 'no private.key.next left');
    assert.equal((await agentInfo(lab, ROTATING))?.publicKey, newKey, 'wgmesh info shows the new key');
  });

  test('after a restart the node comes back with its new key and reaches its peers', async () => {
    const ips = meshIps(lab);
    const keyFile = join(labHost(lab, ROTATING).stateDir, MESH, 'private.key');
    const key = publicKeyFromPrivate((await readFile(keyFile, 'utf8')).trim());
    lab = (await labRestartNode(LAB, ROTATING)).lab;
    for (const peer of HOSTS.filter((h) => h !== ROTATING)) await pingUntil(lab, ROTATING, ips.get(peer)!, 20_000);
    assert.equal((await wgDump(lab, ROTATING)).publicKey, key, 'the interface has the rotated key');
    await waitFor(`${ROTATING} to be connected to the bootstrap again`, async () => (await agentInfo(lab, ROTATING))?.connected === true, 20_000, 200);
    // The bootstrap took the re-join: the rotated key and its secret prove the node.
    assert.equal((await agentInfo(lab, ROTATING))?.controlError, '', 'no refused control-plane call');
  });
});
