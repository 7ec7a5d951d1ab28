import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair, MemoryWgDriver } from '@wgmesh/agent';
import { Bootstrap, FileStateStore } from '../src/index.js';

test('a start that fails late (the local API socket cannot be made) stops every part it had started', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-bootstrap-'));
  try {
    // A regular file where the socket's directory should be: the last part of start() fails.
    await writeFile(path.join(dir, 'not-a-dir'), '');
    const driver = new MemoryWgDriver('wgboot');
    const bootstrap = new Bootstrap(
      { store: new FileStateStore(path.join(dir, 'state.json')), driver },
      {
        meshName: 'boot', nodeName: 'boot', privateKey: generateKeyPair().privateKey, cidr: '10.232.0.0/16', selfIp: '10.232.1.1',
        grpcBindAddr: '127.0.0.1', grpcPort: 0, socketPath: path.join(dir, 'not-a-dir', 'wgmesh.sock'),
      },
    );
    await assert.rejects(bootstrap.start());
    assert.equal(bootstrap.port, 0, 'the join service is no longer listening');
    assert.equal(bootstrap.agent, undefined, 'its own node was stopped');
    assert.equal(driver.isUp, false, 'its WireGuard interface was taken down');
    await bootstrap.stop(); // and stopping again is harmless
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the heap\'s growth is limited only once the mesh is large: at start from a large state, or when it grows to it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-heapgrowth-'));
  const started: Bootstrap[] = [];
  const start = async (name: string, fromMembers: number) => {
    const bootstrap = new Bootstrap(
      { store: new FileStateStore(path.join(dir, `${name}.json`)), driver: new MemoryWgDriver(`wg${name}`) },
      { meshName: name, nodeName: name, privateKey: generateKeyPair().privateKey, cidr: '10.232.0.0/16', selfIp: '10.232.1.1', grpcBindAddr: '127.0.0.1', grpcPort: 0, heapGrowthFromMembers: fromMembers },
    );
    started.push(bootstrap);
    await bootstrap.start();
    return bootstrap;
  };
  try {
    // The bootstrap itself is its mesh's first member.
    assert.equal((await start('large', 1)).heapGrowthLimited, true, 'large at start');
    const growing = await start('grow', 3);
    assert.equal(growing.heapGrowthLimited, false, 'a mesh of one keeps V8\'s own growth');
    const join = (n: string) => growing.table!.join({ name: n, identity: { publicKey: generateKeyPair().publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
    await join('m1');
    assert.equal(growing.heapGrowthLimited, false, 'two members: still small');
    await join('m2');
    assert.equal(growing.heapGrowthLimited, true, 'limited when the third member joined');
  } finally {
    for (const b of started) await b.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
