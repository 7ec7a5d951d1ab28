// Bootstrap memory per connection (issue 19): a Mesh service (dev mode, empty mesh) on loopback;
// prints its port, then on "mem" a JSON line of process.memoryUsage() after a full GC.
// CHANNELZ=0|1 sets grpc.enable_channelz. Not part of `make bench`: a probe for one question.
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { createMeshService, devAuthenticator, Ipam, MemberTable, MemoryStateStore } from '@wgmesh/bootstrap';
import { loadProtos, silentLogger } from '@wgmesh/agent';

const table = await MemberTable.open(new MemoryStateStore(), new Ipam('198.18.0.0/16'), { meshName: 'm' });
const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() });
const server = new grpc.Server({
  'grpc.keepalive_time_ms': 20_000, 'grpc.keepalive_timeout_ms': 10_000, 'grpc.keepalive_permit_without_calls': 1,
  'grpc.enable_channelz': Number(process.env.CHANNELZ ?? 1),
});
server.addService(loadProtos().mesh.wgmesh.v1.Mesh.service, service.handlers as never);
const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
process.stdout.write(`${port}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'mem') return;
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(`${JSON.stringify({ ...process.memoryUsage(), streams: service.stats.heartbeatStreams })}\n`);
});
