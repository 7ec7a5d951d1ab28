export const DEFAULTS = {
  meshName: 'wgmesh',
  cidr: '10.232.0.0/16',
  selfIp: '10.232.1.1',
  grpcBindAddr: '0.0.0.0',
  grpcPort: 5000,
  stateDir: '/var/lib/wgmesh',
  /** Watch deltas kept in memory for resuming streams; older resumes get a snapshot. */
  historyLimit: 4096,
} as const;

export const LIMITS = {
  meshNameMax: 10,
  nodeNameMax: 63,
  endpointsMax: 16,
  tagsMax: 32,
  tagKeyMax: 63,
  tagValueMax: 255,
  rttSamplesMax: 1024,
  /** A node secret is 43 characters; anything much longer is not one. */
  nodeSecretMax: 128,
  /** Largest request the join service accepts, bytes. */
  messageMax: 64 * 1024,
} as const;
