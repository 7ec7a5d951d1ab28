import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Endpoint as _wgmesh_v1_Endpoint, Endpoint__Output as _wgmesh_v1_Endpoint__Output } from './wgmesh/v1/Endpoint.js';
import type { EnrollRequest as _wgmesh_v1_EnrollRequest, EnrollRequest__Output as _wgmesh_v1_EnrollRequest__Output } from './wgmesh/v1/EnrollRequest.js';
import type { EnrollResponse as _wgmesh_v1_EnrollResponse, EnrollResponse__Output as _wgmesh_v1_EnrollResponse__Output } from './wgmesh/v1/EnrollResponse.js';
import type { HeartbeatAnswer as _wgmesh_v1_HeartbeatAnswer, HeartbeatAnswer__Output as _wgmesh_v1_HeartbeatAnswer__Output } from './wgmesh/v1/HeartbeatAnswer.js';
import type { HeartbeatMessage as _wgmesh_v1_HeartbeatMessage, HeartbeatMessage__Output as _wgmesh_v1_HeartbeatMessage__Output } from './wgmesh/v1/HeartbeatMessage.js';
import type { JoinRequest as _wgmesh_v1_JoinRequest, JoinRequest__Output as _wgmesh_v1_JoinRequest__Output } from './wgmesh/v1/JoinRequest.js';
import type { JoinResponse as _wgmesh_v1_JoinResponse, JoinResponse__Output as _wgmesh_v1_JoinResponse__Output } from './wgmesh/v1/JoinResponse.js';
import type { LeaveRequest as _wgmesh_v1_LeaveRequest, LeaveRequest__Output as _wgmesh_v1_LeaveRequest__Output } from './wgmesh/v1/LeaveRequest.js';
import type { LeaveResponse as _wgmesh_v1_LeaveResponse, LeaveResponse__Output as _wgmesh_v1_LeaveResponse__Output } from './wgmesh/v1/LeaveResponse.js';
import type { MeshClient as _wgmesh_v1_MeshClient, MeshDefinition as _wgmesh_v1_MeshDefinition } from './wgmesh/v1/Mesh.js';
import type { MeshL2 as _wgmesh_v1_MeshL2, MeshL2__Output as _wgmesh_v1_MeshL2__Output } from './wgmesh/v1/MeshL2.js';
import type { Node as _wgmesh_v1_Node, Node__Output as _wgmesh_v1_Node__Output } from './wgmesh/v1/Node.js';
import type { NodeRemoved as _wgmesh_v1_NodeRemoved, NodeRemoved__Output as _wgmesh_v1_NodeRemoved__Output } from './wgmesh/v1/NodeRemoved.js';
import type { PresharedKey as _wgmesh_v1_PresharedKey, PresharedKey__Output as _wgmesh_v1_PresharedKey__Output } from './wgmesh/v1/PresharedKey.js';
import type { PresharedKeysRequest as _wgmesh_v1_PresharedKeysRequest, PresharedKeysRequest__Output as _wgmesh_v1_PresharedKeysRequest__Output } from './wgmesh/v1/PresharedKeysRequest.js';
import type { PresharedKeysResponse as _wgmesh_v1_PresharedKeysResponse, PresharedKeysResponse__Output as _wgmesh_v1_PresharedKeysResponse__Output } from './wgmesh/v1/PresharedKeysResponse.js';
import type { RelayedPeer as _wgmesh_v1_RelayedPeer, RelayedPeer__Output as _wgmesh_v1_RelayedPeer__Output } from './wgmesh/v1/RelayedPeer.js';
import type { RenewRequest as _wgmesh_v1_RenewRequest, RenewRequest__Output as _wgmesh_v1_RenewRequest__Output } from './wgmesh/v1/RenewRequest.js';
import type { RenewResponse as _wgmesh_v1_RenewResponse, RenewResponse__Output as _wgmesh_v1_RenewResponse__Output } from './wgmesh/v1/RenewResponse.js';
import type { RttMatrixRequest as _wgmesh_v1_RttMatrixRequest, RttMatrixRequest__Output as _wgmesh_v1_RttMatrixRequest__Output } from './wgmesh/v1/RttMatrixRequest.js';
import type { RttResponse as _wgmesh_v1_RttResponse, RttResponse__Output as _wgmesh_v1_RttResponse__Output } from './wgmesh/v1/RttResponse.js';
import type { RttRow as _wgmesh_v1_RttRow, RttRow__Output as _wgmesh_v1_RttRow__Output } from './wgmesh/v1/RttRow.js';
import type { RttSample as _wgmesh_v1_RttSample, RttSample__Output as _wgmesh_v1_RttSample__Output } from './wgmesh/v1/RttSample.js';
import type { RttWanted as _wgmesh_v1_RttWanted, RttWanted__Output as _wgmesh_v1_RttWanted__Output } from './wgmesh/v1/RttWanted.js';
import type { Snapshot as _wgmesh_v1_Snapshot, Snapshot__Output as _wgmesh_v1_Snapshot__Output } from './wgmesh/v1/Snapshot.js';
import type { UpdateRequest as _wgmesh_v1_UpdateRequest, UpdateRequest__Output as _wgmesh_v1_UpdateRequest__Output } from './wgmesh/v1/UpdateRequest.js';
import type { UpdateResponse as _wgmesh_v1_UpdateResponse, UpdateResponse__Output as _wgmesh_v1_UpdateResponse__Output } from './wgmesh/v1/UpdateResponse.js';
import type { WatchBatch as _wgmesh_v1_WatchBatch, WatchBatch__Output as _wgmesh_v1_WatchBatch__Output } from './wgmesh/v1/WatchBatch.js';
import type { WatchEvent as _wgmesh_v1_WatchEvent, WatchEvent__Output as _wgmesh_v1_WatchEvent__Output } from './wgmesh/v1/WatchEvent.js';
import type { WatchRequest as _wgmesh_v1_WatchRequest, WatchRequest__Output as _wgmesh_v1_WatchRequest__Output } from './wgmesh/v1/WatchRequest.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  wgmesh: {
    v1: {
      Endpoint: MessageTypeDefinition<_wgmesh_v1_Endpoint, _wgmesh_v1_Endpoint__Output>
      EndpointKind: EnumTypeDefinition
      EnrollRequest: MessageTypeDefinition<_wgmesh_v1_EnrollRequest, _wgmesh_v1_EnrollRequest__Output>
      EnrollResponse: MessageTypeDefinition<_wgmesh_v1_EnrollResponse, _wgmesh_v1_EnrollResponse__Output>
      HeartbeatAnswer: MessageTypeDefinition<_wgmesh_v1_HeartbeatAnswer, _wgmesh_v1_HeartbeatAnswer__Output>
      HeartbeatMessage: MessageTypeDefinition<_wgmesh_v1_HeartbeatMessage, _wgmesh_v1_HeartbeatMessage__Output>
      JoinRequest: MessageTypeDefinition<_wgmesh_v1_JoinRequest, _wgmesh_v1_JoinRequest__Output>
      JoinResponse: MessageTypeDefinition<_wgmesh_v1_JoinResponse, _wgmesh_v1_JoinResponse__Output>
      LeaveRequest: MessageTypeDefinition<_wgmesh_v1_LeaveRequest, _wgmesh_v1_LeaveRequest__Output>
      LeaveResponse: MessageTypeDefinition<_wgmesh_v1_LeaveResponse, _wgmesh_v1_LeaveResponse__Output>
      Mesh: SubtypeConstructor<typeof grpc.Client, _wgmesh_v1_MeshClient> & { service: _wgmesh_v1_MeshDefinition }
      MeshL2: MessageTypeDefinition<_wgmesh_v1_MeshL2, _wgmesh_v1_MeshL2__Output>
      Node: MessageTypeDefinition<_wgmesh_v1_Node, _wgmesh_v1_Node__Output>
      NodeRemoved: MessageTypeDefinition<_wgmesh_v1_NodeRemoved, _wgmesh_v1_NodeRemoved__Output>
      NodeStatus: EnumTypeDefinition
      PresharedKey: MessageTypeDefinition<_wgmesh_v1_PresharedKey, _wgmesh_v1_PresharedKey__Output>
      PresharedKeysRequest: MessageTypeDefinition<_wgmesh_v1_PresharedKeysRequest, _wgmesh_v1_PresharedKeysRequest__Output>
      PresharedKeysResponse: MessageTypeDefinition<_wgmesh_v1_PresharedKeysResponse, _wgmesh_v1_PresharedKeysResponse__Output>
      RelayedPeer: MessageTypeDefinition<_wgmesh_v1_RelayedPeer, _wgmesh_v1_RelayedPeer__Output>
      RenewRequest: MessageTypeDefinition<_wgmesh_v1_RenewRequest, _wgmesh_v1_RenewRequest__Output>
      RenewResponse: MessageTypeDefinition<_wgmesh_v1_RenewResponse, _wgmesh_v1_RenewResponse__Output>
      RttMatrixRequest: MessageTypeDefinition<_wgmesh_v1_RttMatrixRequest, _wgmesh_v1_RttMatrixRequest__Output>
      RttResponse: MessageTypeDefinition<_wgmesh_v1_RttResponse, _wgmesh_v1_RttResponse__Output>
      RttRow: MessageTypeDefinition<_wgmesh_v1_RttRow, _wgmesh_v1_RttRow__Output>
      RttSample: MessageTypeDefinition<_wgmesh_v1_RttSample, _wgmesh_v1_RttSample__Output>
      RttWanted: MessageTypeDefinition<_wgmesh_v1_RttWanted, _wgmesh_v1_RttWanted__Output>
      Snapshot: MessageTypeDefinition<_wgmesh_v1_Snapshot, _wgmesh_v1_Snapshot__Output>
      UpdateRequest: MessageTypeDefinition<_wgmesh_v1_UpdateRequest, _wgmesh_v1_UpdateRequest__Output>
      UpdateResponse: MessageTypeDefinition<_wgmesh_v1_UpdateResponse, _wgmesh_v1_UpdateResponse__Output>
      WatchBatch: MessageTypeDefinition<_wgmesh_v1_WatchBatch, _wgmesh_v1_WatchBatch__Output>
      WatchEvent: MessageTypeDefinition<_wgmesh_v1_WatchEvent, _wgmesh_v1_WatchEvent__Output>
      WatchRequest: MessageTypeDefinition<_wgmesh_v1_WatchRequest, _wgmesh_v1_WatchRequest__Output>
    }
  }
}

