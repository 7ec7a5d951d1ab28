// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Endpoint as _wgmesh_v1_Endpoint, Endpoint__Output as _wgmesh_v1_Endpoint__Output } from '../../wgmesh/v1/Endpoint.js';

export interface JoinRequest {
  'meshName'?: (string);
  'nodeName'?: (string);
  'publicKey'?: (string);
  'endpoints'?: (_wgmesh_v1_Endpoint)[];
  'tags'?: ({[key: string]: string});
  'listenPort'?: (number);
  'nodeSecret'?: (string);
  'relay'?: (boolean);
  'previousMeshIp'?: (string);
}

export interface JoinRequest__Output {
  'meshName': (string);
  'nodeName': (string);
  'publicKey': (string);
  'endpoints': (_wgmesh_v1_Endpoint__Output)[];
  'tags': ({[key: string]: string});
  'listenPort': (number);
  'nodeSecret': (string);
  'relay': (boolean);
  'previousMeshIp': (string);
}
