/**
 * One call to a bootstrap's Mesh service, as any client on the network could make it: the e2e
 * tests run it inside a lab host to forge calls for another node. Prints one JSON line:
 * {"code":"OK","response":…} or {"code":"PERMISSION_DENIED","details":"…"}; exits 0 either way.
 *
 *   node --import tsx test/tools/mesh-call.ts ADDR METHOD REQUEST_JSON [CA CERT KEY]
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadProtos, type MeshClient } from '@wgmesh/agent';

const [address, method, requestJson, ca, cert, key] = process.argv.slice(2);
if (!address || !method || !requestJson) {
  process.stderr.write('usage: mesh-call.ts ADDR Join|Update|Leave|Rtt|Watch REQUEST_JSON [CA CERT KEY]\n');
  process.exit(2);
}
const credentials = ca && cert && key
  ? grpc.credentials.createSsl(readFileSync(ca), readFileSync(key), readFileSync(cert))
  : grpc.credentials.createInsecure();
const client: MeshClient = new (loadProtos().mesh.wgmesh.v1.Mesh)(address, credentials);
const request = JSON.parse(requestJson) as Record<string, unknown>;
const options = { deadline: Date.now() + 10_000 };

function print(result: { code: string; details?: string; response?: unknown }): void {
  process.stdout.write(JSON.stringify(result) + '\n');
  client.close();
}

const done = (err: grpc.ServiceError | null, response?: unknown) =>
  print(err ? { code: grpc.status[err.code] ?? String(err.code), details: err.details } : { code: 'OK', response });

switch (method) {
  case 'Join':
    client.join(request, options, done);
    break;
  case 'Update':
    client.update(request, options, done);
    break;
  case 'Leave':
    client.leave(request, options, done);
    break;
  case 'Rtt':
    client.rtt(request, options, done);
    break;
  case 'Watch': {
    // The first message (the snapshot) is the answer; a refusal is the stream's error.
    const stream = client.watch(request, options);
    stream.once('data', (event) => {
      stream.cancel();
      done(null, event);
    });
    stream.once('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) done(err);
    });
    break;
  }
  default:
    process.stderr.write(`unknown method ${method}\n`);
    process.exit(2);
}
