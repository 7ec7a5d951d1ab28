import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType as AgentProto } from './gen/agent.js';
import type { ProtoGrpcType as MeshProto } from './gen/mesh.js';

// The .proto files live at the repository root; src/ and dist/ are at the same depth.
export const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../proto');

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let loaded: { mesh: MeshProto; agent: AgentProto } | undefined;

/** Loads both services once. This is the only place the untyped loader output is cast. */
export function loadProtos(): { mesh: MeshProto; agent: AgentProto } {
  if (!loaded) {
    const definition = protoLoader.loadSync(['wgmesh/v1/mesh.proto', 'wgmesh/v1/agent.proto'], LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(definition) as unknown;
    loaded = { mesh: pkg as MeshProto, agent: pkg as AgentProto };
  }
  return loaded;
}
