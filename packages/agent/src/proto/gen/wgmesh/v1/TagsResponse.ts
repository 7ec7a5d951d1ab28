// Original file: ../../proto/wgmesh/v1/agent.proto


export interface TagsResponse {
  'tags'?: ({[key: string]: string});
}

export interface TagsResponse__Output {
  'tags': ({[key: string]: string});
}
