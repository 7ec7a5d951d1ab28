// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Node as _wgmesh_v1_Node, Node__Output as _wgmesh_v1_Node__Output } from '../../wgmesh/v1/Node.js';
import type { MeshL2 as _wgmesh_v1_MeshL2, MeshL2__Output as _wgmesh_v1_MeshL2__Output } from '../../wgmesh/v1/MeshL2.js';
import type { Long } from '@grpc/proto-loader';

export interface JoinResponse {
  'nodeName'?: (string);
  'meshIp'?: (string);
  'meshCidr'?: (string);
  'meshCreatedMs'?: (number | string | Long);
  'revision'?: (number | string | Long);
  'nodes'?: (_wgmesh_v1_Node)[];
  'nodeSecret'?: (string);
  'presharedKeys'?: (boolean);
  'l2'?: (_wgmesh_v1_MeshL2 | null);
}

export interface JoinResponse__Output {
  'nodeName': (string);
  'meshIp': (string);
  'meshCidr': (string);
  'meshCreatedMs': (number);
  'revision': (number);
  'nodes': (_wgmesh_v1_Node__Output)[];
  'nodeSecret': (string);
  'presharedKeys': (boolean);
  'l2': (_wgmesh_v1_MeshL2__Output | null);
}
