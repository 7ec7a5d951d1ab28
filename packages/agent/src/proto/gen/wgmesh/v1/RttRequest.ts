// Original file: ../../proto/wgmesh/v1/agent.proto


export interface RttRequest {
  'fresh'?: (boolean);
}

export interface RttRequest__Output {
  'fresh': (boolean);
}
