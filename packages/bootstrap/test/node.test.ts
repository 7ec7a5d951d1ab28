/**
 * The bootstrap node factory: its own checks come before WireGuard and the key, and a start that
 * fails late stops the join service, the bootstrap's own node and the local API again.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair, MemoryWgDriver, MetricsError, nodeFiles } from '@wgmesh/agent';
import { createBootstrapNode, MeshStartRefused, type BootstrapNodeInit } from '../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-bootnode-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function init(extra: Partial<BootstrapNodeInit> = {}): BootstrapNodeInit {
  return {
    meshName: 'boot', nodeName: 'boot', stateDir: path.join(dir, 'state'), cidr: '10.232.0.0/16', selfIp: '10.232.1.1',
    grpcBindAddr: '127.0.0.1', grpcPort: 0, stunPort: 0, rttPort: 0, listenAddr: '192.0.2.1', socketPath: path.join(dir, 'wgmesh.sock'),
    ...extra,
  };
}

test('a used state dir without bootstrap.json is refused before WireGuard or the key are touched', async () => {
  const files = nodeFiles(path.join(dir, 'state'), 'boot');
  await mkdir(files.dir, { recursive: true });
  await writeFile(files.key, generateKeyPair().privateKey + '\n');
  let driversMade = 0;
  const node = createBootstrapNode({ wg: (name) => (driversMade++, new MemoryWgDriver(name)) }, init());
  await assert.rejects(node.start(), (err: unknown) => err instanceof MeshStartRefused && /bootstrap\.json is missing/.test(err.message));
  assert.equal(driversMade, 0);
  assert.deepEqual(node.running, []);
});

test('a metrics port in use: the join service, the own node and the local API are stopped again', async () => {
  const other: Server = createServer();
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const port = (other.address() as { port: number }).port;
    const driver = new MemoryWgDriver('wgboot');
    const node = createBootstrapNode({ wg: () => driver }, init({ metricsAddr: `127.0.0.1:${port}` }));
    await assert.rejects(node.start(), MetricsError);
    assert.deepEqual(node.running, []);
    assert.equal(node.bootstrap?.port, 0, 'the join service no longer listens');
    assert.equal(node.bootstrap?.agent, undefined, 'its own node was stopped');
    assert.equal(driver.isUp, false, 'its WireGuard interface is gone');
    assert.equal(await stat(path.join(dir, 'wgmesh.sock')).then(() => true, () => false), false, 'the socket is removed');
    assert.equal(await stat(nodeFiles(path.join(dir, 'state'), 'boot').bootstrapState).then(() => true, () => false), true, 'the mesh it made is kept for the next start');
  } finally {
    await new Promise((r) => other.close(r));
  }
});
