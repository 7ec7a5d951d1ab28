import * as grpc from '@grpc/grpc-js';
import type { IConversionOptions, Writer } from 'protobufjs';
import codecRoot from './codecs.gen.js';
import { SERVICE_METHODS } from './descriptor.gen.js';
import { installNodeDecoder, type GeneratedV1 } from './node-decoder.js';
import type { ProtoGrpcType as AgentProto } from './gen/agent.js';
import type { ProtoGrpcType as MeshProto } from './gen/mesh.js';

/** How messages become objects: the options `make proto` gives proto-loader-gen-types, so the generated types hold. */
const TO_OBJECT: IConversionOptions = { longs: Number, enums: String, defaults: true, oneofs: true };

let loaded: { mesh: MeshProto; agent: AgentProto } | undefined;

// Nodes (the membership: every Join answer, snapshot and change) skip the generated codec's
// message objects; see node-decoder.ts.
installNodeDecoder((codecRoot as unknown as { wgmesh: { v1: GeneratedV1 } }).wgmesh.v1);

/** Loads both services once. This is the only place the untyped loader output is cast. */
export function loadProtos(): { mesh: MeshProto; agent: AgentProto } {
  if (!loaded) {
    // The .proto files were parsed at build time: the services' methods (descriptor.gen.ts) and
    // every message's codec as code (codecs.gen.ts). The service definitions are made here, as
    // @grpc/proto-loader makes them, minus the file descriptors it encodes for reflection (which
    // wgmesh does not serve); no protobufjs reflection, and no code generated at run time.
    const definition: Record<string, grpc.ServiceDefinition> = {};
    for (const [name, methods] of Object.entries(SERVICE_METHODS)) definition[name] = serviceDefinition(name, methods);
    const pkg = grpc.loadPackageDefinition(definition) as unknown;
    loaded = { mesh: pkg as MeshProto, agent: pkg as AgentProto };
  }
  return loaded;
}

interface MethodDescription {
  readonly name: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

function serviceDefinition(fullName: string, described: readonly MethodDescription[]): grpc.ServiceDefinition {
  const methods: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of described) {
    const request = codecOf(method.requestType);
    const response = codecOf(method.responseType);
    methods[method.name] = {
      path: `/${fullName}/${method.name}`,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
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
  encode(message: unknown): Writer;
  decode(bytes: Uint8Array): unknown;
  fromObject(object: Record<string, unknown>): unknown;
  toObject(message: unknown, options: IConversionOptions): unknown;
}

/** A message's generated codec, by its full name (wgmesh.v1.JoinRequest). */
export function codecOf(fullName: string): MessageCodec {
  let at: unknown = codecRoot;
  for (const part of fullName.split('.')) at = (at as Record<string, unknown> | undefined)?.[part];
  if (typeof (at as MessageCodec | undefined)?.decode !== 'function') throw new Error(`proto: no generated codec for ${fullName} (run \`make proto\`)`);
  return at as MessageCodec;
}

function serializer(codec: MessageCodec): (value: unknown) => Buffer {
  return (value) => Buffer.from(codec.encode(codec.fromObject(value as Record<string, unknown>)).finish());
}

function deserializer(codec: MessageCodec): (bytes: Buffer) => unknown {
  return (bytes) => codec.toObject(codec.decode(bytes), TO_OBJECT);
}
