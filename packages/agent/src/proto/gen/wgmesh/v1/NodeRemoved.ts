// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface NodeRemoved {
  'name'?: (string);
}

export interface NodeRemoved__Output {
  'name': (string);
}
