import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import {
  AGENT_DEFAULTS, EchoResponder, EndpointDiscovery, endpointAddressProblem, MemberlistExporter, MetricsRegistry, MetricsServer, registerAgentMetrics, RttProber, RTT_DEFAULTS, type Agent, createLogger, createWgDriverFactory,
  generateKeyPair, isWgKey, type Logger, type WgBackendChoice, type WgDriver,
} from '@wgmesh/agent';
import type { FlagSpec, FlagValues } from '../flags/parse.js';
import { UsageError } from '../flags/parse.js';

/** Flags every node (bootstrap or join) takes. */
export const NODE_FLAGS: FlagSpec[] = [
  { name: 'dev', type: 'bool', default: false, help: 'development mode: no TLS, anyone who reaches the bootstrap can join' },
  { name: 'node-name', type: 'string', value: 'NAME', help: 'this node\'s name in the mesh (default: the host name)' },
  { name: 'listen-port', type: 'int', value: 'PORT', default: AGENT_DEFAULTS.listenPort, help: 'WireGuard UDP port' },
  { name: 'listen-addr', type: 'string', value: 'IP|IFACE', help: 'advertise only this address (or this interface\'s first address) as the WireGuard endpoint' },
  { name: 'tags', type: 'list', value: 'K=V,...', default: [], help: 'tags for this node' },
  { name: 'wg-backend', type: 'string', value: 'auto|kernel|userspace', default: 'auto', help: 'WireGuard implementation: the kernel module, or wireguard-go; auto prefers the kernel' },
  { name: 'keep-interface', type: 'bool', default: false, help: 'leave the WireGuard interface in place on exit (kernel backend)' },
  { name: 'state-dir', type: 'string', value: 'DIR', default: AGENT_DEFAULTS.stateDir, help: 'where keys and state are kept' },
  { name: 'socket', type: 'string', value: 'PATH', default: AGENT_DEFAULTS.socketPath, help: 'Unix socket of the local API (wgmesh info/tags/rtt)' },
  { name: 'socket-owner', type: 'string', value: 'UID:GID', help: 'owner of the local API socket (mode 0660)' },
  { name: 'rtt-port', type: 'int', value: 'PORT', default: RTT_DEFAULTS.port, help: 'UDP port of the RTT echo on the mesh IP (0: no RTT probing)' },
  { name: 'heartbeat', type: 'duration', value: 'DURATION', default: AGENT_DEFAULTS.heartbeatMs, help: 'how often this node reports to the bootstrap' },
  { name: 'metrics-addr', type: 'string', value: 'HOST:PORT', help: 'serve Prometheus metrics at http://HOST:PORT/metrics' },
  { name: 'memberlist-file', type: 'string', value: 'PATH', help: 'keep a JSON export of the mesh\'s members here, rewritten on every change' },
  { name: 'log-level', type: 'string', value: 'LEVEL', default: 'info', help: 'error, warn, info or debug' },
  { name: 'log-format', type: 'string', value: 'text|json', default: 'text', help: 'log lines on stderr: readable text, or JSON for collectors' },
  { name: 'v', type: 'bool', default: false, help: 'verbose: log at debug level' },
  { name: 'd', type: 'bool', default: false, help: 'debug: -v plus gRPC\'s own tracing' },
  { name: 'config', type: 'string', value: 'FILE', help: 'YAML file of flag values (flag: value)' },
];

export function interfaceName(mesh: string): string {
  return `wg${mesh}`;
}

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'];

export function makeLogger(values: FlagValues): Logger {
  const format = String(values['log-format']);
  if (format !== 'text' && format !== 'json') throw new UsageError(`-log-format ${format}: use text or json`);
  const level = values.v || values.d ? 'debug' : String(values['log-level']);
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`-log-level ${level}: use one of ${LOG_LEVELS.join(', ')}`);
  return createLogger({ level, json: format === 'json', color: process.stderr.isTTY === true && !process.env.NO_COLOR && format === 'text' });
}

/** -node-name, else the certificate's CN (mTLS), else the host name. */
export function nodeName(values: FlagValues, certName?: string): string {
  const given = (values['node-name'] as string | undefined) || certName;
  const name = (given || hostname().split('.')[0] || 'node').toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) {
    throw new UsageError(`node name "${name}" is not a DNS label (letters, digits, '-'); set -node-name`);
  }
  return name;
}

/** "KEY=VALUE" → [KEY, VALUE] (the value may be empty, the key may not); undefined if it is not that. */
export function splitTag(item: string): [key: string, value: string] | undefined {
  const eq = item.indexOf('=');
  return eq > 0 ? [item.slice(0, eq), item.slice(eq + 1)] : undefined;
}

export function parseTags(list: readonly string[]): Record<string, string> {
  const tags = new Map<string, string>();
  for (const item of list) {
    const tag = splitTag(item);
    if (!tag) throw new UsageError(`tag "${item}" is not KEY=VALUE`);
    tags.set(tag[0], tag[1]);
  }
  // Own properties even for keys like __proto__ (an assignment would set the prototype instead).
  return Object.fromEntries(tags);
}

export function checkMeshName(mesh: string): void {
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?$/.test(mesh)) {
    throw new UsageError(`mesh name "${mesh}" must be 1-10 letters, digits or '-' (it names the interface wg<MESH>)`);
  }
}

export function checkRoot(command: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new UsageError(`wgmesh ${command} must run as root: it creates a WireGuard interface and sets addresses. Run it with sudo.`);
  }
}

/** What a node keeps in <state-dir>/<mesh>/, one place for the names. */
export function nodeFiles(stateDir: string, mesh: string): { dir: string; key: string; bootstrapState: string; agentState: string } {
  const dir = path.join(stateDir, mesh);
  return { dir, key: path.join(dir, 'private.key'), bootstrapState: path.join(dir, 'bootstrap.json'), agentState: path.join(dir, 'agent.json') };
}

