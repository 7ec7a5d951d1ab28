// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface RenewRequest {
  'nodeName'?: (string);
  'csrPem'?: (string);
}

export interface RenewRequest__Output {
  'nodeName': (string);
  'csrPem': (string);
}
