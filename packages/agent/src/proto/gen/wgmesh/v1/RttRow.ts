// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface RttRow {
  'from'?: (string);
  'to'?: (string);
  'rttMs'?: (number | string);
  'loss'?: (number | string);
}

export interface RttRow__Output {
  'from': (string);
  'to': (string);
  'rttMs': (number);
  'loss': (number);
}
