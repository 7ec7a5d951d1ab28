// Original file: ../../proto/wgmesh/v1/mesh.proto

import type { Snapshot as _wgmesh_v1_Snapshot, Snapshot__Output as _wgmesh_v1_Snapshot__Output } from '../../wgmesh/v1/Snapshot.js';
import type { Node as _wgmesh_v1_Node, Node__Output as _wgmesh_v1_Node__Output } from '../../wgmesh/v1/Node.js';
import type { NodeRemoved as _wgmesh_v1_NodeRemoved, NodeRemoved__Output as _wgmesh_v1_NodeRemoved__Output } from '../../wgmesh/v1/NodeRemoved.js';
import type { RttWanted as _wgmesh_v1_RttWanted, RttWanted__Output as _wgmesh_v1_RttWanted__Output } from '../../wgmesh/v1/RttWanted.js';
import type { WatchBatch as _wgmesh_v1_WatchBatch, WatchBatch__Output as _wgmesh_v1_WatchBatch__Output } from '../../wgmesh/v1/WatchBatch.js';
import type { Long } from '@grpc/proto-loader';

export interface WatchEvent {
  'revision'?: (number | string | Long);
  'snapshot'?: (_wgmesh_v1_Snapshot | null);
  'upsert'?: (_wgmesh_v1_Node | null);
  'remove'?: (_wgmesh_v1_NodeRemoved | null);
  'rttWanted'?: (_wgmesh_v1_RttWanted | null);
  'batch'?: (_wgmesh_v1_WatchBatch | null);
  'event'?: "snapshot"|"upsert"|"remove"|"rttWanted"|"batch";
}

export interface WatchEvent__Output {
  'revision': (number);
  'snapshot'?: (_wgmesh_v1_Snapshot__Output | null);
  'upsert'?: (_wgmesh_v1_Node__Output | null);
  'remove'?: (_wgmesh_v1_NodeRemoved__Output | null);
  'rttWanted'?: (_wgmesh_v1_RttWanted__Output | null);
  'batch'?: (_wgmesh_v1_WatchBatch__Output | null);
  'event'?: "snapshot"|"upsert"|"remove"|"rttWanted"|"batch";
}
