// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface EnrollResponse {
  'nodeName'?: (string);
  'certPem'?: (string);
  'caPem'?: (string);
  'meshName'?: (string);
  'tags'?: ({[key: string]: string});
}

export interface EnrollResponse__Output {
  'nodeName': (string);
  'certPem': (string);
  'caPem': (string);
  'meshName': (string);
  'tags': ({[key: string]: string});
}
