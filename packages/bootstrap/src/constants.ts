import { SHARED_LIMITS } from '@wgmesh/agent';

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

/** The shared sizes (node name, tags, message) come from the agent, which enforces them too. */
export const LIMITS = {
  ...SHARED_LIMITS,
  meshNameMax: 10,
  endpointsMax: 16,
  rttSamplesMax: 1024,
} as const;
