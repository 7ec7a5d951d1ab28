import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { Agent } from '../agent.js';
import { createGrpcControlClient, type ControlClient } from '../control/client.js';
import { FailoverControlClient, spreadIndex } from '../control/failover.js';
import { resolveAddresses, type LookupAll } from '../control/resolve.js';
import { EndpointDiscovery } from '../endpoints/discovery.js';
import { createPortMapper, type PortMapper, type PortMapperComponents, type PortMapperInit } from '../endpoints/portmap/mapper.js';
import { cidrContains } from '../endpoints/endpoints.js';
import { claimSocketPath, LocalApiServer, type CertificateAdmin, type TokenAdmin } from '../localapi/server.js';
import { silentLogger, type Logger } from '../log.js';
import { RTT_DEFAULTS } from '../rtt/echo.js';
import { RttProbing } from '../rtt/probing.js';
import { FileAgentStateStore } from '../state/agent-state.js';
import { MemberlistExporter, type MemberlistFormat } from '../status/memberlist.js';
import { logMeshSize } from '../status/mesh-size.js';
import { MeshNames, type MeshNamesInit } from '../dns/names.js';
import type { Timers } from '../timers.js';
import type { WgDriver, WgDriverFactory } from '../wg/types.js';
import type { Endpoint } from '../proto/index.js';
import { interfaceName, loadOrCreateKey, nodeFiles } from './files.js';
import { FileKeyStore } from './key-store.js';
import { publicKeyFromPrivate } from '../wg/keys.js';
import { Lifecycle } from './lifecycle.js';
import { AGENT_DEFAULTS } from '../constants.js';
import { KernelForwarding, MemoryForwarding, type RelayForwarding } from '../relay/forwarding.js';
import { RelayUnavailable } from '../errors.js';
import { CertificateRenewer, type CertificateFiles } from '../identity/renewer.js';
import { MeshL2 } from '../l2/mesh-l2.js';
import { IpL2Driver } from '../l2/ip-driver.js';
import { MemoryL2Driver } from '../l2/memory-driver.js';
import type { L2Driver } from '../l2/types.js';

/** What a node is given rather than builds: injected, so tests use the memory driver and fakes. */
export interface NodeComponents {
  /** Makes the node's WireGuard driver (createWgDriverFactory: kernel, userspace or memory). */
  readonly wg: WgDriverFactory;
  readonly logger?: Logger;
  readonly timers?: Timers;
  readonly random?: () => number;
  /** Makes the router port mapper when port mapping is on; default createPortMapper (tests: a fake gateway). */
  readonly portMapper?: (components: PortMapperComponents, init: PortMapperInit) => PortMapper;
  /** Makes the L2 devices' driver when the mesh has L2; default `ip`/`bridge` commands (the memory driver with a memory WireGuard driver). */
  readonly l2Driver?: () => L2Driver;
}

/** What every node (joined or bootstrap) is told; defaults in AGENT_DEFAULTS and RTT_DEFAULTS. */
export interface NodeInit {
  readonly meshName: string;
  readonly nodeName: string;
  /** The private key (0600) and state files are kept in <stateDir>/<mesh>/. */
  readonly stateDir: string;
  /** The mesh's CIDR when known before joining (a bootstrap's own): its addresses are never endpoint candidates. */
  readonly meshCidr?: string;
  readonly listenPort?: number;
  /** Advertise only this address as the WireGuard endpoint (no discovery). */
  readonly listenAddr?: string;
  /** STUN servers (HOST:PORT) for the public address, tried in order; none: LAN addresses only. */
  readonly stunServers?: readonly string[];
  readonly tags?: Readonly<Record<string, string>>;
  readonly heartbeatMs?: number;
  /** UDP port of the RTT echo on the mesh IP (and of the probes); 0: no RTT probing. */
  readonly rttPort?: number;
  /** The local API's Unix socket; none: no local API. */
  readonly socketPath?: string;
  /** "UID:GID" to own the socket. */
  readonly socketOwner?: string;
  /** HOST:PORT of a Prometheus endpoint; none: no metrics. */
  readonly metricsAddr?: string;
  /** The JSON export of the members; none: no export. */
  readonly memberlistFile?: string;
  /** The mesh's names: DNS on the mesh IP and/or a hosts-file block; none: no names. */
  readonly names?: MeshNamesInit;
  /** Its format: ours (default) or the original wgmesh's (mode 0640, removed on stop). */
  readonly memberlistFormat?: MemberlistFormat;
  /** On stop, leave the WireGuard interface in place (kernel backend). */
  readonly keepInterface?: boolean;
  /** Rotate the WireGuard key this often (ms; 0 or absent: never). */
  readonly keyRotationMs?: number;
  /**
   * Offer to relay for peers without a direct path: 'on' fails the start when this host cannot
   * forward (no iptables), 'if-able' (the bootstrap's default) only logs why it does not offer.
   */
  readonly relay?: 'off' | 'if-able' | 'on';
  /**
   * Ask the router for a mapping of the WireGuard port (PCP, NAT-PMP, UPnP IGD) and advertise it
   * as an ENDPOINT_KIND_MAPPED candidate; default off (the CLI's join turns it on). Ignored with
   * listenAddr, which advertises only that address.
   */
  readonly portMapping?: boolean;
  /**
   * This node's share of the mesh's layer 2 (bootstrap -l2; whether the mesh has it comes with the
   * join): local interfaces to put in the bridge and an address for it. Ignored in a mesh without L2.
   */
  readonly l2?: { readonly bridgeIfs?: readonly string[]; readonly address?: string };
}

