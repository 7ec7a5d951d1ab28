// Original file: ../../proto/wgmesh/v1/agent.proto


export interface ListRevokedRequest {
  'all'?: (boolean);
}

export interface ListRevokedRequest__Output {
  'all': (boolean);
}
