import * as grpc from '@grpc/grpc-js';
import { createAgentNode } from '@wgmesh/agent/node/node';
import { parseHostPort } from '@wgmesh/agent/endpoints/endpoints';
import { decodeToken, type EnrollmentToken } from '@wgmesh/bootstrap/enroll/token';
import type { CertificateFiles } from '@wgmesh/agent/identity/renewer';
import type { NodeInit } from '@wgmesh/agent/node/node';
import { formatHelp, resolveCommandFlags, UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';
import { enrollFiles, loadOrEnroll, makeCsr } from '../enroll/enroll.js';
import { checkMeshName, checkRoot, interrupted, makeLogger, NODE_FLAGS, nodeInit, nodeName, runNode, wgDriverFactory } from './node-common.js';
import { printJoinSummary } from './summary.js';
import type { CommandRuntime } from '../run.js';
import { showJoinProgress } from '../ui/progress.js';
import { clientTlsFromFlags, clientTlsFromPems, refuseTlsWithDev, tlsChannelOptions, TLS_CLIENT_FLAGS } from './tls.js';
import { explainJoinError, explainStopDuringJoin } from './explain.js';
import { L2_NODE_FLAGS, l2NodeFromFlags } from './l2-flags.js';

export const JOIN_FLAGS: FlagSpec[] = [
  { name: 'n', type: 'string', value: 'MESH', help: 'name of the mesh to join (required)' },
  {
    name: 'bootstrap-addr', type: 'list', value: 'HOST:PORT', default: [],
    help: 'the bootstrap\'s join service (required). Give it more than once (or comma-separated) for several; a host name with several addresses counts as several. Each node starts with one picked from its name (so a fleet spreads over them) and moves to the next within seconds when it is unreachable or answers UNAVAILABLE (e.g. it lost its etcd)',
  },
  { name: 'stun-server', type: 'list', value: 'HOST:PORT', default: [], help: 'STUN servers for public-address discovery, tried in order (default: the bootstrap\'s own, on its port over UDP)' },
  {
    name: 'relay', type: 'bool', default: false,
    help: 'offer to relay for nodes that have no direct path to each other; granted when the bootstrap sees this node directly reachable (public address, -listen-addr or a port mapping). Needs iptables',
  },
  {
    name: 'port-mapping', type: 'bool', default: true,
    help: 'ask the router (the default gateway) to forward the WireGuard port with PCP, NAT-PMP or UPnP IGD, in the background, and advertise the mapped public address; renewed while running, deleted on exit. Off with -port-mapping=false, and with -listen-addr (only that address is advertised)',
  },
  {
    name: 'token', type: 'string', value: 'TOKEN',
    help: 'an enrollment token (`wgmesh token create` on a bootstrap): it names the mesh and bootstraps, so no -n, -bootstrap-addr or TLS flags are needed. ' +
      'The key and CSR are made here; the certificate, its key and the CA are kept in -state-dir (0600), and later starts use them',
  },
  ...L2_NODE_FLAGS,
  ...TLS_CLIENT_FLAGS,
  ...NODE_FLAGS,
];

const USAGE = 'wgmesh join [-dev] -n MESH -bootstrap-addr HOST:PORT [-bootstrap-addr HOST:PORT ...] [-ca-cert ca.pem -client-cert c.pem -client-key c-key.pem]\n       wgmesh join -token TOKEN';
const DESCRIPTION = `Joins this machine to a mesh: configures WireGuard with every other node as a peer and keeps
it current. Runs in the foreground until SIGINT/SIGTERM, then leaves the mesh.`;

export async function runJoin(argv: string[], env: NodeJS.ProcessEnv, runtime: CommandRuntime = {}): Promise<number> {
  const { values, help } = resolveCommandFlags('join', JOIN_FLAGS, argv, env, 'node');
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, JOIN_FLAGS, 'node'));
    return 0;
  }
  const dev = Boolean(values.dev);
  const token = values.token ? tokenFromFlags(values) : undefined;
  refuseTlsWithDev(values, TLS_CLIENT_FLAGS);
  if (!values.n && !token) throw new UsageError('-n MESH is required: the name of the mesh to join (the bootstrap prints it)');
  const mesh = token?.mesh ?? String(values.n);
  checkMeshName(mesh);
  const given = values['bootstrap-addr'] as string[];
  const targets = bootstrapTargets(token && !given.length ? [...token.addrs] : given);
  const bootstrapAddr = targets.map((t) => t.given).join(', ');
  const target = targets[0]!;
  let tls: Awaited<ReturnType<typeof clientTlsFromFlags>> | undefined;
  let init: NodeInit;
  // The files of this node's certificate: renewed in place at two thirds of its lifetime.
  let certificates: CertificateFiles | undefined;
  if (token) {
    // A token's name is the one its certificate gets; without one, this node's own.
    const name = token.name ?? nodeName(values);
    init = nodeInit(values, mesh, name);
    checkRoot('join');
    const identity = await loadOrEnroll(token, String(values.token).trim(), init.stateDir, name);
    tls = clientTlsFromPems(identity, target.host, name);
    const files = enrollFiles(init.stateDir, mesh);
    certificates = { cert: files.cert, key: files.key, ca: files.ca };
    init = { ...init, tags: { ...identity.tags, ...init.tags } };
  } else {
    tls = dev ? undefined : await clientTlsFromFlags(values, target.host, values['node-name'] as string | undefined);
    init = nodeInit(values, mesh, nodeName(values, tls?.certName));
    if (tls) certificates = { cert: String(values['client-cert']), key: String(values['client-key']), ca: String(values['ca-cert']) };
    checkRoot('join');
  }

  const l2 = l2NodeFromFlags(values);
  const logger = makeLogger(values);
  const stunServers = values['stun-server'] as string[];
  const node = createAgentNode({ wg: wgDriverFactory(values, logger), logger, makeCsr }, {
    ...init,
    ...(certificates ? { certificates } : {}),
    // Each bootstrap is checked (mTLS) against its own host name.
    bootstrap: targets.map((t) => ({
      address: t.address,
      credentials: tls?.credentials ?? grpc.credentials.createInsecure(),
      ...(tls ? { channelOptions: tlsChannelOptions(t.host) } : {}),
      display: t.given,
    })),
    // Default: the bootstraps' own STUN responders, on their port numbers over UDP.
    stunServers: stunServers.length ? stunServers : targets.map((t) => `${t.host}:${t.port}`),
    relay: values.relay ? 'on' : 'off',
    portMapping: Boolean(values['port-mapping']),
    ...(l2 ? { l2 } : {}),
  });
  const progress = showJoinProgress(node, logger);
  return runNode(node, logger, {
    explain: (err, signal) => (signal ? interrupted(signal, explainStopDuringJoin(err, bootstrapAddr, dev)) : explainJoinError(err, bootstrapAddr, dev)),
    stopping: () => progress.end(),
    started: () => {
      const agent = node.agent!;
      // The RTT prober's first probes start the handshakes; show them coming up, then the summary.
      const handshakes = agent.restoredFromState ? Promise.resolve(progress.end()) : progress.waitForHandshakes(10_000);
      void handshakes.then(() => printJoinSummary(agent, { socket: String(values.socket), dev }));
    },
  }, runtime);
}

