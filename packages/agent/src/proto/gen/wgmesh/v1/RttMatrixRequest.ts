// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface RttMatrixRequest {
  'meshName'?: (string);
  'nodeName'?: (string);
  'publicKey'?: (string);
  'nodeSecret'?: (string);
  'fresh'?: (boolean);
}

export interface RttMatrixRequest__Output {
  'meshName': (string);
  'nodeName': (string);
  'publicKey': (string);
  'nodeSecret': (string);
  'fresh': (boolean);
}
