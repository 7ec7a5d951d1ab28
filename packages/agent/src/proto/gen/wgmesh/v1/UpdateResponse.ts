// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Long } from '@grpc/proto-loader';

export interface UpdateResponse {
  'revision'?: (number | string | Long);
  'relayPairs'?: (number);
}

export interface UpdateResponse__Output {
  'revision': (number);
  'relayPairs': (number);
}
