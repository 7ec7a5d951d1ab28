// Original file: ../../proto/wgmesh/v1/mesh.proto

export const EndpointKind = {
  ENDPOINT_KIND_UNSPECIFIED: 'ENDPOINT_KIND_UNSPECIFIED',
  ENDPOINT_KIND_LAN: 'ENDPOINT_KIND_LAN',
  ENDPOINT_KIND_OBSERVED: 'ENDPOINT_KIND_OBSERVED',
  ENDPOINT_KIND_STUN: 'ENDPOINT_KIND_STUN',
  ENDPOINT_KIND_CONFIGURED: 'ENDPOINT_KIND_CONFIGURED',
} as const;

export type EndpointKind =
  | 'ENDPOINT_KIND_UNSPECIFIED'
  | 0
  | 'ENDPOINT_KIND_LAN'
  | 1
  | 'ENDPOINT_KIND_OBSERVED'
  | 2
  | 'ENDPOINT_KIND_STUN'
  | 3
  | 'ENDPOINT_KIND_CONFIGURED'
  | 4

export type EndpointKind__Output = typeof EndpointKind[keyof typeof EndpointKind]
