// Original file: ../../proto/wgmesh/v1/mesh.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { EnrollRequest as _wgmesh_v1_EnrollRequest, EnrollRequest__Output as _wgmesh_v1_EnrollRequest__Output } from '../../wgmesh/v1/EnrollRequest.js';
import type { EnrollResponse as _wgmesh_v1_EnrollResponse, EnrollResponse__Output as _wgmesh_v1_EnrollResponse__Output } from '../../wgmesh/v1/EnrollResponse.js';
import type { HeartbeatAnswer as _wgmesh_v1_HeartbeatAnswer, HeartbeatAnswer__Output as _wgmesh_v1_HeartbeatAnswer__Output } from '../../wgmesh/v1/HeartbeatAnswer.js';
import type { HeartbeatMessage as _wgmesh_v1_HeartbeatMessage, HeartbeatMessage__Output as _wgmesh_v1_HeartbeatMessage__Output } from '../../wgmesh/v1/HeartbeatMessage.js';
import type { JoinRequest as _wgmesh_v1_JoinRequest, JoinRequest__Output as _wgmesh_v1_JoinRequest__Output } from '../../wgmesh/v1/JoinRequest.js';
import type { JoinResponse as _wgmesh_v1_JoinResponse, JoinResponse__Output as _wgmesh_v1_JoinResponse__Output } from '../../wgmesh/v1/JoinResponse.js';
import type { LeaveRequest as _wgmesh_v1_LeaveRequest, LeaveRequest__Output as _wgmesh_v1_LeaveRequest__Output } from '../../wgmesh/v1/LeaveRequest.js';
import type { LeaveResponse as _wgmesh_v1_LeaveResponse, LeaveResponse__Output as _wgmesh_v1_LeaveResponse__Output } from '../../wgmesh/v1/LeaveResponse.js';
import type { PresharedKeysRequest as _wgmesh_v1_PresharedKeysRequest, PresharedKeysRequest__Output as _wgmesh_v1_PresharedKeysRequest__Output } from '../../wgmesh/v1/PresharedKeysRequest.js';
import type { PresharedKeysResponse as _wgmesh_v1_PresharedKeysResponse, PresharedKeysResponse__Output as _wgmesh_v1_PresharedKeysResponse__Output } from '../../wgmesh/v1/PresharedKeysResponse.js';
import type { RenewRequest as _wgmesh_v1_RenewRequest, RenewRequest__Output as _wgmesh_v1_RenewRequest__Output } from '../../wgmesh/v1/RenewRequest.js';
import type { RenewResponse as _wgmesh_v1_RenewResponse, RenewResponse__Output as _wgmesh_v1_RenewResponse__Output } from '../../wgmesh/v1/RenewResponse.js';
import type { RttMatrixRequest as _wgmesh_v1_RttMatrixRequest, RttMatrixRequest__Output as _wgmesh_v1_RttMatrixRequest__Output } from '../../wgmesh/v1/RttMatrixRequest.js';
import type { RttResponse as _wgmesh_v1_RttResponse, RttResponse__Output as _wgmesh_v1_RttResponse__Output } from '../../wgmesh/v1/RttResponse.js';
import type { UpdateRequest as _wgmesh_v1_UpdateRequest, UpdateRequest__Output as _wgmesh_v1_UpdateRequest__Output } from '../../wgmesh/v1/UpdateRequest.js';
import type { UpdateResponse as _wgmesh_v1_UpdateResponse, UpdateResponse__Output as _wgmesh_v1_UpdateResponse__Output } from '../../wgmesh/v1/UpdateResponse.js';
import type { WatchEvent as _wgmesh_v1_WatchEvent, WatchEvent__Output as _wgmesh_v1_WatchEvent__Output } from '../../wgmesh/v1/WatchEvent.js';
import type { WatchRequest as _wgmesh_v1_WatchRequest, WatchRequest__Output as _wgmesh_v1_WatchRequest__Output } from '../../wgmesh/v1/WatchRequest.js';

