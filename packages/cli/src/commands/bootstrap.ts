import { createBootstrapNode } from '@wgmesh/bootstrap/node';
import { DEFAULTS } from '@wgmesh/bootstrap/constants';
import { LIVENESS_DEFAULTS } from '@wgmesh/bootstrap/members/liveness';
import { parsePrefix, prefixContains } from '@wgmesh/bootstrap/ipam/ipam';
import { formatHelp, resolveCommandFlags, UsageError, type FlagSpec } from '../flags/parse.js';
import { checkMeshName, checkRoot, interrupted, makeLogger, NODE_FLAGS, nodeInit, nodeName, runNode, wgDriverFactory } from './node-common.js';
import { printBootstrapSummary } from './summary.js';
import type { CommandRuntime } from '../run.js';
import { refuseTlsWithDev, refuseTwoCaSources, serverTlsFromFlags, TLS_SERVER_FLAGS } from './tls.js';
import { ETCD_FLAGS, etcdStoreInitFromFlags } from './etcd-flags.js';
import { L2_BOOTSTRAP_FLAGS, l2NodeFromFlags, meshL2FromFlags } from './l2-flags.js';

export const BOOTSTRAP_FLAGS: FlagSpec[] = [
  { name: 'n', type: 'string', value: 'MESH', default: DEFAULTS.meshName, help: 'mesh name (1-10 characters; the interface is wg<MESH>)' },
  { name: 'cidr', type: 'string', value: 'CIDR', default: DEFAULTS.cidr, help: 'mesh network, IPv4 or IPv6' },
  { name: 'cidr-ipam', type: 'string', value: 'CIDR', help: 'hand out node IPs only from this sub-range of -cidr' },
  { name: 'ip', type: 'string', value: 'IP', default: DEFAULTS.selfIp, help: 'this bootstrap\'s own mesh IP' },
  { name: 'grpc-bind-addr', type: 'string', value: 'IP', default: DEFAULTS.grpcBindAddr, help: 'address of the join service' },
  { name: 'grpc-bind-port', type: 'int', value: 'PORT', default: DEFAULTS.grpcPort, help: 'TCP port of the join service' },
  { name: 'stun-port', type: 'int', value: 'PORT', help: 'UDP port of the embedded STUN responder (default: the gRPC port number; 0: off)' },
  { name: 'suspect-after', type: 'duration', value: 'DURATION', default: LIVENESS_DEFAULTS.suspectAfterMs, help: 'a node silent this long is marked suspect' },
  { name: 'failed-after', type: 'duration', value: 'DURATION', default: LIVENESS_DEFAULTS.failedAfterMs, help: 'a node silent this long is marked failed' },
  { name: 'reap-after', type: 'duration', value: 'DURATION', default: LIVENESS_DEFAULTS.reapAfterMs, help: 'a failed node silent this long is removed from the mesh' },
  {
    name: 'new-mesh', type: 'bool', default: false,
    help: 'start a new mesh although this state dir was used before (its private.key or agent.json exists) and its bootstrap.json is missing: every node must join again and gets a new mesh IP. Not needed on a first start; refused while bootstrap.json exists',
  },
  {
    name: 'relay', type: 'bool', default: true,
    help: 'relay for nodes that have no direct path to each other (kernel forwarding on the wg interface, member-to-member traffic only; needs iptables). -relay=false: do not',
  },
  {
    name: 'psk', type: 'bool', default: false,
    help: 'give every pair of nodes its own WireGuard preshared key (post-quantum protection of the tunnels: a recorded handshake stays sealed even if X25519 falls). ' +
      'Each node fetches its pairs\' keys from the bootstrap (over mTLS without -dev); they are never in the membership other nodes see. ' +
      'Keys derive from a secret kept in <state-dir>/<mesh>/psk-secret (in etcd with -store etcd) and change when either node\'s key does',
  },
  {
    name: 'store', type: 'string', value: 'file|etcd', default: 'file',
    help: 'where the mesh\'s members and IPs live: file (<state-dir>/<mesh>/bootstrap.json and the journal of changes beside it, bootstrap.journal; this bootstrap alone) or etcd ' +
      '(shared by every bootstrap of the mesh: give each its own -ip, the same -n, -cidr and -etcd-* flags; agents list them all with -bootstrap-addr)',
  },
  ...L2_BOOTSTRAP_FLAGS,
  ...ETCD_FLAGS,
  ...TLS_SERVER_FLAGS,
  ...NODE_FLAGS,
];

