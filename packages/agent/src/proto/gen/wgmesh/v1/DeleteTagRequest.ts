// Original file: ../../proto/wgmesh/v1/agent.proto


export interface DeleteTagRequest {
  'key'?: (string);
}

export interface DeleteTagRequest__Output {
  'key': (string);
}
