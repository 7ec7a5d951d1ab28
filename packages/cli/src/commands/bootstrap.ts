import path from 'node:path';
import { Bootstrap, DEFAULTS, FileStateStore, LIVENESS_DEFAULTS, registerBootstrapMetrics, prefixContains, parsePrefix } from '@wgmesh/bootstrap';
import { claimSocketPath } from '@wgmesh/agent';
import { formatHelp, resolveFlags, UsageError, type FlagSpec } from '../flags/parse.js';
import {
  checkMeshName, checkRoot, createRtt, endpointDiscovery, startExporter, startMetrics, makeLogger, NODE_FLAGS, nodeName, openNode, parseTags, untilSignal,
} from './node-common.js';
import { printBootstrapSummary } from './summary.js';
import { serverTlsFromFlags, TLS_SERVER_FLAGS } from './tls.js';

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
  ...TLS_SERVER_FLAGS,
  ...NODE_FLAGS,
];

const USAGE = 'wgmesh bootstrap [-dev] [-n MESH] [-cidr CIDR] [-ip IP] [-grpc-bind-addr IP] [-grpc-bind-port PORT] [TLS flags]';
const DESCRIPTION = `Starts a mesh: this node's WireGuard interface, and the join service other nodes join through.
Runs in the foreground until SIGINT/SIGTERM. Without -dev, TLS certificates are required
(make them with \`wgmesh ca\`).`;

export async function runBootstrap(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveFlags(BOOTSTRAP_FLAGS, argv, env);
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, BOOTSTRAP_FLAGS));
    return 0;
  }
  const mesh = String(values.n);
  checkMeshName(mesh);
  const cidr = parsePrefix(String(values.cidr), '-cidr');
  const selfIp = String(values.ip);
  if (!prefixContains(cidr, selfIp)) throw new UsageError(`-ip ${selfIp} is not inside -cidr ${cidr.text}; pick an address of the mesh network`);
  checkRoot('bootstrap');
  await claimSocketPath(String(values.socket));

  const logger = makeLogger(values);
  const tls = values.dev ? undefined : await serverTlsFromFlags(values, logger.child({ component: 'bootstrap:tls' }));
  const { stateDir, listenPort, privateKey, driver } = await openNode(values, mesh, logger);
  const rtt = createRtt(values, logger);
  const discovery = endpointDiscovery(values, listenPort, (ip) => prefixContains(cidr, ip), [], logger);
  const bootstrap = new Bootstrap(
    {
      ...(rtt.prober ? { rtt: rtt.prober } : {}),
      store: new FileStateStore(path.join(stateDir, mesh, 'bootstrap.json')),
      driver,
      logger,
      ...(tls ? { serverCredentials: tls.credentials, authenticator: tls } : {}),
    },
    {
      meshName: mesh,
      nodeName: nodeName(values),
      privateKey,
      cidr: cidr.text,
      ...(values['cidr-ipam'] ? { ipamRange: String(values['cidr-ipam']) } : {}),
      selfIp,
      grpcBindAddr: String(values['grpc-bind-addr']),
      grpcPort: Number(values['grpc-bind-port']),
      listenPort,
      tags: parseTags(values.tags as string[]),
      endpoints: () => discovery.candidates(),
      ...(values['stun-port'] !== undefined ? { stunPort: Number(values['stun-port']) } : {}),
      socketPath: String(values.socket),
      heartbeatMs: Number(values.heartbeat),
      liveness: { suspectAfterMs: Number(values['suspect-after']), failedAfterMs: Number(values['failed-after']), reapAfterMs: Number(values['reap-after']) },
      ...(values['socket-owner'] ? { socketOwner: String(values['socket-owner']) } : {}),
    },
  );
  try {
    await bootstrap.start();
    await rtt.start(selfIp);
  } catch (err) {
    await rtt.stop();
    await bootstrap.stop().catch(() => {});
    tls?.close();
    await driver.close().catch(() => {});
    throw err;
  }
  const metrics = await startMetrics(values, bootstrap.agent!, logger, (registry) => registerBootstrapMetrics(registry, bootstrap)).catch(async (err) => {
    await rtt.stop();
    await bootstrap.stop();
    tls?.close();
    throw err;
  });
  const exporter = startExporter(values, bootstrap.agent!, logger);
  printBootstrapSummary(bootstrap, { dev: Boolean(values.dev), socket: String(values.socket) });
  return untilSignal(async () => {
    await exporter?.stop();
    await metrics?.stop();
    await rtt.stop();
    await bootstrap.stop({ keepInterface: Boolean(values['keep-interface']) });
    tls?.close();
  }, logger);
}
