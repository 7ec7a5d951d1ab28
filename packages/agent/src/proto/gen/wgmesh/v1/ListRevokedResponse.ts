// Original file: ../../proto/wgmesh/v1/agent.proto

import type { CertificateInfo as _wgmesh_v1_CertificateInfo, CertificateInfo__Output as _wgmesh_v1_CertificateInfo__Output } from '../../wgmesh/v1/CertificateInfo.js';

export interface ListRevokedResponse {
  'certificates'?: (_wgmesh_v1_CertificateInfo)[];
}

export interface ListRevokedResponse__Output {
  'certificates': (_wgmesh_v1_CertificateInfo__Output)[];
}
