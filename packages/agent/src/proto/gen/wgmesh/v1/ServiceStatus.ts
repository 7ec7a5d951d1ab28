// Original file: ../../proto/wgmesh/v1/agent.proto


export interface ServiceStatus {
  'name'?: (string);
  'node'?: (string);
  'meshIp'?: (string);
  'port'?: (number);
  'tags'?: ({[key: string]: string});
}

export interface ServiceStatus__Output {
  'name': (string);
  'node': (string);
  'meshIp': (string);
  'port': (number);
  'tags': ({[key: string]: string});
}
