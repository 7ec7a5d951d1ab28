// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { WatchEvent as _wgmesh_v1_WatchEvent, WatchEvent__Output as _wgmesh_v1_WatchEvent__Output } from '../../wgmesh/v1/WatchEvent.js';

export interface WatchBatch {
  'events'?: (_wgmesh_v1_WatchEvent)[];
}

export interface WatchBatch__Output {
  'events': (_wgmesh_v1_WatchEvent__Output)[];
}
