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