const USAGE = 'wgmesh bootstrap [-dev] [-psk] [-n MESH] [-cidr CIDR] [-ip IP] [-grpc-bind-addr IP] [-grpc-bind-port PORT] [-store etcd -etcd-endpoints URL,…] [-l2 [-l2-vni VNI] [-l2-port PORT]] [TLS flags]';
const DESCRIPTION = `Starts a mesh: this node's WireGuard interface, and the join service other nodes join through.
Runs in the foreground until SIGINT/SIGTERM. Without -dev, TLS certificates are required
(make them with \`wgmesh ca\`). A bootstrap asks no router for a port mapping (join's -port-mapping):
other nodes must reach it directly, so give it a public address or forward its ports yourself.
With -store etcd, any number of bootstraps serve one mesh: IPs are taken in etcd transactions (never
twice), every bootstrap fans out every change, one of them (an etcd leader key under a lease) runs
failure detection, and one that cannot reach etcd refuses joins and updates with UNAVAILABLE.`;

export async function runBootstrap(argv: string[], env: NodeJS.ProcessEnv, runtime: CommandRuntime = {}): Promise<number> {
  const { values, help } = resolveCommandFlags('bootstrap', BOOTSTRAP_FLAGS, argv, env, 'node');
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, BOOTSTRAP_FLAGS, 'node'));
    return 0;
  }
  const mesh = String(values.n);
  checkMeshName(mesh);
  const cidr = parsePrefix(String(values.cidr), '-cidr');
  const selfIp = String(values.ip);
  if (!prefixContains(cidr, selfIp)) throw new UsageError(`-ip ${selfIp} is not inside -cidr ${cidr.text}; pick an address of the mesh network`);
  const store = String(values.store);
  if (store !== 'file' && store !== 'etcd') throw new UsageError(`-store ${store}: choose file or etcd`);
  const etcd = store === 'etcd' ? etcdStoreInitFromFlags(values, mesh, cidr.text) : undefined;
  if (!etcd && (values['etcd-endpoints'] as string[] | undefined)?.length) throw new UsageError('-etcd-endpoints is given but -store is file: add -store etcd to keep the mesh in etcd');
  const meshL2 = meshL2FromFlags(values, mesh, store);
  const l2 = l2NodeFromFlags(values);
  const init = nodeInit(values, mesh, nodeName(values));
  const dev = Boolean(values.dev);
  if (dev && values['ca-key']) throw new UsageError('-ca-key signs certificates for the TLS join service: it cannot be used with -dev');
  if (dev && values['cert-lifetime']) throw new UsageError('-cert-lifetime is the validity of the certificates a bootstrap with -ca-key signs: it cannot be used with -dev');
  refuseTlsWithDev(values, TLS_SERVER_FLAGS);
  refuseTwoCaSources(values);
  const tls = dev ? undefined : await serverTlsFromFlags(values);
  checkRoot('bootstrap');

  const logger = makeLogger(values);
  const node = createBootstrapNode({ wg: wgDriverFactory(values, logger), logger }, {
    ...init,
    cidr: cidr.text,
    ...(etcd ? { etcd } : {}),
    ...(values['cidr-ipam'] ? { ipamRange: String(values['cidr-ipam']) } : {}),
    selfIp,
    grpcBindAddr: String(values['grpc-bind-addr']),
    grpcPort: Number(values['grpc-bind-port']),
    ...(values['stun-port'] !== undefined ? { stunPort: Number(values['stun-port']) } : {}),
    liveness: { suspectAfterMs: Number(values['suspect-after']), failedAfterMs: Number(values['failed-after']), reapAfterMs: Number(values['reap-after']) },
    newMesh: Boolean(values['new-mesh']),
    presharedKeys: Boolean(values.psk),
    relay: values.relay === false ? 'off' : 'if-able',
    ...(tls ? { tls } : {}),
    ...(meshL2 ? { meshL2 } : {}),
    ...(l2 ? { l2 } : {}),
  });
  return runNode(node, logger, {
    explain: (err, signal) => (signal ? interrupted(signal, errorText(err)) : err instanceof Error ? err : new Error(String(err))),
    stopping: () => {},
    started: () => printBootstrapSummary(node.bootstrap!, { dev, socket: String(values.socket) }),
  }, runtime);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
