import * as grpc from '@grpc/grpc-js';
import { Agent, FileAgentStateStore, claimSocketPath, createGrpcControlClient, LocalApiServer, parseHostPort } from '@wgmesh/agent';
import { parsePrefix, prefixContains } from '@wgmesh/bootstrap';
import { formatHelp, resolveFlags, UsageError, type FlagSpec } from '../flags/parse.js';
import {
  checkMeshName, checkRoot, createRtt, endpointDiscovery, startExporter, startMetrics, makeLogger, NODE_FLAGS, nodeFiles, nodeName, openNode, parseTags, untilSignal,
} from './node-common.js';
import { printJoinSummary } from './summary.js';
import { showJoinProgress } from '../ui/progress.js';
import { clientTlsFromFlags, TLS_CLIENT_FLAGS } from './tls.js';
import { explainJoinError } from './explain.js';

export const JOIN_FLAGS: FlagSpec[] = [
  { name: 'n', type: 'string', value: 'MESH', help: 'name of the mesh to join (required)' },
  { name: 'bootstrap-addr', type: 'string', value: 'HOST:PORT', help: 'the bootstrap\'s join service (required)' },
  { name: 'stun-server', type: 'list', value: 'HOST:PORT', default: [], help: 'STUN servers for public-address discovery, tried in order (default: the bootstrap\'s own, on its port over UDP)' },
  ...TLS_CLIENT_FLAGS,
  ...NODE_FLAGS,
];

const USAGE = 'wgmesh join [-dev] -n MESH -bootstrap-addr HOST:PORT [-ca-cert ca.pem -client-cert c.pem -client-key c-key.pem]';
const DESCRIPTION = `Joins this machine to a mesh: configures WireGuard with every other node as a peer and keeps
it current. Runs in the foreground until SIGINT/SIGTERM, then leaves the mesh.`;

export async function runJoin(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveFlags(JOIN_FLAGS, argv, env);
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, JOIN_FLAGS));
    return 0;
  }
  if (!values.n) throw new UsageError('-n MESH is required: the name of the mesh to join (the bootstrap prints it)');
  if (!values['bootstrap-addr']) throw new UsageError('-bootstrap-addr HOST:PORT is required: where the bootstrap\'s join service listens');
  const mesh = String(values.n);
  checkMeshName(mesh);
  const bootstrapAddr = String(values['bootstrap-addr']);
  const target = parseHostPort(bootstrapAddr, 5000);
  const tls = values.dev ? undefined : await clientTlsFromFlags(values, target.host, values['node-name'] as string | undefined);
  checkRoot('join');
  // Before touching WireGuard: refuse to run beside another live agent.
  await claimSocketPath(String(values.socket));

  const logger = makeLogger(values);
  const { stateDir, listenPort, privateKey, driver } = await openNode(values, mesh, logger);
  const control = createGrpcControlClient({
    address: `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`,
    credentials: tls?.credentials ?? grpc.credentials.createInsecure(),
    ...(tls ? { channelOptions: tls.channelOptions } : {}),
  });
  // Our own mesh address is never an underlay endpoint candidate, nor (once the mesh's CIDR is
  // known, from saved state or the join answer) any address inside the mesh: the bootstrap refuses those.
  let meshIp: string | undefined;
  const insideMesh = (ip: string) => {
    const cidr = agent.joined?.meshCidr;
    return cidr !== undefined && prefixContains(parsePrefix(cidr), ip);
  };
  const rtt = createRtt(values, logger);
  const stunServers = (values['stun-server'] as string[]).length ? (values['stun-server'] as string[]) : [`${target.host}:${target.port}`];
  const discovery = endpointDiscovery(values, listenPort, (ip) => ip === meshIp || insideMesh(ip), stunServers, logger);
  const agent = new Agent(
    {
      control, driver, logger: logger.child({ component: 'agent' }),
      stateStore: new FileAgentStateStore(nodeFiles(stateDir, mesh).agentState),
      ...(rtt.prober ? { rtt: rtt.prober } : {}),
    },
    {
      meshName: mesh,
      nodeName: nodeName(values, tls?.certName),
      privateKey,
      listenPort,
      tags: parseTags(values.tags as string[]),
      endpoints: () => discovery.candidates(),
      behindNat: () => discovery.behindNat,
      bootstrapAddr,
      heartbeatMs: Number(values.heartbeat),
    },
  );
  const localApi = new LocalApiServer(agent, { socketPath: String(values.socket), ...(values['socket-owner'] ? { owner: String(values['socket-owner']) } : {}) }, logger);
  const progress = showJoinProgress(agent, logger);
  try {
    await agent.start();
  } catch (err) {
    progress.end();
    await driver.close().catch(() => {});
    control.close();
    throw new UsageError(explainJoinError(err, bootstrapAddr, Boolean(values.dev)));
  }
  meshIp = agent.meshIp;
  agent.on('address', (ip: string) => {
    meshIp = ip;
    void rtt.moveTo(ip);
  });
  try {
    await rtt.start(agent.meshIp!);
    await localApi.start();
  } catch (err) {
    await rtt.stop();
    await agent.stop();
    throw err;
  }
  const metrics = await startMetrics(values, agent, logger).catch(async (err) => {
    await localApi.stop();
    await rtt.stop();
    await agent.stop();
    throw err;
  });
  const exporter = startExporter(values, agent, logger);
  // Signals are handled from here on, also while the handshakes come up.
  const finished = untilSignal(async () => {
    progress.end();
    await localApi.stop();
    await exporter?.stop();
    await metrics?.stop();
    await rtt.stop();
    await agent.stop({ keepInterface: Boolean(values['keep-interface']) });
  }, logger);
  // The RTT prober's first probes start the handshakes; show them coming up, then the summary.
  const handshakes = agent.restoredFromState ? Promise.resolve(progress.end()) : progress.waitForHandshakes(10_000);
  void handshakes.then(() => printJoinSummary(agent, { socket: String(values.socket), dev: Boolean(values.dev) }));
  return finished;
}