/** The node's WireGuard private key, made once and kept (0600) in the state dir. */
export async function loadOrCreateKey(stateDir: string, mesh: string): Promise<string> {
  const { dir, key: file } = nodeFiles(stateDir, mesh);
  try {
    const key = (await readFile(file, 'utf8')).trim();
    if (!isWgKey(key)) throw new UsageError(`${file} does not hold a WireGuard private key; move it away to make a new one`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPair();
  await writeFile(file, privateKey + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
  return privateKey;
}

/** What every node (bootstrap or join) opens first: its state dir, port, private key and WireGuard driver. */
export async function openNode(values: FlagValues, mesh: string, logger: Logger): Promise<{ stateDir: string; listenPort: number; privateKey: string; driver: WgDriver }> {
  const stateDir = String(values['state-dir']);
  const listenPort = Number(values['listen-port']);
  // The driver first: a host without WireGuard fails here before a key exists, so the next
  // bootstrap start is still a first start, not "a key without its state file" (see -new-mesh).
  const driver = await createWgDriverFactory(String(values['wg-backend']) as WgBackendChoice, { logger: logger.child({ component: 'wg' }) })(interfaceName(mesh));
  const privateKey = await loadOrCreateKey(stateDir, mesh);
  return { stateDir, listenPort, privateKey, driver };
}

/** The endpoint candidates a node advertises: -listen-addr alone, or its LAN addresses plus STUN. */
export function endpointDiscovery(values: FlagValues, listenPort: number, isMeshIp: (ip: string) => boolean, stunServers: string[], logger: Logger): EndpointDiscovery {
  const listenAddr = values['listen-addr'] as string | undefined;
  return new EndpointDiscovery({
    listenPort,
    stunServers,
    exclude: isMeshIp,
    ...(listenAddr ? { configuredIp: resolveListenAddr(listenAddr) } : {}),
    logger: logger.child({ component: 'endpoints' }),
  });
}

/**
 * -listen-addr as the one address to advertise; refused here, before anything starts, when the
 * bootstrap would refuse it at Join. (An address inside the mesh is left to the bootstrap to
 * refuse: a joining node does not know the mesh's CIDR yet.)
 */
export function resolveListenAddr(value: string, interfaces = networkInterfaces()): string {
  let ip = value;
  if (!/^[0-9.]+$/.test(value) && !value.includes(':')) {
    const addrs = interfaces[value];
    const v4 = addrs?.find((a) => a.family === 'IPv4') ?? addrs?.[0];
    if (!v4) throw new UsageError(`-listen-addr ${value}: no such interface with an address (give an IP or an interface name)`);
    ip = v4.address;
  }
  const problem = endpointAddressProblem(ip);
  if (problem) throw new UsageError(`-listen-addr ${value}: ${ip} ${problem}; give an address other nodes can reach this one at`);
  return ip;
}

/** Runs until SIGINT/SIGTERM, then stops once; a second signal exits at once. */
export function untilSignal(stop: (signal: NodeJS.Signals) => Promise<void>, logger: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn(`second ${signal}: exiting now`);
        process.exit(130);
      }
      stopping = true;
      logger.info(`${signal} received, shutting down`);
      stop(signal).then(
        () => resolve(0),
        (err) => {
          logger.error('shutdown failed', { err: (err as Error).message });
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** The RTT echo on this node's mesh IP and the prober of its peers; started once the interface has its address. */
export function createRtt(values: FlagValues, logger: Logger): { prober: RttProber | undefined; start(meshIp: string): Promise<void>; moveTo(meshIp: string): Promise<void>; stop(): Promise<void> } {
  const port = Number(values['rtt-port']);
  if (port === 0) return { prober: undefined, start: async () => {}, moveTo: async () => {}, stop: async () => {} };
  const rttLogger = logger.child({ component: 'rtt' });
  const prober = new RttProber({ logger: rttLogger }, { port });
  let responder: EchoResponder | undefined;
  const bindEcho = async (meshIp: string) => {
    await responder?.stop();
    responder = new EchoResponder({ logger: rttLogger }, { bindAddr: meshIp, port });
    await responder.start();
  };
  return {
    prober,
    async start(meshIp: string) {
      await bindEcho(meshIp);
      await prober.start();
    },
    /** The node's mesh IP changed: the echo follows it. */
    async moveTo(meshIp: string) {
      await bindEcho(meshIp).catch((err: Error) => logger.error('RTT echo cannot bind the new mesh IP', { meshIp, err: err.message }));
    },
    async stop() {
      await prober.stop();
      await responder?.stop();
    },
  };
}

/** -metrics-addr: a Prometheus endpoint with this node's metrics (and the bootstrap's, via extra). */
export async function startMetrics(values: FlagValues, agent: Agent, logger: Logger, extra?: (registry: MetricsRegistry) => void): Promise<MetricsServer | undefined> {
  const address = values['metrics-addr'] as string | undefined;
  if (!address) return undefined;
  const registry = new MetricsRegistry();
  registerAgentMetrics(registry, agent);
  extra?.(registry);
  const server = new MetricsServer(registry, address, logger);
  try {
    await server.start();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  logger.info('metrics served', { url: `http://${address}/metrics` });
  return server;
}

/** -memberlist-file: the JSON export of the mesh's members, started; undefined without the flag. */
export function startExporter(values: FlagValues, agent: Agent, logger: Logger): MemberlistExporter | undefined {
  const exporter = values['memberlist-file'] ? new MemberlistExporter(agent, String(values['memberlist-file']), logger) : undefined;
  exporter?.start();
  return exporter;
}
