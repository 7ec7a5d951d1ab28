/**
 * The original wgmesh's names for our settings (its flags, environment variables and nested
 * config file; /work/shared/ORIGINAL.md, "Flags and their environment variables" and "Config
 * file"), in one table: resolveFlags (parse.ts) reads it, nothing else special-cases a name.
 * Its users bring their scripts, units and config files unchanged.
 */

/**
 * Which commands a name applies to: node commands (bootstrap, join) or clients of a node's local
 * API (info, tags, rtt, rotate-key, ui). The original has one socket setting for each side.
 */
export type CompatScope = 'node' | 'client';

/** One of our flags under the original's names. */
export interface OriginalName {
  /** Our flag it sets (applied where the command has that flag). */
  readonly flag: string;
  /** The original's flag spellings (ours work too). */
  readonly flags?: readonly string[];
  /** The original's environment variables (ours, WGMESH_<FLAG>, work too and win). */
  readonly env?: readonly string[];
  /** Its keys in the original's nested config file, dotted: "bootstrap.grpc-tls.grpc-ca-cert". */
  readonly file?: readonly string[];
  /** Only for these commands (default: every command that takes the flag). */
  readonly scope?: CompatScope;
}

/** A setting of the original that means nothing here: accepted, with a warning saying what replaces it. */
export interface IgnoredName {
  readonly ignored: string;
  readonly type: 'string' | 'bool';
  readonly env: readonly string[];
  readonly file: readonly string[];
  readonly scope: CompatScope;
  /** The warning: why it is ignored and what to use instead. */
  readonly because: string;
}

export type OriginalEntry = OriginalName | IgnoredName;

const TLS = 'bootstrap.grpc-tls.';

export const ORIGINAL_NAMES: readonly OriginalEntry[] = [
  { flag: 'n', flags: ['name'], env: ['WGMESH_MESH_NAME'], file: ['mesh-name'] },
  { flag: 'node-name', file: ['node-name'] },
  // Top-level at 29dbaa3; under bootstrap: in its earlier releases.
  { flag: 'memberlist-file', file: ['memberlist-file', 'bootstrap.memberlist-file'] },
  { flag: 'cidr', env: ['WGMESH_CIDR_RANGE'], file: ['bootstrap.mesh-cidr-range'] },
  { flag: 'cidr-ipam', env: ['WGMESH_CIDR_RANGE_IPAM'], file: ['bootstrap.mesh-ipam-cidr-range'] },
  { flag: 'ip', env: ['WGMESH_MESH_IP'], file: ['bootstrap.node-ip'] },
  { flag: 'grpc-bind-addr', file: ['bootstrap.grpc-bind-addr'] },
  { flag: 'grpc-bind-port', file: ['bootstrap.grpc-bind-port'] },
  { flag: 'grpc-server-key', env: ['WGMESH_SERVER_KEY'], file: [`${TLS}grpc-server-key`] },
  { flag: 'grpc-server-cert', env: ['WGMESH_SERVER_CERT'], file: [`${TLS}grpc-server-cert`] },
  // WGMESH_CA_CERT is also join's own -ca-cert variable: bootstrap has no -ca-cert, join no -grpc-ca-cert.
  { flag: 'grpc-ca-cert', env: ['WGMESH_CA_CERT'], file: [`${TLS}grpc-ca-cert`] },
  { flag: 'grpc-ca-path', env: ['WGMESH_CA_PATH'], file: [`${TLS}grpc-ca-path`] },
  { flag: 'bootstrap-addr', file: ['join.bootstrap-endpoint'] },
  { flag: 'client-key', file: ['join.client-key'] },
  { flag: 'client-cert', file: ['join.client-cert'] },
  { flag: 'ca-cert', file: ['join.ca-cert'] },
  { flag: 'listen-addr', env: ['WGMESH_WIREGUARD_LISTEN_ADDR'], file: ['wireguard.listen-addr'] },
  { flag: 'listen-port', env: ['WGMESH_WIREGUARD_LISTEN_PORT'], file: ['wireguard.listen-port'] },
  { flag: 'socket', scope: 'node', flags: ['agent-grpc-bind-socket'], env: ['WGMESH_AGENT_BIND_SOCKET'], file: ['agent.agent-grpc-bind-socket'] },
  { flag: 'socket-owner', scope: 'node', flags: ['agent-grpc-bind-socket-id'], env: ['WGMESH_AGENT_BIND_SOCKET_ID'], file: ['agent.agent-grpc-bind-socket-id'] },
  { flag: 'socket', scope: 'client', flags: ['agent-grpc-socket'], env: ['WGMESH_AGENT_SOCKET'], file: ['agent.agent-grpc-socket'] },
  { flag: 'http-bind-addr', scope: 'client', file: ['ui.http-bind-addr'] },
  { flag: 'http-bind-port', scope: 'client', file: ['ui.http-bind-port'] },
  {
    ignored: 'mesh-encryption-key', type: 'string', env: ['WGMESH_ENCRYPTION_KEY'], file: ['bootstrap.mesh-encryption-key'], scope: 'node',
    because: 'it keyed the original\'s serf gossip, and there is no gossip here: WireGuard encrypts all mesh traffic, and membership travels over the (m)TLS join service',
  },
  {
    ignored: 'serf-mode-lan', type: 'bool', env: ['WGMESH_SERF_MODE_LAN'], file: ['bootstrap.serf-mode-lan'], scope: 'node',
    because: 'it chose the original\'s serf timing, and there is no serf here: how fast a silent node is marked suspect and failed is set with bootstrap\'s -suspect-after and -failed-after',
  },
];

export function isIgnored(entry: OriginalEntry): entry is IgnoredName {
  return 'ignored' in entry;
}

/** Whether an entry applies to a command of `scope` (no scope: the command takes no original names). */
export function applies(entry: OriginalEntry, scope: CompatScope | undefined): boolean {
  return scope !== undefined && (entry.scope === undefined || entry.scope === scope);
}

/** Every key of the original's config file, dotted, with its entry (for any command: a file is shared). */
export const ORIGINAL_FILE_KEYS: ReadonlyMap<string, OriginalEntry> = new Map(ORIGINAL_NAMES.flatMap((e) => (e.file ?? []).map((k) => [k, e] as const)));

/** The sections of the original's file ("bootstrap", "bootstrap.grpc-tls", …): mappings of keys. */
export const ORIGINAL_FILE_SECTIONS: ReadonlySet<string> = new Set(
  [...ORIGINAL_FILE_KEYS.keys()].flatMap((k) => {
    const parts = k.split('.');
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
  }),
);
