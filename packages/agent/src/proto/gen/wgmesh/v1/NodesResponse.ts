// Original file: ../../proto/wgmesh/v1/agent.proto

import type { Node as _wgmesh_v1_Node, Node__Output as _wgmesh_v1_Node__Output } from '../../wgmesh/v1/Node.js';
import type { Long } from '@grpc/proto-loader';

export interface NodesResponse {
  'revision'?: (number | string | Long);
  'nodes'?: (_wgmesh_v1_Node)[];
}

export interface NodesResponse__Output {
  'revision': (number);
  'nodes': (_wgmesh_v1_Node__Output)[];
}
