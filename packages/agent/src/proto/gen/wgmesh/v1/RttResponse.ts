// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { RttRow as _wgmesh_v1_RttRow, RttRow__Output as _wgmesh_v1_RttRow__Output } from '../../wgmesh/v1/RttRow.js';

export interface RttResponse {
  'nodes'?: (string)[];
  'rows'?: (_wgmesh_v1_RttRow)[];
  'partial'?: (boolean);
}

export interface RttResponse__Output {
  'nodes': (string)[];
  'rows': (_wgmesh_v1_RttRow__Output)[];
  'partial': (boolean);
}
