// Original file: ../../proto/wgmesh/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface CertificateRefusal {
  'state'?: (string);
  'serial'?: (string);
  'sinceMs'?: (number | string | Long);
  'message'?: (string);
}

export interface CertificateRefusal__Output {
  'state': (string);
  'serial': (string);
  'sinceMs': (number);
  'message': (string);
}
