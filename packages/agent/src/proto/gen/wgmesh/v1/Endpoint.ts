// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { EndpointKind as _wgmesh_v1_EndpointKind, EndpointKind__Output as _wgmesh_v1_EndpointKind__Output } from '../../wgmesh/v1/EndpointKind.js';

export interface Endpoint {
  'ip'?: (string);
  'port'?: (number);
  'kind'?: (_wgmesh_v1_EndpointKind);
}

export interface Endpoint__Output {
  'ip': (string);
  'port': (number);
  'kind': (_wgmesh_v1_EndpointKind__Output);
}
