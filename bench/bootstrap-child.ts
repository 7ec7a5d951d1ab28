// A bootstrap in its own process, so the benchmark can measure its memory and CPU alone.
//
//   bootstrap-child.ts STATE_FILE                      file store; node "bootstrap" at 198.18.0.1
//   bootstrap-child.ts --etcd URL[,URL...] --prefix /KEYS/ --name boot2 --ip 198.18.0.2
//                                                      one of several bootstraps sharing an etcd store
//
// Prints its gRPC port on a line. Then each line "table" on stdin is answered on stdout with one
// JSON line {"members":N,"revision":R,"fanouts":F,"fanoutChanges":C} (what this bootstrap's member
// table holds now; fan-outs of live changes so far and the changes they carried); "memory" with
// {"memory":{...},"memoryPeak":{...}}: process.memoryUsage() now and each part's peak (sampled every 500 ms).
//
// BENCH_HEAP_GROWTH=P: Bootstrap heapGrowthPercent (see limitHeapGrowth); 0 leaves V8's own growth.
// BENCH_CHILD_HEAP_PROF=DIR: V8's sampling heap profiler runs throughout, and each time the heap
// passes its peak by 32 MB the live allocations (with the stacks that made them) are written to
// DIR/bootstrap-<pid>-heap-peak.heapprofile (Chrome DevTools' format), so the file left says what
// held the heap at its highest.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
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
    liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 },
    // BENCH_HEAP_GROWTH=P: the bootstrap's heapGrowthPercent (0: V8's own), to compare; unset: its default.
    ...(process.env.BENCH_HEAP_GROWTH ? { heapGrowthPercent: Number(process.env.BENCH_HEAP_GROWTH) } : {}) },
);
await bootstrap.start();
// Fan-outs of live changes to the Watch streams, and the changes they carried (reported with "table").
const fanouts = { count: 0, changes: 0 };
bootstrap.onFanout = (_seconds, _streams, changes) => {
  fanouts.count++;
  fanouts.changes += changes;
};
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
// BENCH_CHILD_MEM_LOG=S: process.memoryUsage() on stderr every S seconds (when the parts peak).
const memLogS = Number(process.env.BENCH_CHILD_MEM_LOG ?? 0);
if (memLogS > 0) {
  const mb = (v: number) => (v / 1048576).toFixed(0);
  setInterval(() => {
    const m = sampleMemory();
    process.stderr.write(`bootstrap-child: ${new Date().toISOString()} rss ${mb(m.rss!)} heap ${mb(m.heapUsed!)}/${mb(m.heapTotal!)} external ${mb(m.external!)} arrayBuffers ${mb(m.arrayBuffers!)} MB\n`);
  }, memLogS * 1000).unref();
}

const heapProfDir = process.env.BENCH_CHILD_HEAP_PROF;
if (heapProfDir) {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 256 * 1024 });
  let written = 0;
  let busy = false;
  setInterval(() => {
    const used = process.memoryUsage().heapUsed;
    if (busy || used < written + 32 * 1048576) return;
    busy = true;
    written = used;
    void session.post('HeapProfiler.getSamplingProfile').then(({ profile }) => {
      writeFileSync(path.join(heapProfDir, `bootstrap-${process.pid}-heap-peak.heapprofile`), JSON.stringify(profile));
      process.stderr.write(`bootstrap-child: heap profile at ${(used / 1048576).toFixed(0)} MB used\n`);
    }).finally(() => {
      busy = false;
    });
  }, 500).unref();
}
/**
 * 'admitted N': answers {"admitted": MS} once the member table holds N members, MS the wall-clock
 * time it got there (to 5 ms): when the bootstrap had taken in every join, whatever its answers
 * then wait for on the agents' side.
 */
function admitted(members: number): void {
  const poll = setInterval(() => {
    if ((bootstrap.table?.size ?? 0) < members) return;
    clearInterval(poll);
    process.stdout.write(`${JSON.stringify({ admitted: performance.timeOrigin + performance.now() })}\n`);
  }, 5);
}
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'memory') process.stdout.write(`${JSON.stringify({ memory: sampleMemory(), memoryPeak })}\n`);
  if (line.startsWith('admitted ')) admitted(Number(line.slice('admitted '.length)));
  if (line.trim() === 'table') process.stdout.write(`${JSON.stringify({ members: bootstrap.table?.size ?? 0, revision: bootstrap.table?.revision ?? 0, fanouts: fanouts.count, fanoutChanges: fanouts.changes })}\n`);
});
lines.on('close', stop);
