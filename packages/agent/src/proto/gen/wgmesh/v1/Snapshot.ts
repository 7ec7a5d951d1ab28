// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Node as _wgmesh_v1_Node, Node__Output as _wgmesh_v1_Node__Output } from '../../wgmesh/v1/Node.js';

export interface Snapshot {
  'nodes'?: (_wgmesh_v1_Node)[];
}

export interface Snapshot__Output {
  'nodes': (_wgmesh_v1_Node__Output)[];
}
