// Original file: ../../proto/wgmesh/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface CreateTokenRequest {
  'name'?: (string);
  'ttlMs'?: (number | string | Long);
  'uses'?: (number);
  'tags'?: ({[key: string]: string});
  'addrs'?: (string)[];
}

export interface CreateTokenRequest__Output {
  'name': (string);
  'ttlMs': (number);
  'uses': (number);
  'tags': ({[key: string]: string});
  'addrs': (string)[];
}
