/** Defaults of `wgmesh lab`; every one can be overridden through the lab's options. */
export const LAB_DEFAULTS = {
  name: 'wgl',
  underlay: '192.0.2.0/24',
  cidr: '198.18.0.0/16',
  /** Where the private segments behind NAT routers are carved from (a /28 per router). */
  natLan: '198.51.100.0/24',
  mesh: 'lab',
  bootstrapPort: 5000,
  logLevel: 'info',
  /** Mount-namespace files live here, on a private bind mount (see STACK-NOTES). */
  runRoot: '/run/wgmesh-lab',
  /** Per-host state directories, logs and lab.json. */
  stateRoot: '/var/lib/wgmesh-lab',
  /** Inside a host, its state directory is bind-mounted here: the agent's default path. */
  hostStateDir: '/var/lib/wgmesh',
  /** How long `up`/`add` wait for every node to see all its peers. */
  readyTimeoutMs: 90_000,
  /** SIGTERM, then SIGKILL after this long. */
  stopTimeoutMs: 5_000,
  pollIntervalMs: 200,
} as const;

/** What a `wgmesh lab …` hint adds to name this lab: nothing for the default lab, else ` -name LAB`. */
export function nameHint(lab: string): string {
  return lab === LAB_DEFAULTS.name ? '' : ` -name ${lab}`;
}

/** netns and link names are limited to 15 characters: `<LAB>-h<K>` must fit with K ≤ 999. */
export const MAX_LAB_NAME = 8;
/** The interface is `wg<MESH>`; the node commands accept at most 10 characters. */
export const MAX_MESH_NAME = 10;
export const MAX_HOSTS = 250;
/** Each NAT router's private segment: a /28 (the router is .1, its hosts .2, .3, …; 13 at most). */
export const NAT_SEGMENT_PREFIX = 28;
/** The lab's STUN server (for miniupnpd's test) answers on two underlay addresses. */
export const STUN_ADDRESS_COUNT = 2;
/** Its port (and PORT+1, the RFC 5780 alternate). */
export const STUN_PORT = 3478;
/** At most this many bootstraps (h1…hK), each with a member of the lab's etcd cluster: etcd clusters are 1, 3 or 5 members in practice. */
export const MAX_BOOTSTRAPS = 5;
/** etcd's client and peer ports on each bootstrap host's underlay address (etcd's own defaults). */
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** How long the etcd cluster gets to answer healthy on every member. */
export const ETCD_READY_TIMEOUT_MS = 30_000;
/** How long miniupnpd and the STUN server get to be ready (miniupnpd's STUN test alone waits up to 3 s per round). */
export const DAEMON_READY_TIMEOUT_MS = 20_000;
