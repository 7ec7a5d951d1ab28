// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface RttSample {
  'peer'?: (string);
  'rttMs'?: (number | string);
  'loss'?: (number | string);
}

export interface RttSample__Output {
  'peer': (string);
  'rttMs': (number);
  'loss': (number);
}
