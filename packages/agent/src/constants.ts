export const AGENT_DEFAULTS = {
  listenPort: 54540,
  socketPath: '/var/run/wgmesh.sock',
  stateDir: '/var/lib/wgmesh',
  heartbeatMs: 5000,
  fullReconcileMs: 30_000,
  backoffInitialMs: 250,
  /** Cap of the reconnect backoff: a returning bootstrap is found within seconds. */
  backoffMaxMs: 5_000,
  /** Seconds; WireGuard's customary value for keeping NAT mappings open. */
  persistentKeepalive: 25,
  /** A peer WireGuard refused is retried after this, then twice as long each time up to the max. */
  peerRetryInitialMs: 1_000,
  peerRetryMaxMs: 60_000,
} as const;
