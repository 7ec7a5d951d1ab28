import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AgentClient as _wgmesh_v1_AgentClient, AgentDefinition as _wgmesh_v1_AgentDefinition } from './wgmesh/v1/Agent.js';
import type { CertificateInfo as _wgmesh_v1_CertificateInfo, CertificateInfo__Output as _wgmesh_v1_CertificateInfo__Output } from './wgmesh/v1/CertificateInfo.js';
import type { CertificateRefusal as _wgmesh_v1_CertificateRefusal, CertificateRefusal__Output as _wgmesh_v1_CertificateRefusal__Output } from './wgmesh/v1/CertificateRefusal.js';
import type { CreateTokenRequest as _wgmesh_v1_CreateTokenRequest, CreateTokenRequest__Output as _wgmesh_v1_CreateTokenRequest__Output } from './wgmesh/v1/CreateTokenRequest.js';
import type { CreateTokenResponse as _wgmesh_v1_CreateTokenResponse, CreateTokenResponse__Output as _wgmesh_v1_CreateTokenResponse__Output } from './wgmesh/v1/CreateTokenResponse.js';
import type { DeleteTagRequest as _wgmesh_v1_DeleteTagRequest, DeleteTagRequest__Output as _wgmesh_v1_DeleteTagRequest__Output } from './wgmesh/v1/DeleteTagRequest.js';
import type { Endpoint as _wgmesh_v1_Endpoint, Endpoint__Output as _wgmesh_v1_Endpoint__Output } from './wgmesh/v1/Endpoint.js';
import type { EnrollRequest as _wgmesh_v1_EnrollRequest, EnrollRequest__Output as _wgmesh_v1_EnrollRequest__Output } from './wgmesh/v1/EnrollRequest.js';
import type { EnrollResponse as _wgmesh_v1_EnrollResponse, EnrollResponse__Output as _wgmesh_v1_EnrollResponse__Output } from './wgmesh/v1/EnrollResponse.js';
import type { HeartbeatAnswer as _wgmesh_v1_HeartbeatAnswer, HeartbeatAnswer__Output as _wgmesh_v1_HeartbeatAnswer__Output } from './wgmesh/v1/HeartbeatAnswer.js';
import type { HeartbeatMessage as _wgmesh_v1_HeartbeatMessage, HeartbeatMessage__Output as _wgmesh_v1_HeartbeatMessage__Output } from './wgmesh/v1/HeartbeatMessage.js';
import type { InfoRequest as _wgmesh_v1_InfoRequest, InfoRequest__Output as _wgmesh_v1_InfoRequest__Output } from './wgmesh/v1/InfoRequest.js';
import type { InfoResponse as _wgmesh_v1_InfoResponse, InfoResponse__Output as _wgmesh_v1_InfoResponse__Output } from './wgmesh/v1/InfoResponse.js';
import type { JoinRequest as _wgmesh_v1_JoinRequest, JoinRequest__Output as _wgmesh_v1_JoinRequest__Output } from './wgmesh/v1/JoinRequest.js';
import type { JoinResponse as _wgmesh_v1_JoinResponse, JoinResponse__Output as _wgmesh_v1_JoinResponse__Output } from './wgmesh/v1/JoinResponse.js';
import type { L2Status as _wgmesh_v1_L2Status, L2Status__Output as _wgmesh_v1_L2Status__Output } from './wgmesh/v1/L2Status.js';
import type { LeaveRequest as _wgmesh_v1_LeaveRequest, LeaveRequest__Output as _wgmesh_v1_LeaveRequest__Output } from './wgmesh/v1/LeaveRequest.js';
import type { LeaveResponse as _wgmesh_v1_LeaveResponse, LeaveResponse__Output as _wgmesh_v1_LeaveResponse__Output } from './wgmesh/v1/LeaveResponse.js';
import type { ListRevokedRequest as _wgmesh_v1_ListRevokedRequest, ListRevokedRequest__Output as _wgmesh_v1_ListRevokedRequest__Output } from './wgmesh/v1/ListRevokedRequest.js';
import type { ListRevokedResponse as _wgmesh_v1_ListRevokedResponse, ListRevokedResponse__Output as _wgmesh_v1_ListRevokedResponse__Output } from './wgmesh/v1/ListRevokedResponse.js';
import type { ListTokensRequest as _wgmesh_v1_ListTokensRequest, ListTokensRequest__Output as _wgmesh_v1_ListTokensRequest__Output } from './wgmesh/v1/ListTokensRequest.js';
import type { ListTokensResponse as _wgmesh_v1_ListTokensResponse, ListTokensResponse__Output as _wgmesh_v1_ListTokensResponse__Output } from './wgmesh/v1/ListTokensResponse.js';
import type { MeshClient as _wgmesh_v1_MeshClient, MeshDefinition as _wgmesh_v1_MeshDefinition } from './wgmesh/v1/Mesh.js';
import type { MeshL2 as _wgmesh_v1_MeshL2, MeshL2__Output as _wgmesh_v1_MeshL2__Output } from './wgmesh/v1/MeshL2.js';
import type { Node as _wgmesh_v1_Node, Node__Output as _wgmesh_v1_Node__Output } from './wgmesh/v1/Node.js';
import type { NodeRemoved as _wgmesh_v1_NodeRemoved, NodeRemoved__Output as _wgmesh_v1_NodeRemoved__Output } from './wgmesh/v1/NodeRemoved.js';
import type { NodesRequest as _wgmesh_v1_NodesRequest, NodesRequest__Output as _wgmesh_v1_NodesRequest__Output } from './wgmesh/v1/NodesRequest.js';
import type { NodesResponse as _wgmesh_v1_NodesResponse, NodesResponse__Output as _wgmesh_v1_NodesResponse__Output } from './wgmesh/v1/NodesResponse.js';
import type { PeerStatus as _wgmesh_v1_PeerStatus, PeerStatus__Output as _wgmesh_v1_PeerStatus__Output } from './wgmesh/v1/PeerStatus.js';
import type { PresharedKey as _wgmesh_v1_PresharedKey, PresharedKey__Output as _wgmesh_v1_PresharedKey__Output } from './wgmesh/v1/PresharedKey.js';
import type { PresharedKeysRequest as _wgmesh_v1_PresharedKeysRequest, PresharedKeysRequest__Output as _wgmesh_v1_PresharedKeysRequest__Output } from './wgmesh/v1/PresharedKeysRequest.js';
import type { PresharedKeysResponse as _wgmesh_v1_PresharedKeysResponse, PresharedKeysResponse__Output as _wgmesh_v1_PresharedKeysResponse__Output } from './wgmesh/v1/PresharedKeysResponse.js';
import type { RelayedPeer as _wgmesh_v1_RelayedPeer, RelayedPeer__Output as _wgmesh_v1_RelayedPeer__Output } from './wgmesh/v1/RelayedPeer.js';
import type { RenewRequest as _wgmesh_v1_RenewRequest, RenewRequest__Output as _wgmesh_v1_RenewRequest__Output } from './wgmesh/v1/RenewRequest.js';
import type { RenewResponse as _wgmesh_v1_RenewResponse, RenewResponse__Output as _wgmesh_v1_RenewResponse__Output } from './wgmesh/v1/RenewResponse.js';
import type { RevokeCertificateRequest as _wgmesh_v1_RevokeCertificateRequest, RevokeCertificateRequest__Output as _wgmesh_v1_RevokeCertificateRequest__Output } from './wgmesh/v1/RevokeCertificateRequest.js';
import type { RevokeCertificateResponse as _wgmesh_v1_RevokeCertificateResponse, RevokeCertificateResponse__Output as _wgmesh_v1_RevokeCertificateResponse__Output } from './wgmesh/v1/RevokeCertificateResponse.js';
import type { RevokeTokenRequest as _wgmesh_v1_RevokeTokenRequest, RevokeTokenRequest__Output as _wgmesh_v1_RevokeTokenRequest__Output } from './wgmesh/v1/RevokeTokenRequest.js';
import type { RevokeTokenResponse as _wgmesh_v1_RevokeTokenResponse, RevokeTokenResponse__Output as _wgmesh_v1_RevokeTokenResponse__Output } from './wgmesh/v1/RevokeTokenResponse.js';
import type { RotateKeyRequest as _wgmesh_v1_RotateKeyRequest, RotateKeyRequest__Output as _wgmesh_v1_RotateKeyRequest__Output } from './wgmesh/v1/RotateKeyRequest.js';
import type { RotateKeyResponse as _wgmesh_v1_RotateKeyResponse, RotateKeyResponse__Output as _wgmesh_v1_RotateKeyResponse__Output } from './wgmesh/v1/RotateKeyResponse.js';
import type { RttMatrixRequest as _wgmesh_v1_RttMatrixRequest, RttMatrixRequest__Output as _wgmesh_v1_RttMatrixRequest__Output } from './wgmesh/v1/RttMatrixRequest.js';
import type { RttRequest as _wgmesh_v1_RttRequest, RttRequest__Output as _wgmesh_v1_RttRequest__Output } from './wgmesh/v1/RttRequest.js';
import type { RttResponse as _wgmesh_v1_RttResponse, RttResponse__Output as _wgmesh_v1_RttResponse__Output } from './wgmesh/v1/RttResponse.js';
import type { RttRow as _wgmesh_v1_RttRow, RttRow__Output as _wgmesh_v1_RttRow__Output } from './wgmesh/v1/RttRow.js';
import type { RttSample as _wgmesh_v1_RttSample, RttSample__Output as _wgmesh_v1_RttSample__Output } from './wgmesh/v1/RttSample.js';
import type { RttWanted as _wgmesh_v1_RttWanted, RttWanted__Output as _wgmesh_v1_RttWanted__Output } from './wgmesh/v1/RttWanted.js';
import type { ServiceStatus as _wgmesh_v1_ServiceStatus, ServiceStatus__Output as _wgmesh_v1_ServiceStatus__Output } from './wgmesh/v1/ServiceStatus.js';
import type { SetTagRequest as _wgmesh_v1_SetTagRequest, SetTagRequest__Output as _wgmesh_v1_SetTagRequest__Output } from './wgmesh/v1/SetTagRequest.js';
import type { Snapshot as _wgmesh_v1_Snapshot, Snapshot__Output as _wgmesh_v1_Snapshot__Output } from './wgmesh/v1/Snapshot.js';
import type { TagsResponse as _wgmesh_v1_TagsResponse, TagsResponse__Output as _wgmesh_v1_TagsResponse__Output } from './wgmesh/v1/TagsResponse.js';
import type { TokenInfo as _wgmesh_v1_TokenInfo, TokenInfo__Output as _wgmesh_v1_TokenInfo__Output } from './wgmesh/v1/TokenInfo.js';
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
      Agent: SubtypeConstructor<typeof grpc.Client, _wgmesh_v1_AgentClient> & { service: _wgmesh_v1_AgentDefinition }
      CertificateInfo: MessageTypeDefinition<_wgmesh_v1_CertificateInfo, _wgmesh_v1_CertificateInfo__Output>
      CertificateRefusal: MessageTypeDefinition<_wgmesh_v1_CertificateRefusal, _wgmesh_v1_CertificateRefusal__Output>
      CreateTokenRequest: MessageTypeDefinition<_wgmesh_v1_CreateTokenRequest, _wgmesh_v1_CreateTokenRequest__Output>
      CreateTokenResponse: MessageTypeDefinition<_wgmesh_v1_CreateTokenResponse, _wgmesh_v1_CreateTokenResponse__Output>
      DeleteTagRequest: MessageTypeDefinition<_wgmesh_v1_DeleteTagRequest, _wgmesh_v1_DeleteTagRequest__Output>
      Endpoint: MessageTypeDefinition<_wgmesh_v1_Endpoint, _wgmesh_v1_Endpoint__Output>
      EndpointKind: EnumTypeDefinition
      EnrollRequest: MessageTypeDefinition<_wgmesh_v1_EnrollRequest, _wgmesh_v1_EnrollRequest__Output>
      EnrollResponse: MessageTypeDefinition<_wgmesh_v1_EnrollResponse, _wgmesh_v1_EnrollResponse__Output>
      HeartbeatAnswer: MessageTypeDefinition<_wgmesh_v1_HeartbeatAnswer, _wgmesh_v1_HeartbeatAnswer__Output>
      HeartbeatMessage: MessageTypeDefinition<_wgmesh_v1_HeartbeatMessage, _wgmesh_v1_HeartbeatMessage__Output>
      InfoRequest: MessageTypeDefinition<_wgmesh_v1_InfoRequest, _wgmesh_v1_InfoRequest__Output>
      InfoResponse: MessageTypeDefinition<_wgmesh_v1_InfoResponse, _wgmesh_v1_InfoResponse__Output>
      JoinRequest: MessageTypeDefinition<_wgmesh_v1_JoinRequest, _wgmesh_v1_JoinRequest__Output>
      JoinResponse: MessageTypeDefinition<_wgmesh_v1_JoinResponse, _wgmesh_v1_JoinResponse__Output>
      L2Status: MessageTypeDefinition<_wgmesh_v1_L2Status, _wgmesh_v1_L2Status__Output>
      LeaveRequest: MessageTypeDefinition<_wgmesh_v1_LeaveRequest, _wgmesh_v1_LeaveRequest__Output>
      LeaveResponse: MessageTypeDefinition<_wgmesh_v1_LeaveResponse, _wgmesh_v1_LeaveResponse__Output>
      ListRevokedRequest: MessageTypeDefinition<_wgmesh_v1_ListRevokedRequest, _wgmesh_v1_ListRevokedRequest__Output>
      ListRevokedResponse: MessageTypeDefinition<_wgmesh_v1_ListRevokedResponse, _wgmesh_v1_ListRevokedResponse__Output>
      ListTokensRequest: MessageTypeDefinition<_wgmesh_v1_ListTokensRequest, _wgmesh_v1_ListTokensRequest__Output>
      ListTokensResponse: MessageTypeDefinition<_wgmesh_v1_ListTokensResponse, _wgmesh_v1_ListTokensResponse__Output>
      Mesh: SubtypeConstructor<typeof grpc.Client, _wgmesh_v1_MeshClient> & { service: _wgmesh_v1_MeshDefinition }
      MeshL2: MessageTypeDefinition<_wgmesh_v1_MeshL2, _wgmesh_v1_MeshL2__Output>
      Node: MessageTypeDefinition<_wgmesh_v1_Node, _wgmesh_v1_Node__Output>
      NodeRemoved: MessageTypeDefinition<_wgmesh_v1_NodeRemoved, _wgmesh_v1_NodeRemoved__Output>
      NodeStatus: EnumTypeDefinition
      NodesRequest: MessageTypeDefinition<_wgmesh_v1_NodesRequest, _wgmesh_v1_NodesRequest__Output>
      NodesResponse: MessageTypeDefinition<_wgmesh_v1_NodesResponse, _wgmesh_v1_NodesResponse__Output>
      PeerStatus: MessageTypeDefinition<_wgmesh_v1_PeerStatus, _wgmesh_v1_PeerStatus__Output>
      PresharedKey: MessageTypeDefinition<_wgmesh_v1_PresharedKey, _wgmesh_v1_PresharedKey__Output>
      PresharedKeysRequest: MessageTypeDefinition<_wgmesh_v1_PresharedKeysRequest, _wgmesh_v1_PresharedKeysRequest__Output>
      PresharedKeysResponse: MessageTypeDefinition<_wgmesh_v1_PresharedKeysResponse, _wgmesh_v1_PresharedKeysResponse__Output>
      RelayedPeer: MessageTypeDefinition<_wgmesh_v1_RelayedPeer, _wgmesh_v1_RelayedPeer__Output>
      RenewRequest: MessageTypeDefinition<_wgmesh_v1_RenewRequest, _wgmesh_v1_RenewRequest__Output>
      RenewResponse: MessageTypeDefinition<_wgmesh_v1_RenewResponse, _wgmesh_v1_RenewResponse__Output>
      RevokeCertificateRequest: MessageTypeDefinition<_wgmesh_v1_RevokeCertificateRequest, _wgmesh_v1_RevokeCertificateRequest__Output>
      RevokeCertificateResponse: MessageTypeDefinition<_wgmesh_v1_RevokeCertificateResponse, _wgmesh_v1_RevokeCertificateResponse__Output>
      RevokeTokenRequest: MessageTypeDefinition<_wgmesh_v1_RevokeTokenRequest, _wgmesh_v1_RevokeTokenRequest__Output>
      RevokeTokenResponse: MessageTypeDefinition<_wgmesh_v1_RevokeTokenResponse, _wgmesh_v1_RevokeTokenResponse__Output>
      RotateKeyRequest: MessageTypeDefinition<_wgmesh_v1_RotateKeyRequest, _wgmesh_v1_RotateKeyRequest__Output>
      RotateKeyResponse: MessageTypeDefinition<_wgmesh_v1_RotateKeyResponse, _wgmesh_v1_RotateKeyResponse__Output>
      RttMatrixRequest: MessageTypeDefinition<_wgmesh_v1_RttMatrixRequest, _wgmesh_v1_RttMatrixRequest__Output>
      RttRequest: MessageTypeDefinition<_wgmesh_v1_RttRequest, _wgmesh_v1_RttRequest__Output>
      RttResponse: MessageTypeDefinition<_wgmesh_v1_RttResponse, _wgmesh_v1_RttResponse__Output>
      RttRow: MessageTypeDefinition<_wgmesh_v1_RttRow, _wgmesh_v1_RttRow__Output>
      RttSample: MessageTypeDefinition<_wgmesh_v1_RttSample, _wgmesh_v1_RttSample__Output>
      RttWanted: MessageTypeDefinition<_wgmesh_v1_RttWanted, _wgmesh_v1_RttWanted__Output>
      ServiceStatus: MessageTypeDefinition<_wgmesh_v1_ServiceStatus, _wgmesh_v1_ServiceStatus__Output>
      SetTagRequest: MessageTypeDefinition<_wgmesh_v1_SetTagRequest, _wgmesh_v1_SetTagRequest__Output>
      Snapshot: MessageTypeDefinition<_wgmesh_v1_Snapshot, _wgmesh_v1_Snapshot__Output>
      TagsResponse: MessageTypeDefinition<_wgmesh_v1_TagsResponse, _wgmesh_v1_TagsResponse__Output>
      TokenInfo: MessageTypeDefinition<_wgmesh_v1_TokenInfo, _wgmesh_v1_TokenInfo__Output>
      UpdateRequest: MessageTypeDefinition<_wgmesh_v1_UpdateRequest, _wgmesh_v1_UpdateRequest__Output>
      UpdateResponse: MessageTypeDefinition<_wgmesh_v1_UpdateResponse, _wgmesh_v1_UpdateResponse__Output>
      WatchBatch: MessageTypeDefinition<_wgmesh_v1_WatchBatch, _wgmesh_v1_WatchBatch__Output>
      WatchEvent: MessageTypeDefinition<_wgmesh_v1_WatchEvent, _wgmesh_v1_WatchEvent__Output>
      WatchRequest: MessageTypeDefinition<_wgmesh_v1_WatchRequest, _wgmesh_v1_WatchRequest__Output>
    }
  }
}

