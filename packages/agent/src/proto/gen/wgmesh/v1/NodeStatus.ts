// Original file: ../../proto/wgmesh/v1/mesh.proto

export const NodeStatus = {
  NODE_STATUS_UNSPECIFIED: 'NODE_STATUS_UNSPECIFIED',
  NODE_STATUS_ALIVE: 'NODE_STATUS_ALIVE',
  NODE_STATUS_SUSPECT: 'NODE_STATUS_SUSPECT',
  NODE_STATUS_FAILED: 'NODE_STATUS_FAILED',
  NODE_STATUS_LEFT: 'NODE_STATUS_LEFT',
} as const;

export type NodeStatus =
  | 'NODE_STATUS_UNSPECIFIED'
  | 0
  | 'NODE_STATUS_ALIVE'
  | 1
  | 'NODE_STATUS_SUSPECT'
  | 2
  | 'NODE_STATUS_FAILED'
  | 3
  | 'NODE_STATUS_LEFT'
  | 4

export type NodeStatus__Output = typeof NodeStatus[keyof typeof NodeStatus]
