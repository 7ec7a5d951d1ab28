// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { PresharedKey as _wgmesh_v1_PresharedKey, PresharedKey__Output as _wgmesh_v1_PresharedKey__Output } from '../../wgmesh/v1/PresharedKey.js';

export interface PresharedKeysResponse {
  'keys'?: (_wgmesh_v1_PresharedKey)[];
}

export interface PresharedKeysResponse__Output {
  'keys': (_wgmesh_v1_PresharedKey__Output)[];
}
