// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Endpoint as _wgmesh_v1_Endpoint, Endpoint__Output as _wgmesh_v1_Endpoint__Output } from '../../wgmesh/v1/Endpoint.js';
import type { RttSample as _wgmesh_v1_RttSample, RttSample__Output as _wgmesh_v1_RttSample__Output } from '../../wgmesh/v1/RttSample.js';
import type { RelayedPeer as _wgmesh_v1_RelayedPeer, RelayedPeer__Output as _wgmesh_v1_RelayedPeer__Output } from '../../wgmesh/v1/RelayedPeer.js';

export interface UpdateRequest {
  'meshName'?: (string);
  'nodeName'?: (string);
  'publicKey'?: (string);
  'endpoints'?: (_wgmesh_v1_Endpoint)[];
  'tags'?: ({[key: string]: string});
  'rtt'?: (_wgmesh_v1_RttSample)[];
  'nodeSecret'?: (string);
  'relayed'?: (_wgmesh_v1_RelayedPeer)[];
  'newPublicKey'?: (string);
  'newNodeSecret'?: (string);
}

export interface UpdateRequest__Output {
  'meshName': (string);
  'nodeName': (string);
  'publicKey': (string);
  'endpoints': (_wgmesh_v1_Endpoint__Output)[];
  'tags': ({[key: string]: string});
  'rtt': (_wgmesh_v1_RttSample__Output)[];
  'nodeSecret': (string);
  'relayed': (_wgmesh_v1_RelayedPeer__Output)[];
  'newPublicKey': (string);
  'newNodeSecret': (string);
}