export interface MeshClient extends grpc.Client {
  Enroll(argument: _wgmesh_v1_EnrollRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _wgmesh_v1_EnrollRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _wgmesh_v1_EnrollRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _wgmesh_v1_EnrollRequest, callback: grpc.requestCallback<_wgmesh_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _wgmesh_v1_EnrollRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _wgmesh_v1_EnrollRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _wgmesh_v1_EnrollRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _wgmesh_v1_EnrollRequest, callback: grpc.requestCallback<_wgmesh_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  
  Heartbeat(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_wgmesh_v1_HeartbeatMessage, _wgmesh_v1_HeartbeatAnswer__Output>;
  Heartbeat(options?: grpc.CallOptions): grpc.ClientDuplexStream<_wgmesh_v1_HeartbeatMessage, _wgmesh_v1_HeartbeatAnswer__Output>;
  heartbeat(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_wgmesh_v1_HeartbeatMessage, _wgmesh_v1_HeartbeatAnswer__Output>;
  heartbeat(options?: grpc.CallOptions): grpc.ClientDuplexStream<_wgmesh_v1_HeartbeatMessage, _wgmesh_v1_HeartbeatAnswer__Output>;
  
  Join(argument: _wgmesh_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _wgmesh_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _wgmesh_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _wgmesh_v1_JoinRequest, callback: grpc.requestCallback<_wgmesh_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _wgmesh_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _wgmesh_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _wgmesh_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _wgmesh_v1_JoinRequest, callback: grpc.requestCallback<_wgmesh_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  
  Leave(argument: _wgmesh_v1_LeaveRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_LeaveResponse__Output>): grpc.ClientUnaryCall;
  Leave(argument: _wgmesh_v1_LeaveRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_LeaveResponse__Output>): grpc.ClientUnaryCall;
  Leave(argument: _wgmesh_v1_LeaveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_LeaveResponse__Output>): grpc.ClientUnaryCall;
  Leave(argument: _wgmesh_v1_LeaveRequest, callback: grpc.requestCallback<_wgmesh_v1_LeaveResponse__Output>): grpc.ClientUnaryCall;
  leave(argument: _wgmesh_v1_LeaveRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_LeaveResponse__Output>): grpc.ClientUnaryCall;
  leave(argument: _wgmesh_v1_LeaveRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_LeaveResponse__Output>): grpc.ClientUnaryCall;
  leave(argument: _wgmesh_v1_LeaveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_LeaveResponse__Output>): grpc.ClientUnaryCall;
  leave(argument: _wgmesh_v1_LeaveRequest, callback: grpc.requestCallback<_wgmesh_v1_LeaveResponse__Output>): grpc.ClientUnaryCall;
  
  PresharedKeys(argument: _wgmesh_v1_PresharedKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_PresharedKeysResponse__Output>): grpc.ClientUnaryCall;
  PresharedKeys(argument: _wgmesh_v1_PresharedKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_PresharedKeysResponse__Output>): grpc.ClientUnaryCall;
  PresharedKeys(argument: _wgmesh_v1_PresharedKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_PresharedKeysResponse__Output>): grpc.ClientUnaryCall;
  PresharedKeys(argument: _wgmesh_v1_PresharedKeysRequest, callback: grpc.requestCallback<_wgmesh_v1_PresharedKeysResponse__Output>): grpc.ClientUnaryCall;
  presharedKeys(argument: _wgmesh_v1_PresharedKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_PresharedKeysResponse__Output>): grpc.ClientUnaryCall;
  presharedKeys(argument: _wgmesh_v1_PresharedKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_PresharedKeysResponse__Output>): grpc.ClientUnaryCall;
  presharedKeys(argument: _wgmesh_v1_PresharedKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_PresharedKeysResponse__Output>): grpc.ClientUnaryCall;
  presharedKeys(argument: _wgmesh_v1_PresharedKeysRequest, callback: grpc.requestCallback<_wgmesh_v1_PresharedKeysResponse__Output>): grpc.ClientUnaryCall;
  
  Renew(argument: _wgmesh_v1_RenewRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RenewResponse__Output>): grpc.ClientUnaryCall;
  Renew(argument: _wgmesh_v1_RenewRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RenewResponse__Output>): grpc.ClientUnaryCall;
  Renew(argument: _wgmesh_v1_RenewRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RenewResponse__Output>): grpc.ClientUnaryCall;
  Renew(argument: _wgmesh_v1_RenewRequest, callback: grpc.requestCallback<_wgmesh_v1_RenewResponse__Output>): grpc.ClientUnaryCall;
  renew(argument: _wgmesh_v1_RenewRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RenewResponse__Output>): grpc.ClientUnaryCall;
  renew(argument: _wgmesh_v1_RenewRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RenewResponse__Output>): grpc.ClientUnaryCall;
  renew(argument: _wgmesh_v1_RenewRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RenewResponse__Output>): grpc.ClientUnaryCall;
  renew(argument: _wgmesh_v1_RenewRequest, callback: grpc.requestCallback<_wgmesh_v1_RenewResponse__Output>): grpc.ClientUnaryCall;
  
  Rtt(argument: _wgmesh_v1_RttMatrixRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  Rtt(argument: _wgmesh_v1_RttMatrixRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  Rtt(argument: _wgmesh_v1_RttMatrixRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  Rtt(argument: _wgmesh_v1_RttMatrixRequest, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  rtt(argument: _wgmesh_v1_RttMatrixRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  rtt(argument: _wgmesh_v1_RttMatrixRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  rtt(argument: _wgmesh_v1_RttMatrixRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  rtt(argument: _wgmesh_v1_RttMatrixRequest, callback: grpc.requestCallback<_wgmesh_v1_RttResponse__Output>): grpc.ClientUnaryCall;
  
  Update(argument: _wgmesh_v1_UpdateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_UpdateResponse__Output>): grpc.ClientUnaryCall;
  Update(argument: _wgmesh_v1_UpdateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_UpdateResponse__Output>): grpc.ClientUnaryCall;
  Update(argument: _wgmesh_v1_UpdateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_UpdateResponse__Output>): grpc.ClientUnaryCall;
  Update(argument: _wgmesh_v1_UpdateRequest, callback: grpc.requestCallback<_wgmesh_v1_UpdateResponse__Output>): grpc.ClientUnaryCall;
  update(argument: _wgmesh_v1_UpdateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_UpdateResponse__Output>): grpc.ClientUnaryCall;
  update(argument: _wgmesh_v1_UpdateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_wgmesh_v1_UpdateResponse__Output>): grpc.ClientUnaryCall;
  update(argument: _wgmesh_v1_UpdateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_wgmesh_v1_UpdateResponse__Output>): grpc.ClientUnaryCall;
  update(argument: _wgmesh_v1_UpdateRequest, callback: grpc.requestCallback<_wgmesh_v1_UpdateResponse__Output>): grpc.ClientUnaryCall;
  
  Watch(argument: _wgmesh_v1_WatchRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_wgmesh_v1_WatchEvent__Output>;
  Watch(argument: _wgmesh_v1_WatchRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_wgmesh_v1_WatchEvent__Output>;
  watch(argument: _wgmesh_v1_WatchRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_wgmesh_v1_WatchEvent__Output>;
  watch(argument: _wgmesh_v1_WatchRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_wgmesh_v1_WatchEvent__Output>;
  
}

export interface MeshHandlers extends grpc.UntypedServiceImplementation {
  Enroll: grpc.handleUnaryCall<_wgmesh_v1_EnrollRequest__Output, _wgmesh_v1_EnrollResponse>;
  
  Heartbeat: grpc.handleBidiStreamingCall<_wgmesh_v1_HeartbeatMessage__Output, _wgmesh_v1_HeartbeatAnswer>;
  
  Join: grpc.handleUnaryCall<_wgmesh_v1_JoinRequest__Output, _wgmesh_v1_JoinResponse>;
  
  Leave: grpc.handleUnaryCall<_wgmesh_v1_LeaveRequest__Output, _wgmesh_v1_LeaveResponse>;
  
  PresharedKeys: grpc.handleUnaryCall<_wgmesh_v1_PresharedKeysRequest__Output, _wgmesh_v1_PresharedKeysResponse>;
  
  Renew: grpc.handleUnaryCall<_wgmesh_v1_RenewRequest__Output, _wgmesh_v1_RenewResponse>;
  
  Rtt: grpc.handleUnaryCall<_wgmesh_v1_RttMatrixRequest__Output, _wgmesh_v1_RttResponse>;
  
  Update: grpc.handleUnaryCall<_wgmesh_v1_UpdateRequest__Output, _wgmesh_v1_UpdateResponse>;
  
  Watch: grpc.handleServerStreamingCall<_wgmesh_v1_WatchRequest__Output, _wgmesh_v1_WatchEvent>;
  
}

export interface MeshDefinition extends grpc.ServiceDefinition {
  Enroll: MethodDefinition<_wgmesh_v1_EnrollRequest, _wgmesh_v1_EnrollResponse, _wgmesh_v1_EnrollRequest__Output, _wgmesh_v1_EnrollResponse__Output>
  Heartbeat: MethodDefinition<_wgmesh_v1_HeartbeatMessage, _wgmesh_v1_HeartbeatAnswer, _wgmesh_v1_HeartbeatMessage__Output, _wgmesh_v1_HeartbeatAnswer__Output>
  Join: MethodDefinition<_wgmesh_v1_JoinRequest, _wgmesh_v1_JoinResponse, _wgmesh_v1_JoinRequest__Output, _wgmesh_v1_JoinResponse__Output>
  Leave: MethodDefinition<_wgmesh_v1_LeaveRequest, _wgmesh_v1_LeaveResponse, _wgmesh_v1_LeaveRequest__Output, _wgmesh_v1_LeaveResponse__Output>
  PresharedKeys: MethodDefinition<_wgmesh_v1_PresharedKeysRequest, _wgmesh_v1_PresharedKeysResponse, _wgmesh_v1_PresharedKeysRequest__Output, _wgmesh_v1_PresharedKeysResponse__Output>
  Renew: MethodDefinition<_wgmesh_v1_RenewRequest, _wgmesh_v1_RenewResponse, _wgmesh_v1_RenewRequest__Output, _wgmesh_v1_RenewResponse__Output>
  Rtt: MethodDefinition<_wgmesh_v1_RttMatrixRequest, _wgmesh_v1_RttResponse, _wgmesh_v1_RttMatrixRequest__Output, _wgmesh_v1_RttResponse__Output>
  Update: MethodDefinition<_wgmesh_v1_UpdateRequest, _wgmesh_v1_UpdateResponse, _wgmesh_v1_UpdateRequest__Output, _wgmesh_v1_UpdateResponse__Output>
  Watch: MethodDefinition<_wgmesh_v1_WatchRequest, _wgmesh_v1_WatchEvent, _wgmesh_v1_WatchRequest__Output, _wgmesh_v1_WatchEvent__Output>
}
