// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Long } from '@grpc/proto-loader';

export interface RttSample {
  'peer'?: (string);
  'rttMs'?: (number | string);
  'loss'?: (number | string);
  'measuredAtMs'?: (number | string | Long);
}

export interface RttSample__Output {
  'peer': (string);
  'rttMs': (number);
  'loss': (number);
  'measuredAtMs': (number);
}
