export const DEFAULTS = {
  meshName: 'wgmesh',
  cidr: '10.232.0.0/16',
  selfIp: '10.232.1.1',
  grpcBindAddr: '0.0.0.0',
  grpcPort: 5000,
  stateDir: '/var/lib/wgmesh',
  /** Watch deltas kept in memory for resuming streams; older resumes get a snapshot. */
  historyLimit: 4096,
  /**
   * A watcher that has this many live changes (or bytes of them) sent and not yet flushed to its
   * connection is cut off with RESOURCE_EXHAUSTED and resumes from its revision on reconnect.
   * Counted beyond what the connection took (the HTTP/2 window, socket buffers, 16 messages in
   * grpc-js), and never counting the snapshot or replay a stream starts with: a 10,000-node
   * snapshot (a few MB, one event) to a healthy watcher is not cut off. 512 changes or 256 KiB
   * is seconds of changes for a watcher on even a slow link, and below historyLimit, so the
   * reconnect replays what was dropped instead of sending a snapshot.
   */
  watchQueueMaxEvents: 512,
  watchQueueMaxBytes: 256 * 1024,
} as const;

export const LIMITS = {
  meshNameMax: 10,
  nodeNameMax: 63,
  endpointsMax: 16,
  tagsMax: 32,
  tagKeyMax: 63,
  tagValueMax: 255,
  rttSamplesMax: 1024,
  /** Largest request the join service accepts, bytes. */
  messageMax: 64 * 1024,
} as const;
