// Original file: ../../proto/wgmesh/v1/agent.proto

import type { TokenInfo as _wgmesh_v1_TokenInfo, TokenInfo__Output as _wgmesh_v1_TokenInfo__Output } from '../../wgmesh/v1/TokenInfo.js';

export interface RevokeTokenResponse {
  'info'?: (_wgmesh_v1_TokenInfo | null);
}

export interface RevokeTokenResponse__Output {
  'info': (_wgmesh_v1_TokenInfo__Output | null);
}
