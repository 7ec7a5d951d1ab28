// Original file: ../../proto/wgmesh/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface CertificateInfo {
  'name'?: (string);
  'serial'?: (string);
  'issuedMs'?: (number | string | Long);
  'notAfterMs'?: (number | string | Long);
  'revokedMs'?: (number | string | Long);
  'source'?: (string);
}

export interface CertificateInfo__Output {
  'name': (string);
  'serial': (string);
  'issuedMs': (number);
  'notAfterMs': (number);
  'revokedMs': (number);
  'source': (string);
}
