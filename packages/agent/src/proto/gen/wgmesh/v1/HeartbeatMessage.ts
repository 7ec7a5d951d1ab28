// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { UpdateRequest as _wgmesh_v1_UpdateRequest, UpdateRequest__Output as _wgmesh_v1_UpdateRequest__Output } from '../../wgmesh/v1/UpdateRequest.js';
import type { Long } from '@grpc/proto-loader';

export interface HeartbeatMessage {
  'seq'?: (number | string | Long);
  'update'?: (_wgmesh_v1_UpdateRequest | null);
}

export interface HeartbeatMessage__Output {
  'seq': (number);
  'update': (_wgmesh_v1_UpdateRequest__Output | null);
}
