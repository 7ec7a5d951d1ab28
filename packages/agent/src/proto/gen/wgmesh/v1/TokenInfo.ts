// Original file: ../../proto/wgmesh/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface TokenInfo {
  'id'?: (string);
  'name'?: (string);
  'createdMs'?: (number | string | Long);
  'expiresMs'?: (number | string | Long);
  'uses'?: (number);
  'used'?: (number);
  'tags'?: ({[key: string]: string});
  'revokedMs'?: (number | string | Long);
  'usedBy'?: (string)[];
}

export interface TokenInfo__Output {
  'id': (string);
  'name': (string);
  'createdMs': (number);
  'expiresMs': (number);
  'uses': (number);
  'used': (number);
  'tags': ({[key: string]: string});
  'revokedMs': (number);
  'usedBy': (string)[];
}