/** What a node's core is handed once the device and key exist. */
export interface NodeDevice {
  readonly driver: WgDriver;
  readonly privateKey: string;
  /** Where a key rotation keeps the next and then the current key. */
  readonly keyStore: FileKeyStore;
  /** The next key of a rotation a crash interrupted, if any. */
  readonly pendingPrivateKey: string | undefined;
  readonly files: ReturnType<typeof nodeFiles>;
  /** This node's endpoint candidates, asked again before every heartbeat. */
  readonly endpoints: () => Promise<Endpoint[]>;
  readonly behindNat: () => boolean;
  /** The RTT prober (not started yet), when probing is on. */
  readonly rtt: RttProbing['prober'] | undefined;
  /** Forwarding between peers, when this node offers to relay (undefined: it does not). */
  readonly relayForwarding: RelayForwarding | undefined;
  readonly logger: Logger;
  /** Call as soon as the Agent exists (before starting it): the node follows its events from then on. */
  adopt(agent: Agent): void;
}

/**
 * The middle of a node: what makes it a joined node or a bootstrap. The node around it does the
 * rest, in this order: socket check, prepare, driver, key, core, RTT, port mapping, local API, metrics,
 * memberlist, names; and stops what started in reverse.
 */
export interface NodeCore {
  /** Checks and parts that must come before the device exists (a bootstrap's state dir and TLS). */
  prepare?(parts: Lifecycle): Promise<void>;
  /** Builds and starts the node's Agent (and what serves beside it), recording each part in `parts`. */
  start(parts: Lifecycle, device: NodeDevice): Promise<Agent>;
  /** More metrics in the node's registry (the bootstrap's own). */
  registerMetrics?(registry: Registry): Promise<void>;
  /** Enrollment tokens the local API serves (a bootstrap that signs certificates). */
  tokenAdmin?(): TokenAdmin | undefined;
  /** Certificate revocation the local API serves (a bootstrap that signs certificates). */
  certificateAdmin?(): CertificateAdmin | undefined;
}

/**
 * A whole node, from an options object: WireGuard driver, key, the core (join and control
 * session, or the bootstrap's services), RTT echo and prober, the router port mapper (with
 * -port-mapping), endpoint discovery, local API, metrics and memberlist export. `start()` starts them in that order; when a step fails, what had
 * started is stopped in reverse order before the error is thrown. `stop()` stops exactly what
 * started, also while a start is still going (a signal during a join being retried).
 *
 * Emits 'step' ({ name, detail }) as the Agent goes through its start.
 */
export class AgentNode extends EventEmitter {
  private readonly lifecycle: Lifecycle;
  private readonly logger: Logger;
  private agentValue: Agent | undefined;
  private driverValue: WgDriver | undefined;
  private started = false;
  /** What starts when the agent's start has set its peers (RTT probing). */
  private onPeersSet: ((agent: Agent) => void) | undefined;

