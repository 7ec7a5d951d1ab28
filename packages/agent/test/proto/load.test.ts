import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import * as protoLoader from '@grpc/proto-loader';
import { loadProtos } from '../../src/proto/load.js';

const agentDir = path.resolve(import.meta.dirname, '../..');

test('the committed descriptor is the one the .proto files make (else: make proto)', async () => {
  await promisify(execFile)(process.execPath, [path.join(agentDir, 'scripts/proto-descriptor.mjs'), '--check']);
});

test('services from the descriptor equal services parsed from the .proto files: same methods, same bytes', () => {
  const parsed = protoLoader.loadSync(['wgmesh/v1/mesh.proto', 'wgmesh/v1/agent.proto'], {
    keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [path.resolve(agentDir, '../../proto')],
  });
  const { mesh, agent } = loadProtos();
  for (const [name, service] of [['wgmesh.v1.Mesh', mesh.wgmesh.v1.Mesh.service], ['wgmesh.v1.Agent', agent.wgmesh.v1.Agent.service]] as const) {
    const reference = parsed[name] as protoLoader.ServiceDefinition;
    assert.deepEqual(Object.keys(service).sort(), Object.keys(reference).sort(), name);
    for (const [method, def] of Object.entries(reference)) {
      assert.equal(service[method]!.path, def.path);
      assert.equal(service[method]!.requestStream, def.requestStream);
      assert.equal(service[method]!.responseStream, def.responseStream);
    }
  }
  const join = mesh.wgmesh.v1.Mesh.service.Join;
  const request = { meshName: 'm', publicKey: 'k'.repeat(44), tags: { a: 'b' }, endpoints: [{ address: '192.0.2.1:51820', kind: 'ENDPOINT_KIND_PUBLIC' }] };
  const bytes = join.requestSerialize(request as never);
  assert.ok(bytes.length > 0);
  assert.deepEqual(bytes, (parsed['wgmesh.v1.Mesh'] as protoLoader.ServiceDefinition).Join!.requestSerialize(request));
  assert.deepEqual(join.requestDeserialize(bytes), (parsed['wgmesh.v1.Mesh'] as protoLoader.ServiceDefinition).Join!.requestDeserialize(bytes));
});
