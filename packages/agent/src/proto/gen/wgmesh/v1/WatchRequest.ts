// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Long } from '@grpc/proto-loader';

export interface WatchRequest {
  'meshName'?: (string);
  'nodeName'?: (string);
  'publicKey'?: (string);
  'sinceRevision'?: (number | string | Long);
  'nodeSecret'?: (string);
  'batches'?: (boolean);
}

export interface WatchRequest__Output {
  'meshName': (string);
  'nodeName': (string);
  'publicKey': (string);
  'sinceRevision': (number);
  'nodeSecret': (string);
  'batches': (boolean);
}
