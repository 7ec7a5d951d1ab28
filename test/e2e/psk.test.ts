/**
 * A 4-host lab whose bootstrap runs with -psk: every pair of nodes gets its own WireGuard
 * preshared key, the same at both ends and different from every other pair's, handed to each node
 * over the join service and never shown by `info`; pings work through the keyed tunnels.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labDown, labUp, type LabState } from '@wgmesh/cli/lab';
import { cliInfo, e2eWgmeshCommand, labSkipReason, meshIps, pingUntil, wgDump, type WgDump } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgpsk';
const MESH = 'meshpsk';
const skip = await labSkipReason({ wireguard: true });

describe('lab of 4 hosts with per-pair preshared keys (bootstrap -psk)', { skip: skip ?? false }, () => {
  let lab: LabState;
  const dumps = new Map<string, WgDump>();

  before(async () => {
    // A lab left over by an interrupted run is removed first.
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 4, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000, bootstrapArgs: ['-psk'] })).lab;
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('every node has a preshared key for each of its 3 peers', async () => {
    for (const h of lab.hosts) {
      const dump = await waitFor(`${h.name} to have 3 peers, each with a preshared key`, async () => {
        const d = await wgDump(lab, h.name);
        return d.peers.length === 3 && d.peers.every((p) => p.presharedKey !== '(none)' && p.presharedKey !== '') ? d : undefined;
      }, 20_000, 200);
      dumps.set(h.name, dump);
    }
  });

  test('a pair has the same key at both ends, and every pair a different one', () => {
    const keyOf = new Map([...dumps].map(([name, d]) => [d.publicKey, name]));
    const pairKeys = new Map<string, string>();
    for (const [name, dump] of dumps) {
      for (const peer of dump.peers) {
        const other = keyOf.get(peer.publicKey);
        assert.ok(other, `${name}'s peer ${peer.publicKey} is one of the lab's nodes`);
        const pair = [name, other].sort().join('-');
        const seen = pairKeys.get(pair);
        if (seen === undefined) pairKeys.set(pair, peer.presharedKey);
        else assert.equal(peer.presharedKey, seen, `both ends of ${pair} have the same preshared key`);
      }
    }
    assert.equal(pairKeys.size, 6, 'six pairs among 4 nodes');
    assert.equal(new Set(pairKeys.values()).size, 6, 'every pair has its own key');
  });

  test('every host pings every other host through the keyed tunnels', async () => {
    const ips = meshIps(lab);
    const pairs = lab.hosts.flatMap((a) => lab.hosts.filter((b) => b !== a).map((b) => ({ from: a.name, ip: ips.get(b.name)! })));
    // First pings can be lost while a handshake completes: each pair retries until its deadline.
    await Promise.all(pairs.map((p) => pingUntil(lab, p.from, p.ip, 20_000)));
    // A handshake happened with the keys in place (a mismatched key would never complete one).
    for (const h of lab.hosts) {
      const d = await wgDump(lab, h.name);
      assert.ok(d.peers.every((p) => p.latestHandshake > 0 && p.presharedKey === dumps.get(h.name)!.peers.find((q) => q.publicKey === p.publicKey)?.presharedKey), `${h.name}: every peer handshook, keys unchanged`);
    }
  });

  test('`wgmesh info -json` shows no preshared key', async () => {
    const keys = [...dumps.values()].flatMap((d) => d.peers.map((p) => p.presharedKey));
    for (const h of lab.hosts) {
      const text = JSON.stringify(await cliInfo(lab, h.name));
      for (const key of keys) assert.ok(!text.includes(key), `${h.name}'s info does not contain a preshared key`);
    }
  });
});
