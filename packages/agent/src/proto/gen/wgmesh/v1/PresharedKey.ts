// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface PresharedKey {
  'peer'?: (string);
  'presharedKey'?: (string);
}

export interface PresharedKey__Output {
  'peer': (string);
  'presharedKey': (string);
}
