// Original file: ../../proto/wgmesh/v1/agent.proto


export interface RevokeTokenRequest {
  'id'?: (string);
}

export interface RevokeTokenRequest__Output {
  'id': (string);
}
