// Original file: ../../proto/wgmesh/v1/agent.proto

import type { CertificateInfo as _wgmesh_v1_CertificateInfo, CertificateInfo__Output as _wgmesh_v1_CertificateInfo__Output } from '../../wgmesh/v1/CertificateInfo.js';

export interface RevokeCertificateResponse {
  'revoked'?: (_wgmesh_v1_CertificateInfo)[];
  'removedMembers'?: (string)[];
}

export interface RevokeCertificateResponse__Output {
  'revoked': (_wgmesh_v1_CertificateInfo__Output)[];
  'removedMembers': (string)[];
}
