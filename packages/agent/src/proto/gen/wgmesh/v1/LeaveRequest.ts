// Original file: ../../proto/wgmesh/v1/mesh.proto


export interface LeaveRequest {
  'meshName'?: (string);
  'nodeName'?: (string);
  'publicKey'?: (string);
  'nodeSecret'?: (string);
}

export interface LeaveRequest__Output {
  'meshName': (string);
  'nodeName': (string);
  'publicKey': (string);
  'nodeSecret': (string);
}
