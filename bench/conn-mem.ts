// Drives conn-mem-server.ts: N clients, each on its own connection, with one idle Heartbeat stream
// and M unary Updates (refused: NOT_FOUND), then the server's memory after GC. Prints JSON.
//   CONNS=2000 CALLS=5 CHANNELZ=0|1
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { loadProtos, type MeshClient } from '@wgmesh/agent';

const N = Number(process.env.CONNS ?? 2000);
const CALLS = Number(process.env.CALLS ?? 5);
const child = spawn(process.execPath, ['--expose-gc', '--conditions=source', '--import', 'tsx', 'conn-mem-server.ts'], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
const lines = createInterface({ input: child.stdout! });
const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
const port = Number(await next());
const mem = async () => {
  child.stdin!.write('mem\n');
  return JSON.parse(await next()) as Record<string, number>;
};
const before = await mem();
const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
const clients: MeshClient[] = [];
const req = { meshName: 'm', nodeName: 'x', publicKey: Buffer.alloc(32, 7).toString('base64'), nodeSecret: 's', endpoints: [], tags: {}, rtt: [], relayed: [] };
for (let i = 0; i < N; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, N - i) }, async () => {
    const c = new Mesh(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.enable_channelz': 0 });
    clients.push(c);
    const s = c.heartbeat();
    s.on('error', () => {});
    for (let k = 0; k < CALLS; k++) await new Promise((r) => c.update(req, () => r(undefined)));
  }));
}
await new Promise((r) => setTimeout(r, 2000));
const after = await mem();
const mb = (v: number) => +(v / 1048576).toFixed(1);
const per = (k: string) => +(((after[k]! - before[k]!) / N) / 1024).toFixed(1);
console.log(JSON.stringify({ channelz: process.env.CHANNELZ ?? '1', conns: N, callsEach: CALLS, streams: after.streams,
  rssMb: [mb(before.rss!), mb(after.rss!)], heapUsedMb: [mb(before.heapUsed!), mb(after.heapUsed!)], externalMb: [mb(before.external!), mb(after.external!)],
  perConnKb: { rss: per('rss'), heapUsed: per('heapUsed'), external: per('external'), arrayBuffers: per('arrayBuffers') } }));
for (const c of clients) c.close();
child.kill();
process.exit(0);
