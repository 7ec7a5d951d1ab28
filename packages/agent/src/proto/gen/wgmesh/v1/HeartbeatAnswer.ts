// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { UpdateResponse as _wgmesh_v1_UpdateResponse, UpdateResponse__Output as _wgmesh_v1_UpdateResponse__Output } from '../../wgmesh/v1/UpdateResponse.js';
import type { Long } from '@grpc/proto-loader';

export interface HeartbeatAnswer {
  'seq'?: (number | string | Long);
  'response'?: (_wgmesh_v1_UpdateResponse | null);
  'code'?: (number);
  'message'?: (string);
}

export interface HeartbeatAnswer__Output {
  'seq': (number);
  'response': (_wgmesh_v1_UpdateResponse__Output | null);
  'code': (number);
  'message': (string);
}
