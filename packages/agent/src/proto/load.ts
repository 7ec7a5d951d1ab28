import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import codecRoot from './codecs.gen.js';
import { PROTO_DESCRIPTOR_JSON } from './descriptor.gen.js';
import type { ProtoGrpcType as AgentProto } from './gen/agent.js';
import type { ProtoGrpcType as MeshProto } from './gen/mesh.js';

/** How messages become objects: the options `make proto` gives proto-loader-gen-types, so the generated types hold. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, oneofs: true };
const SERVICES = ['wgmesh.v1.Mesh', 'wgmesh.v1.Agent'] as const;

let loaded: { mesh: MeshProto; agent: AgentProto } | undefined;

/** Loads both services once. This is the only place the untyped loader output is cast. */
export function loadProtos(): { mesh: MeshProto; agent: AgentProto } {
  if (!loaded) {
    // The .proto files were parsed at build time (descriptor.gen.ts). The service definitions are
    // made here, as @grpc/proto-loader makes them, minus the file descriptors it encodes for
    // reflection (which wgmesh does not serve): 3 ms at start instead of 17. The messages are
    // coded by codecs.gen.ts, not by the reflected types (which would generate their code now).
    const root = protobuf.Root.fromJSON(JSON.parse(PROTO_DESCRIPTOR_JSON) as protobuf.INamespace);
    const definition: Record<string, grpc.ServiceDefinition> = {};
    for (const name of SERVICES) definition[name] = serviceDefinition(root.lookupService(name), name);
    const pkg = grpc.loadPackageDefinition(definition) as unknown;
    loaded = { mesh: pkg as MeshProto, agent: pkg as AgentProto };
  }
  return loaded;
}

function serviceDefinition(service: protobuf.Service, fullName: string): grpc.ServiceDefinition {
  const methods: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    methods[method.name] = {
      path: `/${fullName}/${method.name}`,
      requestStream: Boolean(method.requestStream),
      responseStream: Boolean(method.responseStream),
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      // Clients get `join` beside `Join`, as with proto-loader.
      originalName: method.name[0]!.toLowerCase() + method.name.slice(1),
    };
  }
  return methods;
}

/** A message's functions in codecs.gen.ts: protobufjs's own, written out at build time. */
interface MessageCodec {
  encode(message: unknown): protobuf.Writer;
  decode(bytes: Uint8Array): unknown;
  fromObject(object: Record<string, unknown>): unknown;
  toObject(message: unknown, options: protobuf.IConversionOptions): unknown;
}

/** The generated codec of a reflected type, by its full name (.wgmesh.v1.JoinRequest). */
export function codecOf(type: protobuf.Type): MessageCodec {
  let at: unknown = codecRoot;
  for (const part of type.fullName.replace(/^\./, '').split('.')) at = (at as Record<string, unknown> | undefined)?.[part];
  if (typeof (at as MessageCodec | undefined)?.decode !== 'function') throw new Error(`proto: no generated codec for ${type.fullName} (run \`make proto\`)`);
  return at as MessageCodec;
}

function serializer(type: protobuf.Type): (value: unknown) => Buffer {
  const codec = codecOf(type);
  return (value) => Buffer.from(codec.encode(codec.fromObject(value as Record<string, unknown>)).finish());
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => unknown {
  const codec = codecOf(type);
  return (bytes) => codec.toObject(codec.decode(bytes), TO_OBJECT);
}
