import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { codecOf, loadProtos } from '../../src/proto/load.js';
import { seededRandom } from '../fixtures.js';

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

/** A random value for every field of `type` (some left out, one member of each oneof), depth-limited. */
function randomMessage(type: protobuf.Type, rnd: () => number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chosenOneof = new Map(type.oneofsArray.map((o) => [o.name, rnd() < 0.2 ? undefined : pick(o.fieldsArray).name]));
  const scalar = (f: protobuf.Field): unknown => {
    f.resolve();
    if (f.resolvedType instanceof protobuf.Enum) return pick(Object.keys(f.resolvedType.values));
    if (f.resolvedType instanceof protobuf.Type) return depth < 3 ? randomMessage(f.resolvedType, rnd, depth + 1) : {};
    switch (f.type) {
      case 'string': return pick(['', 'h1', 'wgmesh', 'ünïcödé ✓', 'x'.repeat(Math.floor(rnd() * 60))]);
      case 'bool': return rnd() < 0.5;
      case 'bytes': return Buffer.from(Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
      case 'double': return pick([0, 1.5, -2.25, rnd() * 1e6, Number.MAX_SAFE_INTEGER / 3]);
      case 'float': return pick([0, 0.5, -3.25, 1024]);
      case 'int32': case 'sint32': case 'sfixed32': return pick([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), Math.floor(rnd() * 1e6)]);
      case 'uint32': case 'fixed32': return pick([0, 1, 2 ** 32 - 1, Math.floor(rnd() * 1e6)]);
      case 'int64': case 'sint64': case 'sfixed64': return pick([0, 1, -1, 1_800_000_000_000, -(2 ** 40), Number.MAX_SAFE_INTEGER]);
      case 'uint64': case 'fixed64': return pick([0, 1, 1_800_000_000_000, Number.MAX_SAFE_INTEGER]);
      default: throw new Error(`no random value for ${f.type} (${type.fullName}.${f.name})`);
    }
  };
  for (const f of type.fieldsArray) {
    if (f.partOf ? chosenOneof.get(f.partOf.name) !== f.name : rnd() < 0.15) continue;
    if (f.map) {
      const m: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 4); i > 0; i--) m[(f as unknown as protobuf.MapField).keyType === 'string' ? `k${Math.floor(rnd() * 100)}` : String(Math.floor(rnd() * 100))] = scalar(f);
      out[f.name] = m;
    } else if (f.repeated) {
      out[f.name] = Array.from({ length: Math.floor(rnd() * 4) }, () => scalar(f));
    } else {
      out[f.name] = scalar(f);
    }
  }
  return out;
}


test('every method\'s messages: the generated codecs write the bytes protobufjs\'s reflection writes and read them back to the same objects', () => {
  const includeDirs = [path.resolve(agentDir, '../../proto')];
  const parsed = protoLoader.loadSync(['wgmesh/v1/mesh.proto', 'wgmesh/v1/agent.proto'], { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs });
  const root = new protobuf.Root();
  root.resolvePath = (_origin, file) => path.join(includeDirs[0]!, file);
  root.loadSync(['wgmesh/v1/mesh.proto', 'wgmesh/v1/agent.proto'], { keepCase: false });
  const { mesh, agent } = loadProtos();
  const ours: Record<string, grpc.ServiceDefinition> = { 'wgmesh.v1.Mesh': mesh.wgmesh.v1.Mesh.service, 'wgmesh.v1.Agent': agent.wgmesh.v1.Agent.service };
  const rnd = seededRandom(20261202);
  let compared = 0;
  for (const [serviceName, service] of Object.entries(ours)) {
    const reference = parsed[serviceName] as protoLoader.ServiceDefinition;
    const reflected = root.lookupService(serviceName);
    for (const method of reflected.methodsArray) {
      method.resolve();
      const sides = [
        [method.resolvedRequestType!, service[method.name]!.requestSerialize, service[method.name]!.requestDeserialize, reference[method.name]!.requestSerialize, reference[method.name]!.requestDeserialize],
        [method.resolvedResponseType!, service[method.name]!.responseSerialize, service[method.name]!.responseDeserialize, reference[method.name]!.responseSerialize, reference[method.name]!.responseDeserialize],
      ] as const;
      for (const [type, serialize, deserialize, refSerialize, refDeserialize] of sides) {
        for (let i = 0; i < 25; i++) {
          const value = i === 0 ? {} : randomMessage(type, rnd);
          const bytes = serialize(value);
          assert.deepEqual(bytes, refSerialize(value), `${serviceName}.${method.name} ${type.name}: bytes of ${JSON.stringify(value)}`);
          assert.deepEqual(deserialize(bytes), refDeserialize(bytes), `${serviceName}.${method.name} ${type.name}: decoded`);
          compared++;
        }
      }
    }
  }
  // Both services, every method, both directions.
  assert.ok(compared >= 2 * 25 * 10, `compared ${compared} messages`);
});

test('a type with no generated codec is refused with what to do', () => {
  assert.throws(() => codecOf('wgmesh.v1.NotInTheProtos'), /no generated codec for wgmesh\.v1\.NotInTheProtos \(run `make proto`\)/);
  assert.throws(() => codecOf('wgmesh.v1'), /no generated codec/, 'a namespace is not a message');
  assert.equal(typeof codecOf('wgmesh.v1.JoinRequest').encode, 'function');
});
