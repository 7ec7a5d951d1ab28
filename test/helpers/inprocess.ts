import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, createGrpcControlClient, generateKeyPair, MemoryWgDriver, type AgentStateStore, type MeshClient, type RttSource, type WatchEvent__Output, type WatchRequest } from '@wgmesh/agent';
import { Bootstrap, FileStateStore, type StateStore } from '@wgmesh/bootstrap';

export const MESH = 'sim';
export const CIDR = '198.18.0.0/16';
export const BOOTSTRAP_IP = '198.18.0.1';

/**
 * A bootstrap on loopback with an in-memory WireGuard device and a state file in a temp dir;
 * `presharedKeySecret` makes it a -psk mesh.
 */
export async function startBootstrap(
  stateFile: string, port = 0, privateKey = generateKeyPair().privateKey, extra: { presharedKeySecret?: () => Promise<Buffer> } = {},
): Promise<{ bootstrap: Bootstrap; driver: MemoryWgDriver; privateKey: string }> {
  const driver = new MemoryWgDriver('wgsim');
  const bootstrap = new Bootstrap(
    { store: new FileStateStore(stateFile), driver, ...(extra.presharedKeySecret ? { presharedKeySecret: extra.presharedKeySecret } : {}) },
    {
      meshName: MESH, nodeName: 'bootstrap', privateKey, cidr: CIDR, selfIp: BOOTSTRAP_IP, grpcBindAddr: '127.0.0.1', grpcPort: port, heartbeatMs: 60_000,
      // Simulated nodes do not heartbeat: keep failure detection out of these tests (it has its own).
      liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 },
    },
  );
  await bootstrap.start();
  return { bootstrap, driver, privateKey };
}

/**
 * A bootstrap on loopback that persists nothing (thousands of joins with an fsync each would be a
 * test's whole cost), with `others` members besides itself joined straight into its table. Their
 * keys are random bytes, not generateKeyPair(): Node 20 can deadlock making thousands of keys (a
 * GC during a key export), and these members never do key exchange.
 */
export async function startFilledBootstrap(others: number): Promise<Bootstrap> {
  const noStore: StateStore = { load: async () => undefined, save: async () => {}, append: async () => {} };
  const bootstrap = new Bootstrap(
    { store: noStore, driver: new MemoryWgDriver('wgsim', { record: false }) },
    {
      meshName: MESH, nodeName: 'bootstrap', privateKey: generateKeyPair().privateKey, cidr: CIDR, selfIp: BOOTSTRAP_IP,
      grpcBindAddr: '127.0.0.1', grpcPort: 0, stunPort: 0, heartbeatMs: 60_000,
      liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 },
    },
  );
  await bootstrap.start();
  const table = bootstrap.table!;
  for (let i = 1; i <= others; i++) {
    await table.join({
      name: `m${i}`, identity: { publicKey: randomBytes(32).toString('base64') },
      // TEST-NET-3 only: one address per 250 members, each member its own port.
      endpoints: [{ ip: `203.0.113.${(i % 250) + 1}`, port: 51820 + Math.floor(i / 250), kind: 'ENDPOINT_KIND_LAN' }], tags: {}, listenPort: 51820,
    });
  }
  return bootstrap;
}

/** An agent with an in-memory device talking real gRPC to the bootstrap. */
export function makeAgent(name: string, bootstrapPort: number, index: number, extra: { rtt?: RttSource; stateStore?: AgentStateStore } = {}): { agent: Agent; driver: MemoryWgDriver } {
  const driver = new MemoryWgDriver(`wg-${name}`);
  const control = createGrpcControlClient({ address: `127.0.0.1:${bootstrapPort}`, credentials: grpc.credentials.createInsecure() });
  const agent = new Agent(
    { control, driver, ...(extra.rtt ? { rtt: extra.rtt } : {}), ...(extra.stateStore ? { stateStore: extra.stateStore } : {}) },
    {
      meshName: MESH,
      nodeName: name,
      privateKey: generateKeyPair().privateKey,
      listenPort: 54540,
      endpoints: () => [{ ip: `192.0.2.${10 + index}`, port: 54540, kind: 'ENDPOINT_KIND_LAN' }],
      heartbeatMs: 60_000,
      backoffInitialMs: 50,
      backoffMaxMs: 500,
    },
  );
  return { agent, driver };
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A Mesh.Watch stream over `client`, open once its headers came (a refusal before that rejects);
 * every message it gets lands in `received`. The caller cancels the stream.
 */
export function openWatch(client: MeshClient, request: WatchRequest): Promise<{ stream: grpc.ClientReadableStream<WatchEvent__Output>; received: WatchEvent__Output[] }> {
  return new Promise((resolve, reject) => {
    const received: WatchEvent__Output[] = [];
    const stream = client.watch(request);
    stream.on('metadata', () => resolve({ stream, received }));
    stream.on('data', (event: WatchEvent__Output) => received.push(event));
    stream.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) reject(err);
    });
  });
}
