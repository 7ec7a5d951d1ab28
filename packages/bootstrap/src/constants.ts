import { RTT_SAMPLES_PER_REPORT, SHARED_LIMITS } from '@wgmesh/agent';

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
  /**
   * Samples per Update taken. Agents send at most RTT_SAMPLES_PER_REPORT at a time (so a report
   * fits in messageMax at any mesh size); agents from before that sent up to 1,024, and their
   * heartbeats must not be refused in a mesh of 257-1,024 nodes.
   */
  rttSamplesMax: Math.max(RTT_SAMPLES_PER_REPORT, 1024),
  /** A node secret is 43 characters; anything much longer is not one. */
  nodeSecretMax: 128,
} as const;
