// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Long } from '@grpc/proto-loader';

export interface RttRow {
  'from'?: (string);
  'to'?: (string);
  'rttMs'?: (number | string);
  'loss'?: (number | string);
  'measuredAtMs'?: (number | string | Long);
}

export interface RttRow__Output {
  'from': (string);
  'to': (string);
  'rttMs': (number);
  'loss': (number);
  'measuredAtMs': (number);
}
