// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface RelayedPeer {
  'peer'?: (string);
  'via'?: (string);
}

export interface RelayedPeer__Output {
  'peer': (string);
  'via': (string);
}
