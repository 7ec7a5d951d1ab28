// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface EnrollRequest {
  'token'?: (string);
  'csrPem'?: (string);
}

export interface EnrollRequest__Output {
  'token': (string);
  'csrPem': (string);
}
