// Original file: ../../proto/wgmesh/v1/agent.proto

import type { Node as _wgmesh_v1_Node, Node__Output as _wgmesh_v1_Node__Output } from '../../wgmesh/v1/Node.js';
import type { Long } from '@grpc/proto-loader';

export interface PeerStatus {
  'node'?: (_wgmesh_v1_Node | null);
  'endpoint'?: (string);
  'latestHandshakeMs'?: (number | string | Long);
  'rxBytes'?: (number | string | Long);
  'txBytes'?: (number | string | Long);
  'rttMs'?: (number | string);
  'loss'?: (number | string);
  'via'?: (string);
  'rttMeasuredAtMs'?: (number | string | Long);
  'rttProbeEveryMs'?: (number);
}

export interface PeerStatus__Output {
  'node': (_wgmesh_v1_Node__Output | null);
  'endpoint': (string);
  'latestHandshakeMs': (number);
  'rxBytes': (number);
  'txBytes': (number);
  'rttMs': (number);
  'loss': (number);
  'via': (string);
  'rttMeasuredAtMs': (number);
  'rttProbeEveryMs': (number);
}
