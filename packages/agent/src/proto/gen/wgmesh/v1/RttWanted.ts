// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Long } from '@grpc/proto-loader';

export interface RttWanted {
  'untilMs'?: (number | string | Long);
}

export interface RttWanted__Output {
  'untilMs': (number);
}