  constructor(private readonly components: NodeComponents, readonly init: NodeInit, private readonly core: NodeCore) {
    super();
    this.logger = components.logger ?? silentLogger();
    this.lifecycle = new Lifecycle(this.logger.child({ component: 'node' }));
  }

  /** The node's Agent, once the start got that far. */
  get agent(): Agent | undefined {
    return this.agentValue;
  }

  /** The WireGuard driver, once made. */
  get driver(): WgDriver | undefined {
    return this.driverValue;
  }

  /** The parts running now, in start order (for tests and logs). */
  get running(): string[] {
    return this.lifecycle.running;
  }

  /** Starts the node once; a failed or stopped node is not started again (make a new one). */
  async start(): Promise<void> {
    if (this.started) throw new Error('a node starts once; make a new one');
    this.started = true;
    const { init, components, core } = this;
    const parts = this.lifecycle;
    await parts.run(async () => {
      // Before touching WireGuard: refuse to run beside another live node.
      if (init.socketPath) await claimSocketPath(init.socketPath);
      await core.prepare?.(parts);
      // Never advertise an address inside the mesh (the bootstrap refuses those): the mesh IP, and
      // once the CIDR is known (given, saved, or from the join), anything inside it.
      const insideMesh = (ip: string) => {
        const agent = this.agentValue;
        const cidr = agent?.joined?.meshCidr ?? init.meshCidr;
        return ip === agent?.meshIp || (cidr !== undefined && cidrContains(cidr, ip));
      };
      const discovery = new EndpointDiscovery({
        listenPort: init.listenPort ?? AGENT_DEFAULTS.listenPort,
        stunServers: init.stunServers ?? [],
        exclude: insideMesh,
        ...(init.listenAddr ? { configuredIp: init.listenAddr } : {}),
        logger: this.logger.child({ component: 'endpoints' }),
      });
      // The driver before the key: a host without WireGuard fails here before a key exists, so the
      // next bootstrap start is still a first start, not "a key without its state file".
      const driver = await components.wg(interfaceName(init.meshName));
      this.driverValue = driver;
      // The public address is asked for now, while the key, the control client and the agent are
      // made: the join's request then has it. (After the driver: a host without WireGuard fails
      // with no query left in flight to hold up its exit.)
      discovery.prefetch();
      const privateKey = await loadOrCreateKey(init.stateDir, init.meshName);
      const keyStore = new FileKeyStore(nodeFiles(init.stateDir, init.meshName).key);
      const pendingPrivateKey = await keyStore.pending();
      const rttPort = init.rttPort ?? RTT_DEFAULTS.port;
      const rtt = rttPort === 0 ? undefined : new RttProbing(rttPort, this.logger.child({ component: 'rtt' }));
      // Started as soon as the agent has set its peers (its first probes start their handshakes),
      // before the rest of the agent's start; else (a start from saved state) once it has started.
      let rttStarted: Promise<void> | undefined;
      const startRtt = rtt && ((meshIp: string) => (rttStarted ??= parts.start('rtt', () => rtt.start(meshIp), () => rtt.stop())));
      this.onPeersSet = startRtt && ((agent) => void startRtt(agent.meshIp!).catch(() => undefined));
      const relayForwarding = await this.relayForwarding(driver);
      // Made now (the candidates below read it), started once the interface is up (after the core).
      const mapper = init.portMapping && !init.listenAddr
        ? (components.portMapper ?? createPortMapper)(
          { logger: this.logger.child({ component: 'portmap' }), ...(components.timers ? { timers: components.timers } : {}) },
          {
            internalPort: init.listenPort ?? AGENT_DEFAULTS.listenPort,
            externalPort: mappedPortFor(publicKeyFromPrivate(privateKey)),
            exclude: insideMesh,
            onChange: () => this.agentValue?.endpointsChanged(),
          },
        )
        : undefined;
      const agent = await core.start(parts, {
        driver,
        privateKey,
        keyStore,
        pendingPrivateKey,
        relayForwarding,
        files: nodeFiles(init.stateDir, init.meshName),
        endpoints: async () => withMapped(await discovery.candidates(), mapper?.endpoint),
        // A router that maps ports is a NAT: keepalive stays on for the peers that reach this node otherwise.
        behindNat: () => discovery.behindNat || mapper?.endpoint !== undefined,
        rtt: rtt?.prober,
        logger: this.logger,
        adopt: (a) => this.adopt(a),
      });
      this.adopt(agent);
      // RTT first: its first probes start the peers' handshakes (the first packets through the tunnel).
      if (rtt && startRtt) {
        await startRtt(agent.meshIp!);
        agent.on('address', (ip: string) => void rtt.moveTo(ip));
      }
      // Layer 2 when the mesh has it (now, or once a re-join says so); nothing is made otherwise.
      const l2 = new MeshL2(agent, (components.l2Driver ?? (() => (driver.kind === 'memory' ? new MemoryL2Driver() : new IpL2Driver({ logger: this.logger.child({ component: 'l2' }) }))))(), {
        meshName: init.meshName,
        wgInterface: driver.name,
        ...(init.l2?.bridgeIfs ? { bridgeIfs: init.l2.bridgeIfs } : {}),
        ...(init.l2?.address ? { address: init.l2.address } : {}),
        keepInterface: init.keepInterface ?? false,
      }, this.logger.child({ component: 'l2' }));
      await parts.start('layer 2', async () => {
        await l2.start();
        agent.l2Status = () => l2.status();
      }, async () => {
        agent.l2Status = undefined;
        await l2.stop();
      });
      if (mapper) await parts.start('port mapping', () => mapper.start(), () => mapper.stop());
      if (init.socketPath) {
        const tokens = core.tokenAdmin?.();
        const certificates = core.certificateAdmin?.();
        const localApi = new LocalApiServer(agent, { socketPath: init.socketPath, ...(init.socketOwner ? { owner: init.socketOwner } : {}), ...(tokens ? { tokens } : {}), ...(certificates ? { certificates } : {}) }, this.logger);
        await parts.start('local API', () => localApi.start(), () => localApi.stop());
      }
      if (init.metricsAddr) {
        // prom-client and the metrics server load only for -metrics-addr: most nodes never serve metrics.
        const [{ Registry }, { MetricsServer, registerAgentMetrics }] = await Promise.all([import('prom-client'), import('../metrics/metrics.js')]);
        const registry = new Registry();
        registerAgentMetrics(registry, agent);
        await core.registerMetrics?.(registry);
        const metrics = new MetricsServer(registry, init.metricsAddr, this.logger);
        await parts.start('metrics', () => metrics.start(), () => metrics.stop());
        this.logger.info('metrics served', { url: `http://${init.metricsAddr}/metrics` });
      }
      if (init.memberlistFile) {
        const exporter = new MemberlistExporter(agent, init.memberlistFile, this.logger, { format: init.memberlistFormat ?? 'wgmesh' });
        await parts.start('memberlist', () => exporter.start(), () => exporter.stop());
      }
      if (init.names && (init.names.port !== undefined || init.names.hostsFile)) {
        const names = new MeshNames(agent, init.names, this.logger.child({ component: 'dns' }));
        await parts.start('names', () => names.start(), () => names.stop());
      }
    });
  }