/** -token, read; refused with the other ways of saying what -token says (-dev, TLS files, another -n or -node-name). */
export function tokenFromFlags(values: FlagValues): EnrollmentToken {
  let token: EnrollmentToken;
  try {
    token = decodeToken(String(values.token));
  } catch (err) {
    throw new UsageError(`-token: ${(err as Error).message}`);
  }
  if (values.dev) throw new UsageError('-token enrolls for a TLS certificate: it cannot be used with -dev');
  const tlsFlags = ['ca-cert', 'client-cert', 'client-key'].filter((f) => values[f]);
  if (tlsFlags.length) throw new UsageError(`-token brings its own certificate: leave out ${tlsFlags.map((f) => '-' + f).join(', ')}`);
  if (values.n && String(values.n) !== token.mesh) throw new UsageError(`-n ${String(values.n)}: the token is for mesh "${token.mesh}" (leave -n out)`);
  const asked = values['node-name'] as string | undefined;
  if (token.name && asked && asked.toLowerCase() !== token.name) throw new UsageError(`-node-name ${asked}: the token enrolls the name "${token.name}" only (leave -node-name out)`);
  return token;
}

/** One bootstrap as -bootstrap-addr gave it, and as it is dialed (port 5000 when none is given). */
export interface JoinTarget {
  readonly given: string;
  readonly host: string;
  readonly port: number;
  /** HOST:PORT, an IPv6 host in brackets. */
  readonly address: string;
}

/** The -bootstrap-addr values (repeated, or comma-separated), parsed; the same address twice counts once. */
export function bootstrapTargets(given: readonly string[] | undefined): JoinTarget[] {
  if (!given?.length) throw new UsageError('-bootstrap-addr HOST:PORT is required: where the bootstrap\'s join service listens');
  const seen = new Set<string>();
  const targets: JoinTarget[] = [];
  for (const value of given) {
    let parsed: { host: string; port: number };
    try {
      parsed = parseHostPort(value, 5000);
    } catch (err) {
      throw new UsageError(`-bootstrap-addr: ${(err as Error).message}`);
    }
    const address = `${parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host}:${parsed.port}`;
    if (seen.has(address)) continue;
    seen.add(address);
    targets.push({ given: value, ...parsed, address });
  }
  return targets;
}
