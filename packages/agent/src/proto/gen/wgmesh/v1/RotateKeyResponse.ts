// Original file: ../../proto/wgmesh/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface RotateKeyResponse {
  'previousPublicKey'?: (string);
  'publicKey'?: (string);
  'revision'?: (number | string | Long);
}

export interface RotateKeyResponse__Output {
  'previousPublicKey': (string);
  'publicKey': (string);
  'revision': (number);
}