  /** Stops what started, last first (also a start in progress); resolves when all of it has stopped. */
  stop(): Promise<void> {
    return this.lifecycle.stop();
  }

  /** The forwarding a relay needs, if this node offers to relay and the host can forward. */
  private async relayForwarding(driver: WgDriver): Promise<RelayForwarding | undefined> {
    const mode = this.init.relay ?? 'off';
    if (mode === 'off') return undefined;
    if (driver.kind === 'memory') return new MemoryForwarding();
    const problem = await KernelForwarding.check();
    if (problem) {
      if (mode === 'on') throw new RelayUnavailable(`-relay: this host cannot forward between peers: ${problem}; or run without -relay`);
      this.logger.warn(`not offering to relay: ${problem} (-relay=false turns relaying off and this warning with it)`);
      return undefined;
    }
    return new KernelForwarding({
      interfaceName: driver.name,
      meshCidr: () => this.agentValue?.joined?.meshCidr ?? this.init.meshCidr,
      logger: this.logger.child({ component: 'relay' }),
    });
  }

  private adopt(agent: Agent): void {
    if (this.agentValue === agent) return;
    this.agentValue = agent;
    logMeshSize(agent, this.logger);
    agent.on('step', (step: { name: string }) => {
      if (step.name === 'peers') this.onPeersSet?.(agent);
      this.emit('step', step);
    });
  }
}

