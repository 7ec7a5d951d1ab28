// Original file: ../../proto/wgmesh/v1/agent.proto


export interface RevokeCertificateRequest {
  'name'?: (string);
  'serial'?: (string);
}

export interface RevokeCertificateRequest__Output {
  'name': (string);
  'serial': (string);
}
