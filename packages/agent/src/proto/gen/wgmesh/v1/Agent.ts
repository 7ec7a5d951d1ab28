// Original file: ../../proto/wgmesh/v1/agent.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CreateTokenRequest as _wgmesh_v1_CreateTokenRequest, CreateTokenRequest__Output as _wgmesh_v1_CreateTokenRequest__Output } from '../../wgmesh/v1/CreateTokenRequest.js';
import type { CreateTokenResponse as _wgmesh_v1_CreateTokenResponse, CreateTokenResponse__Output as _wgmesh_v1_CreateTokenResponse__Output } from '../../wgmesh/v1/CreateTokenResponse.js';
import type { DeleteTagRequest as _wgmesh_v1_DeleteTagRequest, DeleteTagRequest__Output as _wgmesh_v1_DeleteTagRequest__Output } from '../../wgmesh/v1/DeleteTagRequest.js';
import type { InfoRequest as _wgmesh_v1_InfoRequest, InfoRequest__Output as _wgmesh_v1_InfoRequest__Output } from '../../wgmesh/v1/InfoRequest.js';
import type { InfoResponse as _wgmesh_v1_InfoResponse, InfoResponse__Output as _wgmesh_v1_InfoResponse__Output } from '../../wgmesh/v1/InfoResponse.js';
import type { ListRevokedRequest as _wgmesh_v1_ListRevokedRequest, ListRevokedRequest__Output as _wgmesh_v1_ListRevokedRequest__Output } from '../../wgmesh/v1/ListRevokedRequest.js';
import type { ListRevokedResponse as _wgmesh_v1_ListRevokedResponse, ListRevokedResponse__Output as _wgmesh_v1_ListRevokedResponse__Output } from '../../wgmesh/v1/ListRevokedResponse.js';
import type { ListTokensRequest as _wgmesh_v1_ListTokensRequest, ListTokensRequest__Output as _wgmesh_v1_ListTokensRequest__Output } from '../../wgmesh/v1/ListTokensRequest.js';
import type { ListTokensResponse as _wgmesh_v1_ListTokensResponse, ListTokensResponse__Output as _wgmesh_v1_ListTokensResponse__Output } from '../../wgmesh/v1/ListTokensResponse.js';
import type { NodesRequest as _wgmesh_v1_NodesRequest, NodesRequest__Output as _wgmesh_v1_NodesRequest__Output } from '../../wgmesh/v1/NodesRequest.js';
import type { NodesResponse as _wgmesh_v1_NodesResponse, NodesResponse__Output as _wgmesh_v1_NodesResponse__Output } from '../../wgmesh/v1/NodesResponse.js';
import type { RevokeCertificateRequest as _wgmesh_v1_RevokeCertificateRequest, RevokeCertificateRequest__Output as _wgmesh_v1_RevokeCertificateRequest__Output } from '../../wgmesh/v1/RevokeCertificateRequest.js';
import type { RevokeCertificateResponse as _wgmesh_v1_RevokeCertificateResponse, RevokeCertificateResponse__Output as _wgmesh_v1_RevokeCertificateResponse__Output } from '../../wgmesh/v1/RevokeCertificateResponse.js';
import type { RevokeTokenRequest as _wgmesh_v1_RevokeTokenRequest, RevokeTokenRequest__Output as _wgmesh_v1_RevokeTokenRequest__Output } from '../../wgmesh/v1/RevokeTokenRequest.js';
import type { RevokeTokenResponse as _wgmesh_v1_RevokeTokenResponse, RevokeTokenResponse__Output as _wgmesh_v1_RevokeTokenResponse__Output } from '../../wgmesh/v1/RevokeTokenResponse.js';
import type { RotateKeyRequest as _wgmesh_v1_RotateKeyRequest, RotateKeyRequest__Output as _wgmesh_v1_RotateKeyRequest__Output } from '../../wgmesh/v1/RotateKeyRequest.js';
import type { RotateKeyResponse as _wgmesh_v1_RotateKeyResponse, RotateKeyResponse__Output as _wgmesh_v1_RotateKeyResponse__Output } from '../../wgmesh/v1/RotateKeyResponse.js';
import type { RttRequest as _wgmesh_v1_RttRequest, RttRequest__Output as _wgmesh_v1_RttRequest__Output } from '../../wgmesh/v1/RttRequest.js';
import type { RttResponse as _wgmesh_v1_RttResponse, RttResponse__Output as _wgmesh_v1_RttResponse__Output } from '../../wgmesh/v1/RttResponse.js';
import type { SetTagRequest as _wgmesh_v1_SetTagRequest, SetTagRequest__Output as _wgmesh_v1_SetTagRequest__Output } from '../../wgmesh/v1/SetTagRequest.js';
import type { TagsResponse as _wgmesh_v1_TagsResponse, TagsResponse__Output as _wgmesh_v1_TagsResponse__Output } from '../../wgmesh/v1/TagsResponse.js';

