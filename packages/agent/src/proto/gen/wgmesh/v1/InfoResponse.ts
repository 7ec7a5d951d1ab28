// Original file: ../../proto/wgmesh/v1/agent.proto

import type { Endpoint as _wgmesh_v1_Endpoint, Endpoint__Output as _wgmesh_v1_Endpoint__Output } from '../../wgmesh/v1/Endpoint.js';
import type { PeerStatus as _wgmesh_v1_PeerStatus, PeerStatus__Output as _wgmesh_v1_PeerStatus__Output } from '../../wgmesh/v1/PeerStatus.js';
import type { Node as _wgmesh_v1_Node, Node__Output as _wgmesh_v1_Node__Output } from '../../wgmesh/v1/Node.js';
import type { ServiceStatus as _wgmesh_v1_ServiceStatus, ServiceStatus__Output as _wgmesh_v1_ServiceStatus__Output } from '../../wgmesh/v1/ServiceStatus.js';
import type { CertificateRefusal as _wgmesh_v1_CertificateRefusal, CertificateRefusal__Output as _wgmesh_v1_CertificateRefusal__Output } from '../../wgmesh/v1/CertificateRefusal.js';
import type { L2Status as _wgmesh_v1_L2Status, L2Status__Output as _wgmesh_v1_L2Status__Output } from '../../wgmesh/v1/L2Status.js';
import type { Long } from '@grpc/proto-loader';

export interface InfoResponse {
  'meshName'?: (string);
  'meshCidr'?: (string);
  'meshCreatedMs'?: (number | string | Long);
  'nodeName'?: (string);
  'meshIp'?: (string);
  'publicKey'?: (string);
  'interface'?: (string);
  'backend'?: (string);
  'listenPort'?: (number);
  'connected'?: (boolean);
  'revision'?: (number | string | Long);
  'tags'?: ({[key: string]: string});
  'endpoints'?: (_wgmesh_v1_Endpoint)[];
  'behindNat'?: (boolean);
  'peers'?: (_wgmesh_v1_PeerStatus)[];
  'bootstrapAddr'?: (string);
  'isBootstrap'?: (boolean);
  'self'?: (_wgmesh_v1_Node | null);
  'controlError'?: (string);
  'relay'?: (boolean);
  'relayPairs'?: (number);
  'relayedBytes'?: (number | string | Long);
  'bootstrapAddrs'?: (string)[];
  'services'?: (_wgmesh_v1_ServiceStatus)[];
  'certNotAfterMs'?: (number | string | Long);
  'caNotAfterMs'?: (number | string | Long);
  'certSerial'?: (string);
  'certRenewAtMs'?: (number | string | Long);
  'certRenewError'?: (string);
  'certRenewals'?: (number);
  'certDaysLeft'?: (number);
  'caDaysLeft'?: (number);
  'certificateRefusal'?: (_wgmesh_v1_CertificateRefusal | null);
  'l2'?: (_wgmesh_v1_L2Status | null);
}

export interface InfoResponse__Output {
  'meshName': (string);
  'meshCidr': (string);
  'meshCreatedMs': (number);
  'nodeName': (string);
  'meshIp': (string);
  'publicKey': (string);
  'interface': (string);
  'backend': (string);
  'listenPort': (number);
  'connected': (boolean);
  'revision': (number);
  'tags': ({[key: string]: string});
  'endpoints': (_wgmesh_v1_Endpoint__Output)[];
  'behindNat': (boolean);
  'peers': (_wgmesh_v1_PeerStatus__Output)[];
  'bootstrapAddr': (string);
  'isBootstrap': (boolean);
  'self': (_wgmesh_v1_Node__Output | null);
  'controlError': (string);
  'relay': (boolean);
  'relayPairs': (number);
  'relayedBytes': (number);
  'bootstrapAddrs': (string)[];
  'services': (_wgmesh_v1_ServiceStatus__Output)[];
  'certNotAfterMs': (number);
  'caNotAfterMs': (number);
  'certSerial': (string);
  'certRenewAtMs': (number);
  'certRenewError': (string);
  'certRenewals': (number);
  'certDaysLeft': (number);
  'caDaysLeft': (number);
  'certificateRefusal': (_wgmesh_v1_CertificateRefusal__Output | null);
  'l2': (_wgmesh_v1_L2Status__Output | null);
}
