// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Endpoint as _wgmesh_v1_Endpoint, Endpoint__Output as _wgmesh_v1_Endpoint__Output } from '../../wgmesh/v1/Endpoint.js';
import type { NodeStatus as _wgmesh_v1_NodeStatus, NodeStatus__Output as _wgmesh_v1_NodeStatus__Output } from '../../wgmesh/v1/NodeStatus.js';
import type { Long } from '@grpc/proto-loader';

export interface Node {
  'name'?: (string);
  'publicKey'?: (string);
  'meshIp'?: (string);
  'endpoints'?: (_wgmesh_v1_Endpoint)[];
  'tags'?: ({[key: string]: string});
  'status'?: (_wgmesh_v1_NodeStatus);
  'joinedAtMs'?: (number | string | Long);
  'lastSeenMs'?: (number | string | Long);
  'statusChangedMs'?: (number | string | Long);
  'isBootstrap'?: (boolean);
  'listenPort'?: (number);
  'relay'?: (boolean);
}

export interface Node__Output {
  'name': (string);
  'publicKey': (string);
  'meshIp': (string);
  'endpoints': (_wgmesh_v1_Endpoint__Output)[];
  'tags': ({[key: string]: string});
  'status': (_wgmesh_v1_NodeStatus__Output);
  'joinedAtMs': (number);
  'lastSeenMs': (number);
  'statusChangedMs': (number);
  'isBootstrap': (boolean);
  'listenPort': (number);
  'relay': (boolean);
}
