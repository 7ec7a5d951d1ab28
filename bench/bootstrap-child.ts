// A bootstrap in its own process, so the benchmark can measure its memory and CPU alone.
//
//   bootstrap-child.ts STATE_FILE                      file store; node "bootstrap" at 198.18.0.1
//   bootstrap-child.ts --etcd URL[,URL...] --prefix /KEYS/ --name boot2 --ip 198.18.0.2
//                                                      one of several bootstraps sharing an etcd store
//
// Prints its gRPC port on a line. Then each line "table" on stdin is answered on stdout with one
// JSON line {"members":N,"revision":R} (what this bootstrap's member table holds now); "memory" with
// {"memory":{...},"memoryPeak":{...}}: process.memoryUsage() now and each part's peak (sampled every 500 ms).
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Bootstrap, EtcdMeshStore, FileStateStore } from '@wgmesh/bootstrap';
import { generateKeyPair, MemoryWgDriver } from '@wgmesh/agent';

const MESH = 'bench';
const CIDR = '198.18.0.0/16';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { etcd: { type: 'string' }, prefix: { type: 'string' }, name: { type: 'string' }, ip: { type: 'string' } },
});
const etcdStore = values.etcd
  ? new EtcdMeshStore({ endpoints: values.etcd.split(','), meshName: MESH, cidr: CIDR, ...(values.prefix ? { prefix: values.prefix } : {}) })
  : undefined;
const bootstrap = new Bootstrap(
  { store: etcdStore ?? new FileStateStore(positionals[0]!), driver: new MemoryWgDriver('wgbench') },
  { meshName: MESH, nodeName: values.name ?? 'bootstrap', privateKey: generateKeyPair().privateKey, cidr: CIDR, selfIp: values.ip ?? '198.18.0.1', grpcBindAddr: '127.0.0.1', grpcPort: 0, heartbeatMs: 3_600_000,
    liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 } },
);
await bootstrap.start();
process.stdout.write(`${bootstrap.port}\n`);
const stop = () => void bootstrap.stop().then(() => etcdStore?.close()).then(() => process.exit(0));
process.on('SIGTERM', stop);
// The benchmark holds our stdin open: when it dies without a word (killed by a signal meant for
// it), the pipe closes and this bootstrap goes with it rather than stay behind.
const memoryPeak: Record<string, number> = {};
const sampleMemory = () => {
  const now = process.memoryUsage() as unknown as Record<string, number>;
  for (const [k, v] of Object.entries(now)) memoryPeak[k] = Math.max(memoryPeak[k] ?? 0, v);
  return now;
};
setInterval(sampleMemory, 500).unref();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'memory') process.stdout.write(`${JSON.stringify({ memory: sampleMemory(), memoryPeak })}\n`);
  if (line.trim() === 'table') process.stdout.write(`${JSON.stringify({ members: bootstrap.table?.size ?? 0, revision: bootstrap.table?.revision ?? 0 })}\n`);
});
lines.on('close', stop);
