// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface MeshL2 {
  'enabled'?: (boolean);
  'vni'?: (number);
  'port'?: (number);
}

export interface MeshL2__Output {
  'enabled': (boolean);
  'vni': (number);
  'port': (number);
}
