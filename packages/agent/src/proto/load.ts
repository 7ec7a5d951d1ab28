import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_DESCRIPTOR_JSON } from './descriptor.gen.js';
import type { ProtoGrpcType as AgentProto } from './gen/agent.js';
import type { ProtoGrpcType as MeshProto } from './gen/mesh.js';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let loaded: { mesh: MeshProto; agent: AgentProto } | undefined;

/** Loads both services once. This is the only place the untyped loader output is cast. */
export function loadProtos(): { mesh: MeshProto; agent: AgentProto } {
  if (!loaded) {
    // Parsed from proto/*.proto at build time (descriptor.gen.ts), not at every start.
    const definition = protoLoader.fromJSON(JSON.parse(PROTO_DESCRIPTOR_JSON) as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(definition) as unknown;
    loaded = { mesh: pkg as MeshProto, agent: pkg as AgentProto };
  }
  return loaded;
}
