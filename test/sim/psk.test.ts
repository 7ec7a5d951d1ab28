/**
 * A bootstrap with preshared keys (-psk) and three agents over real gRPC, each with an in-memory
 * WireGuard device: every device has a key for every peer, equal at both ends and different per
 * pair; a mesh without -psk has none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Agent, MemoryWgDriver } from '@wgmesh/agent';
import { makeAgent, startBootstrap, tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

async function mesh(psk: boolean, dir: string) {
  const secret = Buffer.alloc(32, 9);
  const { bootstrap, driver } = await startBootstrap(path.join(dir, 'bootstrap.json'), 0, undefined, psk ? { presharedKeySecret: async () => secret } : {});
  const nodes: { agent: Agent; driver: MemoryWgDriver }[] = [];
  for (let i = 0; i < 3; i++) {
    const made = makeAgent(`n${i}`, bootstrap.port, i);
    await made.agent.start();
    nodes.push(made);
  }
  const devices = [{ key: bootstrap.agent!.publicKey, driver }, ...nodes.map((n) => ({ key: n.agent.publicKey, driver: n.driver }))];
  const stop = async () => {
    for (const n of nodes) await n.agent.stop();
    await bootstrap.stop();
  };
  return { bootstrap, devices, stop };
}

test('-psk: every device has a preshared key for each of its 3 peers, equal at both ends, one per pair', async () => {
  const { dir, cleanup } = await tempDir();
  const { devices, stop } = await mesh(true, dir);
  try {
    const pairKeys = new Map<string, string>();
    for (const device of devices) {
      const peers = await waitFor('3 peers, each with its key', async () => {
        const read = (await device.driver.read()).peers;
        return read.length === 3 && read.every((p) => p.presharedKey) ? read : undefined;
      }, 5_000);
      for (const peer of peers) {
        const pair = [device.key, peer.publicKey].sort().join('|');
        const seen = pairKeys.get(pair);
        if (seen === undefined) pairKeys.set(pair, peer.presharedKey!);
        else assert.equal(peer.presharedKey, seen, 'both ends of a pair have one key');
      }
    }
    assert.equal(pairKeys.size, 6);
    assert.equal(new Set(pairKeys.values()).size, 6, 'every pair its own key');
  } finally {
    await stop();
    await cleanup();
  }
});

test('without -psk no device has a preshared key', async () => {
  const { dir, cleanup } = await tempDir();
  const { devices, stop } = await mesh(false, dir);
  try {
    for (const device of devices) {
      const peers = await waitFor('3 peers', async () => {
        const read = (await device.driver.read()).peers;
        return read.length === 3 ? read : undefined;
      }, 5_000);
      assert.ok(peers.every((p) => p.presharedKey === undefined));
    }
  } finally {
    await stop();
    await cleanup();
  }
});
