// Original file: ../../proto/wgmesh/v1/agent.proto


export interface L2Status {
  'up'?: (boolean);
  'bridge'?: (string);
  'vxlan'?: (string);
  'vni'?: (number);
  'port'?: (number);
  'mtu'?: (number);
  'floodEntries'?: (number);
  'bridgeIfs'?: (string)[];
  'address'?: (string);
  'error'?: (string);
}

export interface L2Status__Output {
  'up': (boolean);
  'bridge': (string);
  'vxlan': (string);
  'vni': (number);
  'port': (number);
  'mtu': (number);
  'floodEntries': (number);
  'bridgeIfs': (string)[];
  'address': (string);
  'error': (string);
}
