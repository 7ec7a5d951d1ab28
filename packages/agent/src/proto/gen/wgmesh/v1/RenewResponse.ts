// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface RenewResponse {
  'certPem'?: (string);
  'caPem'?: (string);
}

export interface RenewResponse__Output {
  'certPem': (string);
  'caPem': (string);
}
