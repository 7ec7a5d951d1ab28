/** Shared by the bootstrap's tests: a bootstrap on loopback, and temporary directories. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair, MemoryWgDriver } from '@wgmesh/agent';
import { Bootstrap, FileStateStore } from '../src/index.js';

export const MESH = 'sim';
export const CIDR = '198.18.0.0/16';
export const BOOTSTRAP_IP = '198.18.0.1';

/** A bootstrap on loopback with an in-memory WireGuard device and a state file (as test/helpers/inprocess.ts starts one). */
export async function startBootstrap(stateFile: string, port = 0, privateKey = generateKeyPair().privateKey): Promise<{ bootstrap: Bootstrap; driver: MemoryWgDriver; privateKey: string }> {
  const driver = new MemoryWgDriver('wgsim');
  const bootstrap = new Bootstrap(
    { store: new FileStateStore(stateFile), driver },
    {
      meshName: MESH, nodeName: 'bootstrap', privateKey, cidr: CIDR, selfIp: BOOTSTRAP_IP, grpcBindAddr: '127.0.0.1', grpcPort: port, heartbeatMs: 60_000,
      // Nodes here do not heartbeat: keep failure detection out of these tests (it has its own).
      liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 },
    },
  );
  await bootstrap.start();
  return { bootstrap, driver, privateKey };
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
