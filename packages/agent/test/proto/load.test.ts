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
    assert.ok(Object.keys(reference).length > 0, `${name} has methods`);
    assert.deepEqual(Object.keys(service).sort(), Object.keys(reference).sort(), name);
    for (const [method, def] of Object.entries(reference)) {
      assert.equal(service[method]!.path, def.path);
      assert.equal(service[method]!.requestStream, def.requestStream);
      assert.equal(service[method]!.responseStream, def.responseStream);
    }
  }
  const join = mesh.wgmesh.v1.Mesh.service.Join;
  const reference = (parsed['wgmesh.v1.Mesh'] as protoLoader.ServiceDefinition).Join!;
  assert.equal(join.originalName, reference.originalName);
  const request = { meshName: 'm', nodeName: 'n1', publicKey: 'k'.repeat(44), tags: { a: 'b' }, endpoints: [{ ip: '192.0.2.1', port: 51820, kind: 'ENDPOINT_KIND_STUN' }], listenPort: 51820 };
  const response = {
    nodeName: 'n1', meshIp: '198.18.0.2', meshCidr: '198.18.0.0/16', meshCreatedMs: 1_700_000_000_000, revision: 42,
    nodes: [{ name: 'n0', status: 'NODE_STATUS_ALIVE', endpoints: [{ ip: '192.0.2.2', port: 1, kind: 'ENDPOINT_KIND_LAN' }], tags: { x: 'y' }, joinedAtMs: 5 }],
  };
  for (const [ours, theirs, value] of [[join.requestSerialize, reference.requestSerialize, request], [join.responseSerialize, reference.responseSerialize, response]] as const) {
    const bytes = (ours as (v: unknown) => Buffer)(value);
    assert.ok(bytes.length > 20);
    assert.deepEqual(bytes, (theirs as (v: unknown) => Buffer)(value));
  }
  const bytes = reference.responseSerialize(response);
  const decoded = join.responseDeserialize(bytes);
  assert.deepEqual(decoded, reference.responseDeserialize(bytes));
  assert.equal((decoded as { revision: unknown }).revision, 42);
});