/**
 * The found candidates with the mapped one (the mapper holds none inside the mesh: its `exclude`).
 * A found candidate at the same address (STUN saw the router keep the port) gives way to it: a
 * mapping is the stronger fact, it holds for any sender.
 */
function withMapped(found: Endpoint[], mapped: Endpoint | undefined): Endpoint[] {
  if (!mapped) return found;
  return [...found.filter((e) => e.ip !== mapped.ip || e.port !== mapped.port), mapped];
}

/** The external port a node asks its router for: its own (stable across restarts), never its WireGuard port's history. */
export function mappedPortFor(publicKey: string): number {
  const digest = createHash('sha256').update(`wgmesh mapped port ${publicKey}`).digest();
  return 20_000 + (digest.readUInt16BE(0) % 40_000);
}

/** How a joining node reaches its bootstrap's join service. */
export interface BootstrapTarget {
  /** HOST:PORT (an IPv6 host in brackets), as dialed. */
  readonly address: string;
  /** TLS (mTLS) credentials; none: plaintext (dev mode). */
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  /** As the operator gave it: shown in status and logs. */
  readonly display?: string;
}

export interface AgentNodeComponents extends NodeComponents {
  /** The join service client; default: gRPC to init.bootstrap. The node's Agent owns (and closes) it. */
  readonly control?: ControlClient;
  /** Resolves a bootstrap's host name (A and AAAA); default the system resolver. */
  readonly lookupAll?: LookupAll;
  /** A new key pair and CSR (CN = name) for a certificate renewal (init.certificates). */
  readonly makeCsr?: (name: string) => { keyPem: string; csrPem: string };
  readonly clock?: { now(): number };
}

export interface AgentNodeInit extends NodeInit {
  /**
   * The bootstrap, or several that serve the mesh: calls go to one at a time and move to the next
   * when it is unreachable (FailoverControlClient). A host name that resolves to several addresses
   * counts as several bootstraps; each keeps its credentials and channel options (the TLS name).
   */
  readonly bootstrap: BootstrapTarget | readonly BootstrapTarget[];
  /**
   * The files of the node's mTLS identity (its certificate, key and CA): the certificate is renewed
   * over the control channel at two thirds of its lifetime (needs components.makeCsr) and the new
   * one used for new connections; expiry is shown by `info` and the metrics and warned of in the log.
   */
  readonly certificates?: CertificateFiles;
}

/** A bootstrap as the failover client knows it: named as shown, dialed at one address. */
interface NamedTarget extends BootstrapTarget {
  readonly name: string;
}

/** Every bootstrap, one per address: host names resolved now (those with several addresses split up). */
export async function resolveBootstrapTargets(targets: readonly BootstrapTarget[], lookupAll?: LookupAll): Promise<NamedTarget[]> {
  const resolved = await Promise.all(targets.map(async (t) => {
    const name = t.display ?? t.address;
    const addresses = await resolveAddresses(t.address, lookupAll);
    return addresses.map((a): NamedTarget => ({ ...t, address: a.address, name: a.ip ? `${name} (${a.ip})` : name }));
  }));
  return resolved.flat();
}

/** The control client over the node's bootstraps: gRPC to each, moving on when one is unreachable. */
export async function createBootstrapControl(
  targets: readonly BootstrapTarget[],
  components: {
    lookupAll?: LookupAll; logger?: Logger; timers?: Timers; random?: () => number;
    /** Credentials that replace every target's own (a renewed certificate); read at each connect. */
    credentials?: () => grpc.ChannelCredentials | undefined;
  },
  /** The node's name: where in the list it starts (see spreadIndex); none: the first. */
  spreadKey?: string,
): Promise<FailoverControlClient<NamedTarget>> {
  const resolved = await resolveBootstrapTargets(targets, components.lookupAll);
  return new FailoverControlClient<NamedTarget>(
    {
      connect: (t) => createGrpcControlClient({ address: t.address, credentials: components.credentials?.() ?? t.credentials, ...(t.channelOptions ? { channelOptions: t.channelOptions } : {}) }),
      resolve: () => resolveBootstrapTargets(targets, components.lookupAll),
      ...(components.logger ? { logger: components.logger } : {}),
      ...(components.timers ? { timers: components.timers } : {}),
      ...(components.random ? { random: components.random } : {}),
    },
    { targets: resolved, ...(spreadKey !== undefined ? { firstIndex: spreadIndex(spreadKey, resolved.length) } : {}) },
  );
}

