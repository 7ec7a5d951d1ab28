// Original file: ../../proto/wgmesh/v1/agent.proto


export interface SetTagRequest {
  'key'?: (string);
  'value'?: (string);
}

export interface SetTagRequest__Output {
  'key': (string);
  'value': (string);
}
