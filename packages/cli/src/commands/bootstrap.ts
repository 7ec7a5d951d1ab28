import { stat } from 'node:fs/promises';
import { Bootstrap, DEFAULTS, FileStateStore, Ipam, LIVENESS_DEFAULTS, registerBootstrapMetrics, prefixContains, parsePrefix } from '@wgmesh/bootstrap';
import { claimSocketPath } from '@wgmesh/agent';
import { formatHelp, resolveFlags, UsageError, type FlagSpec } from '../flags/parse.js';
import {
  checkMeshName, checkRoot, createRtt, endpointDiscovery, startExporter, startMetrics, makeLogger, NODE_FLAGS, nodeFiles, nodeName, openNode, parseTags, untilSignal,
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
  {
    name: 'new-mesh', type: 'bool', default: false,
    help: 'start a new mesh although this state dir was used before (its private.key or agent.json exists) and its bootstrap.json is missing: every node must join again and gets a new mesh IP. Not needed on a first start; refused while bootstrap.json exists',
  },
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

  // The checks Bootstrap.start() makes, made before openNode() writes a key: a first start that
  // fails on a flag must leave no key behind, or the next one would look like a mesh that lost its state.
  const ipam = new Ipam(cidr.text, values['cidr-ipam'] ? String(values['cidr-ipam']) : undefined);
  if (!ipam.isAssignable(selfIp)) throw new UsageError(`-ip ${selfIp} is the network or broadcast address of -cidr ${cidr.text}; pick another address inside it`);
  const files = nodeFiles(String(values['state-dir']), mesh);
  const decision = decideMeshStart({
    keyExisted: await pathExists(files.key),
    stateFileExists: await pathExists(files.bootstrapState),
    agentStateExists: await pathExists(files.agentState),
    newMesh: Boolean(values['new-mesh']),
  }, files);
  if ('refuse' in decision) throw new UsageError(decision.refuse);

  const logger = makeLogger(values);
  if (decision.start === 'new-on-purpose') logger.warn('starting a new mesh (-new-mesh): every node must join again and gets a new mesh IP', { stateFile: files.bootstrapState });
  const tls = values.dev ? undefined : await serverTlsFromFlags(values, logger.child({ component: 'bootstrap:tls' }));
  const { stateDir, listenPort, privateKey, driver } = await openNode(values, mesh, logger);
  const rtt = createRtt(values, logger);
  const discovery = endpointDiscovery(values, listenPort, (ip) => prefixContains(cidr, ip), [], logger);
  const bootstrap = new Bootstrap(
    {
      ...(rtt.prober ? { rtt: rtt.prober } : {}),
      store: new FileStateStore(nodeFiles(stateDir, mesh).bootstrapState),
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

/** What decides whether a bootstrap may start: what its state dir holds, and -new-mesh. */
export interface MeshStartFacts {
  /** <state-dir>/<mesh>/private.key was there before this run (which would make one). */
  readonly keyExisted: boolean;
  /** bootstrap.json: the mesh's members, IPs, creation time and revision. */
  readonly stateFileExists: boolean;
  /** agent.json: a node that ran `wgmesh join` here kept its view of a mesh. */
  readonly agentStateExists: boolean;
  /** -new-mesh */
  readonly newMesh: boolean;
}

export type MeshStart =
  | { readonly start: 'resume' | 'first' | 'new-on-purpose' }
  | { readonly refuse: string };

/**
 * Resume the mesh in bootstrap.json, start the first one, or refuse: a state dir that was used
 * before but lacks bootstrap.json (deleted, lost, or -state-dir/-n pointing elsewhere) would
 * otherwise silently become a new mesh (new creation time, revision 1, new IPs for everyone).
 *
 * A former join node (agent.json, no bootstrap.json) is such a dir too, and needs -new-mesh:
 * agent.json is a member's copy of the node list, not the member table (no certificate
 * fingerprints, no authority over IPs), so a bootstrap started there cannot continue that mesh.
 * It makes a new one that every node joins again, and the old mesh's own bootstrap, if it still
 * runs, goes on serving the old one: that is a decision to state, not a side effect.
 */
export function decideMeshStart(facts: MeshStartFacts, files: { key: string; bootstrapState: string; agentState: string }): MeshStart {
  if (facts.stateFileExists) {
    if (facts.newMesh) {
      return {
        refuse: `-new-mesh: ${files.bootstrapState} exists and holds this mesh's members and IPs, and it is never reset silently. ` +
          'To start a new mesh, move it away first (keep it: it is the only record of which node has which IP), then start with -new-mesh; to keep the mesh, start without -new-mesh.',
      };
    }
    return { start: 'resume' };
  }
  if (!facts.keyExisted && !facts.agentStateExists) return { start: 'first' };
  if (facts.newMesh) return { start: 'new-on-purpose' };
  const consequence = 'Starting now would make a new mesh (a new creation time, revision 1): every node would have to join again and would get a new mesh IP.';
  if (facts.agentStateExists) {
    return {
      refuse: `${files.agentState} shows this machine joined a mesh as a node, and there is no bootstrap state (${files.bootstrapState}): it was not this mesh's bootstrap. ` +
        `${consequence} To make this node the bootstrap of a new mesh on purpose, start with -new-mesh (or give another -state-dir).`,
    };
  }
  return {
    refuse: `the state file ${files.bootstrapState} is missing, but ${files.key} exists: a bootstrap ran here before and its mesh's members and IPs were in that file. ` +
      `${consequence} To keep the mesh, restore bootstrap.json (from a backup; or check -state-dir and -n). ` +
      'To start a new mesh on purpose, start with -new-mesh (also right if no mesh ever ran here: an earlier start that failed early can leave the key alone).',
  };
}

async function pathExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