export interface AgentClient extends grpc.Client {
  CreateToken(argument: _wgmesh_v1_CreateTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_CreateTokenResponse__Output>): grpc.ClientUnaryCall;
  CreateToken(argument: _wgmesh_v1_CreateTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_CreateTokenResponse__Output>): grpc.ClientUnaryCall;
  CreateToken(argument: _wgmesh_v1_CreateTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_CreateTokenResponse__Output>): grpc.ClientUnaryCall;
  CreateToken(argument: _wgmesh_v1_CreateTokenRequest, callback: grpc.requestCallback<_wgmesh_v1_CreateTokenResponse__Output>): grpc.ClientUnaryCall;
  createToken(argument: _wgmesh_v1_CreateTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_CreateTokenResponse__Output>): grpc.ClientUnaryCall;
  createToken(argument: _wgmesh_v1_CreateTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_CreateTokenResponse__Output>): grpc.ClientUnaryCall;
  createToken(argument: _wgmesh_v1_CreateTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_CreateTokenResponse__Output>): grpc.ClientUnaryCall;
  createToken(argument: _wgmesh_v1_CreateTokenRequest, callback: grpc.requestCallback<_wgmesh_v1_CreateTokenResponse__Output>): grpc.ClientUnaryCall;
  
  DeleteTag(argument: _wgmesh_v1_DeleteTagRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  DeleteTag(argument: _wgmesh_v1_DeleteTagRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  DeleteTag(argument: _wgmesh_v1_DeleteTagRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  DeleteTag(argument: _wgmesh_v1_DeleteTagRequest, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  deleteTag(argument: _wgmesh_v1_DeleteTagRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  deleteTag(argument: _wgmesh_v1_DeleteTagRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  deleteTag(argument: _wgmesh_v1_DeleteTagRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  deleteTag(argument: _wgmesh_v1_DeleteTagRequest, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  
  Info(argument: _wgmesh_v1_InfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_InfoResponse__Output>): grpc.ClientUnaryCall;
  Info(argument: _wgmesh_v1_InfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_InfoResponse__Output>): grpc.ClientUnaryCall;
  Info(argument: _wgmesh_v1_InfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_InfoResponse__Output>): grpc.ClientUnaryCall;
  Info(argument: _wgmesh_v1_InfoRequest, callback: grpc.requestCallback<_wgmesh_v1_InfoResponse__Output>): grpc.ClientUnaryCall;
  info(argument: _wgmesh_v1_InfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_InfoResponse__Output>): grpc.ClientUnaryCall;
  info(argument: _wgmesh_v1_InfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_InfoResponse__Output>): grpc.ClientUnaryCall;
  info(argument: _wgmesh_v1_InfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_InfoResponse__Output>): grpc.ClientUnaryCall;
  info(argument: _wgmesh_v1_InfoRequest, callback: grpc.requestCallback<_wgmesh_v1_InfoResponse__Output>): grpc.ClientUnaryCall;
  
  ListRevoked(argument: _wgmesh_v1_ListRevokedRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_ListRevokedResponse__Output>): grpc.ClientUnaryCall;
  ListRevoked(argument: _wgmesh_v1_ListRevokedRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_ListRevokedResponse__Output>): grpc.ClientUnaryCall;
  ListRevoked(argument: _wgmesh_v1_ListRevokedRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_ListRevokedResponse__Output>): grpc.ClientUnaryCall;
  ListRevoked(argument: _wgmesh_v1_ListRevokedRequest, callback: grpc.requestCallback<_wgmesh_v1_ListRevokedResponse__Output>): grpc.ClientUnaryCall;
  listRevoked(argument: _wgmesh_v1_ListRevokedRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_ListRevokedResponse__Output>): grpc.ClientUnaryCall;
  listRevoked(argument: _wgmesh_v1_ListRevokedRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_ListRevokedResponse__Output>): grpc.ClientUnaryCall;
  listRevoked(argument: _wgmesh_v1_ListRevokedRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_ListRevokedResponse__Output>): grpc.ClientUnaryCall;
  listRevoked(argument: _wgmesh_v1_ListRevokedRequest, callback: grpc.requestCallback<_wgmesh_v1_ListRevokedResponse__Output>): grpc.ClientUnaryCall;
  
  ListTokens(argument: _wgmesh_v1_ListTokensRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_ListTokensResponse__Output>): grpc.ClientUnaryCall;
  ListTokens(argument: _wgmesh_v1_ListTokensRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_ListTokensResponse__Output>): grpc.ClientUnaryCall;
  ListTokens(argument: _wgmesh_v1_ListTokensRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_ListTokensResponse__Output>): grpc.ClientUnaryCall;
  ListTokens(argument: _wgmesh_v1_ListTokensRequest, callback: grpc.requestCallback<_wgmesh_v1_ListTokensResponse__Output>): grpc.ClientUnaryCall;
  listTokens(argument: _wgmesh_v1_ListTokensRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_ListTokensResponse__Output>): grpc.ClientUnaryCall;
  listTokens(argument: _wgmesh_v1_ListTokensRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_ListTokensResponse__Output>): grpc.ClientUnaryCall;
  listTokens(argument: _wgmesh_v1_ListTokensRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_ListTokensResponse__Output>): grpc.ClientUnaryCall;
  listTokens(argument: _wgmesh_v1_ListTokensRequest, callback: grpc.requestCallback<_wgmesh_v1_ListTokensResponse__Output>): grpc.ClientUnaryCall;
  
  Nodes(argument: _wgmesh_v1_NodesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_NodesResponse__Output>): grpc.ClientUnaryCall;
  Nodes(argument: _wgmesh_v1_NodesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_NodesResponse__Output>): grpc.ClientUnaryCall;
  Nodes(argument: _wgmesh_v1_NodesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_NodesResponse__Output>): grpc.ClientUnaryCall;
  Nodes(argument: _wgmesh_v1_NodesRequest, callback: grpc.requestCallback<_wgmesh_v1_NodesResponse__Output>): grpc.ClientUnaryCall;
  nodes(argument: _wgmesh_v1_NodesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_NodesResponse__Output>): grpc.ClientUnaryCall;
  nodes(argument: _wgmesh_v1_NodesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_NodesResponse__Output>): grpc.ClientUnaryCall;
  nodes(argument: _wgmesh_v1_NodesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_NodesResponse__Output>): grpc.ClientUnaryCall;
  nodes(argument: _wgmesh_v1_NodesRequest, callback: grpc.requestCallback<_wgmesh_v1_NodesResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeCertificate(argument: _wgmesh_v1_RevokeCertificateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RevokeCertificateResponse__Output>): grpc.ClientUnaryCall;
  RevokeCertificate(argument: _wgmesh_v1_RevokeCertificateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RevokeCertificateResponse__Output>): grpc.ClientUnaryCall;
  RevokeCertificate(argument: _wgmesh_v1_RevokeCertificateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RevokeCertificateResponse__Output>): grpc.ClientUnaryCall;
  RevokeCertificate(argument: _wgmesh_v1_RevokeCertificateRequest, callback: grpc.requestCallback<_wgmesh_v1_RevokeCertificateResponse__Output>): grpc.ClientUnaryCall;
  revokeCertificate(argument: _wgmesh_v1_RevokeCertificateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RevokeCertificateResponse__Output>): grpc.ClientUnaryCall;
  revokeCertificate(argument: _wgmesh_v1_RevokeCertificateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RevokeCertificateResponse__Output>): grpc.ClientUnaryCall;
  revokeCertificate(argument: _wgmesh_v1_RevokeCertificateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RevokeCertificateResponse__Output>): grpc.ClientUnaryCall;
  revokeCertificate(argument: _wgmesh_v1_RevokeCertificateRequest, callback: grpc.requestCallback<_wgmesh_v1_RevokeCertificateResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeToken(argument: _wgmesh_v1_RevokeTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RevokeTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _wgmesh_v1_RevokeTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RevokeTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _wgmesh_v1_RevokeTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RevokeTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _wgmesh_v1_RevokeTokenRequest, callback: grpc.requestCallback<_wgmesh_v1_RevokeTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _wgmesh_v1_RevokeTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RevokeTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _wgmesh_v1_RevokeTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RevokeTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _wgmesh_v1_RevokeTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RevokeTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _wgmesh_v1_RevokeTokenRequest, callback: grpc.requestCallback<_wgmesh_v1_RevokeTokenResponse__Output>): grpc.ClientUnaryCall;
  
  RotateKey(argument: _wgmesh_v1_RotateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _wgmesh_v1_RotateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _wgmesh_v1_RotateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _wgmesh_v1_RotateKeyRequest, callback: grpc.requestCallback<_wgmesh_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _wgmesh_v1_RotateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _wgmesh_v1_RotateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _wgmesh_v1_RotateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _wgmesh_v1_RotateKeyRequest, callback: grpc.requestCallback<_wgmesh_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  
  Rtt(argument: _wgmesh_v1_RttRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  Rtt(argument: _wgmesh_v1_RttRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  Rtt(argument: _wgmesh_v1_RttRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  Rtt(argument: _wgmesh_v1_RttRequest, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  rtt(argument: _wgmesh_v1_RttRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  rtt(argument: _wgmesh_v1_RttRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  rtt(argument: _wgmesh_v1_RttRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  rtt(argument: _wgmesh_v1_RttRequest, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  
  SetTag(argument: _wgmesh_v1_SetTagRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  SetTag(argument: _wgmesh_v1_SetTagRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  SetTag(argument: _wgmesh_v1_SetTagRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  SetTag(argument: _wgmesh_v1_SetTagRequest, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  setTag(argument: _wgmesh_v1_SetTagRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  setTag(argument: _wgmesh_v1_SetTagRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  setTag(argument: _wgmesh_v1_SetTagRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  setTag(argument: _wgmesh_v1_SetTagRequest, callback: grpc.requestCallback<_wgmesh_v1_TagsResponse__Output>): grpc.ClientUnaryCall;
  
  Watch(argument: _wgmesh_v1_InfoRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_wgmesh_v1_InfoResponse__Output>;
  Watch(argument: _wgmesh_v1_InfoRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_wgmesh_v1_InfoResponse__Output>;
  watch(argument: _wgmesh_v1_InfoRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_wgmesh_v1_InfoResponse__Output>;
  watch(argument: _wgmesh_v1_InfoRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_wgmesh_v1_InfoResponse__Output>;
  
}

export interface AgentHandlers extends grpc.UntypedServiceImplementation {
  CreateToken: grpc.handleUnaryCall<_wgmesh_v1_CreateTokenRequest__Output, _wgmesh_v1_CreateTokenResponse>;
  
  DeleteTag: grpc.handleUnaryCall<_wgmesh_v1_DeleteTagRequest__Output, _wgmesh_v1_TagsResponse>;
  
  Info: grpc.handleUnaryCall<_wgmesh_v1_InfoRequest__Output, _wgmesh_v1_InfoResponse>;
  
  ListRevoked: grpc.handleUnaryCall<_wgmesh_v1_ListRevokedRequest__Output, _wgmesh_v1_ListRevokedResponse>;
  
  ListTokens: grpc.handleUnaryCall<_wgmesh_v1_ListTokensRequest__Output, _wgmesh_v1_ListTokensResponse>;
  
  Nodes: grpc.handleUnaryCall<_wgmesh_v1_NodesRequest__Output, _wgmesh_v1_NodesResponse>;
  
  RevokeCertificate: grpc.handleUnaryCall<_wgmesh_v1_RevokeCertificateRequest__Output, _wgmesh_v1_RevokeCertificateResponse>;
  
  RevokeToken: grpc.handleUnaryCall<_wgmesh_v1_RevokeTokenRequest__Output, _wgmesh_v1_RevokeTokenResponse>;
  
  RotateKey: grpc.handleUnaryCall<_wgmesh_v1_RotateKeyRequest__Output, _wgmesh_v1_RotateKeyResponse>;
  
  Rtt: grpc.handleUnaryCall<_wgmesh_v1_RttRequest__Output, _wgmesh_v1_RttResponse>;
  
  SetTag: grpc.handleUnaryCall<_wgmesh_v1_SetTagRequest__Output, _wgmesh_v1_TagsResponse>;
  
  Watch: grpc.handleServerStreamingCall<_wgmesh_v1_InfoRequest__Output, _wgmesh_v1_InfoResponse>;
  
}

export interface AgentDefinition extends grpc.ServiceDefinition {
  CreateToken: MethodDefinition<_wgmesh_v1_CreateTokenRequest, _wgmesh_v1_CreateTokenResponse, _wgmesh_v1_CreateTokenRequest__Output, _wgmesh_v1_CreateTokenResponse__Output>
  DeleteTag: MethodDefinition<_wgmesh_v1_DeleteTagRequest, _wgmesh_v1_TagsResponse, _wgmesh_v1_DeleteTagRequest__Output, _wgmesh_v1_TagsResponse__Output>
  Info: MethodDefinition<_wgmesh_v1_InfoRequest, _wgmesh_v1_InfoResponse, _wgmesh_v1_InfoRequest__Output, _wgmesh_v1_InfoResponse__Output>
  ListRevoked: MethodDefinition<_wgmesh_v1_ListRevokedRequest, _wgmesh_v1_ListRevokedResponse, _wgmesh_v1_ListRevokedRequest__Output, _wgmesh_v1_ListRevokedResponse__Output>
  ListTokens: MethodDefinition<_wgmesh_v1_ListTokensRequest, _wgmesh_v1_ListTokensResponse, _wgmesh_v1_ListTokensRequest__Output, _wgmesh_v1_ListTokensResponse__Output>
  Nodes: MethodDefinition<_wgmesh_v1_NodesRequest, _wgmesh_v1_NodesResponse, _wgmesh_v1_NodesRequest__Output, _wgmesh_v1_NodesResponse__Output>
  RevokeCertificate: MethodDefinition<_wgmesh_v1_RevokeCertificateRequest, _wgmesh_v1_RevokeCertificateResponse, _wgmesh_v1_RevokeCertificateRequest__Output, _wgmesh_v1_RevokeCertificateResponse__Output>
  RevokeToken: MethodDefinition<_wgmesh_v1_RevokeTokenRequest, _wgmesh_v1_RevokeTokenResponse, _wgmesh_v1_RevokeTokenRequest__Output, _wgmesh_v1_RevokeTokenResponse__Output>
  RotateKey: MethodDefinition<_wgmesh_v1_RotateKeyRequest, _wgmesh_v1_RotateKeyResponse, _wgmesh_v1_RotateKeyRequest__Output, _wgmesh_v1_RotateKeyResponse__Output>
  Rtt: MethodDefinition<_wgmesh_v1_RttRequest, _wgmesh_v1_RttResponse, _wgmesh_v1_RttRequest__Output, _wgmesh_v1_RttResponse__Output>
  SetTag: MethodDefinition<_wgmesh_v1_SetTagRequest, _wgmesh_v1_TagsResponse, _wgmesh_v1_SetTagRequest__Output, _wgmesh_v1_TagsResponse__Output>
  Watch: MethodDefinition<_wgmesh_v1_InfoRequest, _wgmesh_v1_InfoResponse, _wgmesh_v1_InfoRequest__Output, _wgmesh_v1_InfoResponse__Output>
}
