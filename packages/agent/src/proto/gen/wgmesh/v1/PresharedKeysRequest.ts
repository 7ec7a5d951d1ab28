// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface PresharedKeysRequest {
  'meshName'?: (string);
  'nodeName'?: (string);
  'publicKey'?: (string);
  'nodeSecret'?: (string);
  'peers'?: (string)[];
}

export interface PresharedKeysRequest__Output {
  'meshName': (string);
  'nodeName': (string);
  'publicKey': (string);
  'nodeSecret': (string);
  'peers': (string)[];
}