/**
 * A node that joins a mesh (`wgmesh join`): its core is an Agent talking gRPC to the bootstrap,
 * keeping its mesh IP and last membership in <stateDir>/<mesh>/agent.json.
 */
export function createAgentNode(components: AgentNodeComponents, init: AgentNodeInit): AgentNode {
  const bootstraps: readonly BootstrapTarget[] = Array.isArray(init.bootstrap) ? init.bootstrap : [init.bootstrap as BootstrapTarget];
  if (bootstraps.length === 0) throw new Error('a joining node needs at least one bootstrap');
  return new AgentNode(components, init, {
    async start(parts, device) {
      // After a renewal: the channel credentials made from the new certificate and key.
      let renewedCredentials: grpc.ChannelCredentials | undefined;
      const control = components.control ?? await createBootstrapControl(bootstraps, {
        credentials: () => renewedCredentials,
        ...(components.lookupAll ? { lookupAll: components.lookupAll } : {}),
        logger: device.logger.child({ component: 'control' }),
        ...(components.timers ? { timers: components.timers } : {}),
        ...(components.random ? { random: components.random } : {}),
      }, init.nodeName);
      // The connection comes up while the agent is made and the device started: the join needs it first.
      control.connectNow?.();
      const files = init.certificates;
      const renewer = files && components.makeCsr
        ? new CertificateRenewer(
          {
            renew: (req) => {
              if (!control.renew) throw new Error('this control client cannot renew certificates');
              return control.renew(req);
            },
            makeCsr: components.makeCsr,
            onRenewed: ({ cert, key, ca }) => {
              // New connections only: WireGuard and the data plane do not depend on this channel.
              renewedCredentials = grpc.credentials.createSsl(ca, key, cert);
              control.reconnect?.('the node\'s certificate was renewed');
            },
            logger: device.logger.child({ component: 'agent:cert' }),
            ...(components.timers ? { timers: components.timers } : {}),
            ...(components.clock ? { clock: components.clock } : {}),
            ...(components.random ? { random: components.random } : {}),
          },
          { nodeName: init.nodeName, files },
        )
        : undefined;
      const agent = new Agent(
        {
          control,
          driver: device.driver,
          logger: device.logger.child({ component: 'agent' }),
          stateStore: new FileAgentStateStore(device.files.agentState),
          keyStore: device.keyStore,
          ...(device.rtt ? { rtt: device.rtt } : {}),
          ...(device.relayForwarding ? { relayForwarding: device.relayForwarding } : {}),
          ...(components.timers ? { timers: components.timers } : {}),
          ...(components.random ? { random: components.random } : {}),
          ...(renewer ? { certificates: () => renewer.status() } : {}),
        },
        {
          meshName: init.meshName,
          nodeName: init.nodeName,
          privateKey: device.privateKey,
          ...(init.listenPort !== undefined ? { listenPort: init.listenPort } : {}),
          ...(init.tags ? { tags: init.tags } : {}),
          endpoints: device.endpoints,
          behindNat: device.behindNat,
          bootstrapAddr: bootstraps.map((b) => b.display ?? b.address).join(', '),
          relay: device.relayForwarding !== undefined,
          ...(init.heartbeatMs !== undefined ? { heartbeatMs: init.heartbeatMs } : {}),
          ...(init.keyRotationMs ? { keyRotationMs: init.keyRotationMs } : {}),
          ...(device.pendingPrivateKey ? { pendingPrivateKey: device.pendingPrivateKey } : {}),
        },
      );
      device.adopt(agent);
      // A join answered and then a device that fails: stopping leaves the mesh and closes the device.
      await parts.start('agent', () => agent.start(), () => agent.stop({ keepInterface: init.keepInterface ?? false }));
      if (renewer) await parts.start('certificate renewal', () => renewer.start(), () => renewer.stop());
      return agent;
    },
  });
}
