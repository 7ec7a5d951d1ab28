import * as grpc from '@grpc/grpc-js';
import { Agent, type KeyStore, type RttSource } from '@wgmesh/agent/agent';
import { defaultTimers, type Timers } from '@wgmesh/agent/timers';
import { Lifecycle } from '@wgmesh/agent/node/lifecycle';
import { LocalApiServer } from '@wgmesh/agent/localapi/server';
import { silentLogger, type Logger } from '@wgmesh/agent/log';
import { type Endpoint } from '@wgmesh/agent/proto/gen/wgmesh/v1/Endpoint';
import { type RelayForwarding } from '@wgmesh/agent/relay/forwarding';
import { type WgDriver } from '@wgmesh/agent/wg/types';
import { LivenessMonitor, type LivenessInit } from './members/liveness.js';
import { EndpointObserver } from './members/observer.js';
import { CertificateEnforcer } from './members/certificates.js';
import { StunResponder } from './stun/responder.js';
import { Ipam } from './ipam/ipam.js';
import { MemberTable, type Clock } from './members/table.js';
import { isSharedStore, type SharedCoordinator, type SharedMemberStore, type StateStore } from './members/store.js';
import { createLocalControl } from './members/local-control.js';
import { createMeshService, type MeshServiceStats } from './service/mesh-service.js';
import type { FanoutListener } from './service/watch-fanout.js';
import { JoinServer } from './service/server.js';
import { SendBudget } from './service/send-budget.js';
import { limitHeapGrowth } from './heap-growth.js';
import { devAuthenticator, type Authenticator } from './service/auth.js';
import { ConfigError, StoreUnavailable } from './errors.js';
import type { L2Settings } from '@wgmesh/agent/l2/l2';
import { presharedKeySource, type PresharedKeySource } from './psk/psk.js';
import { DEFAULTS } from './constants.js';
import type { Enrollment } from './enroll/enrollment.js';

export interface BootstrapComponents {
  /** A file (this bootstrap alone) or a store several bootstraps share (etcd). */
  readonly store: StateStore | SharedMemberStore;
  readonly driver: WgDriver;
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly timers?: Timers;
  /** The bootstrap node's own RTT prober (see Agent). */
  readonly rtt?: RttSource;
  /** Its forwarding between peers: given, the bootstrap offers to relay (it is reachable by definition). */
  readonly relayForwarding?: RelayForwarding;
  /** Where a key rotation of the bootstrap's own node keeps its key (see Agent). */
  readonly keyStore?: KeyStore;
  /** Dev mode: plain gRPC and no client identity. mTLS mode supplies both. */
  readonly serverCredentials?: grpc.ServerCredentials;
  readonly authenticator?: Authenticator;
  /**
   * bootstrap -psk: the mesh's preshared-key secret (from the state dir, or etcd), loaded at start;
   * every pair of nodes is then given its own preshared key. None: no preshared keys.
   */
  readonly presharedKeySecret?: () => Promise<Uint8Array>;
  /** Signs node certificates for enrollment tokens (-ca-key); made once the member table is open. */
  readonly enrollment?: (table: MemberTable) => Enrollment;
}

export interface BootstrapInit {
  readonly meshName: string;
  readonly nodeName: string;
  readonly privateKey: string;
  readonly cidr?: string;
  readonly ipamRange?: string;
  readonly selfIp?: string;
  readonly grpcBindAddr?: string;
  /** 0 picks a free port (tests). */
  readonly grpcPort?: number;
  readonly listenPort?: number;
  readonly tags?: Readonly<Record<string, string>>;
  readonly endpoints?: () => Endpoint[] | Promise<Endpoint[]>;
  /** Serve the local Agent API here; undefined: do not. */
  readonly socketPath?: string;
  readonly socketOwner?: string;
  readonly heartbeatMs?: number;
  /** Rotate the bootstrap node's WireGuard key this often (ms; absent: never). */
  readonly keyRotationMs?: number;
  /** A rotation a crash interrupted (its next key): resumed once the node is up. */
  readonly pendingPrivateKey?: string;
  /** UDP port of the embedded STUN responder; default: the gRPC port number; 0: none. */
  readonly stunPort?: number;
  /** How often the bootstrap's WireGuard device is read for members' observed endpoints. */
  readonly observeIntervalMs?: number;
  /** Failure detection thresholds; defaults in LIVENESS_DEFAULTS. */
  readonly liveness?: Omit<LivenessInit, 'clock' | 'timers' | 'logger' | 'exempt'>;
  /**
   * Give the mesh layer 2 (bootstrap -l2): kept in the mesh's state (a restart without it keeps
   * it) and told to every node in its JoinResponse. Not with a shared store (etcd) yet.
   */
  readonly l2?: L2Settings;
  /** Percent the heap may grow past its live size between full collections (limitHeapGrowth); default DEFAULTS.heapGrowthPercent, 0: V8's own. */
  readonly heapGrowthPercent?: number;
  /** Members from which the heap's growth is limited; default DEFAULTS.heapGrowthFromMembers. */
  readonly heapGrowthFromMembers?: number;
}

/**
 * A bootstrap node: the member table and IPAM, the Mesh join service, and its own membership
 * as a node (an Agent fed in-process from the table, with its own WireGuard device).
 */
export class Bootstrap {
  table: MemberTable | undefined;
  agent: Agent | undefined;
  stats: MeshServiceStats | undefined;
  /** Told of each fan-out of live membership changes to the Watch streams (the metrics' histogram). */
  onFanout: FanoutListener | undefined;
  /** With a shared store: who leads failure detection, and whether the store answers. */
  coordinator: SharedCoordinator | undefined;
  /** Enrollment tokens and the CA that signs for them, when this bootstrap has -ca-key. */
  enrollment: Enrollment | undefined;
  /** Removes members whose certificate is revoked or expired (sweep() at once after a revocation). */
  certificates: CertificateEnforcer | undefined;
  private server: JoinServer | undefined;
  private parts: Lifecycle | undefined;
  private keepInterface = false;
  private readonly logger: Logger;

  constructor(private readonly components: BootstrapComponents, readonly init: BootstrapInit) {
    this.logger = components.logger ?? silentLogger();
  }

  get port(): number {
    return this.server?.boundPort ?? 0;
  }

  /**
   * Opens the member table, serves the join service and STUN, and starts the bootstrap's own node
   * and its watchers. Each part is recorded as it starts, so a failure anywhere stops exactly what
   * is running, in reverse order, before the error is thrown.
   */
  async start(): Promise<void> {
    const ipam = new Ipam(this.init.cidr ?? DEFAULTS.cidr, this.init.ipamRange);
    const selfIp = this.init.selfIp ?? DEFAULTS.selfIp;
    if (!ipam.isAssignable(selfIp)) {
      throw new ConfigError(`-ip ${selfIp} is not a usable address in -cidr ${ipam.cidr.text}; pick one inside it (not the network or broadcast address)`);
    }
    const parts = new Lifecycle(this.logger.child({ component: 'bootstrap' }));
    this.parts = parts;
    this.keepInterface = false;
    await parts.run(() => this.startParts(parts, ipam, selfIp));
    const table = this.table!;
    this.limitHeapGrowthWhenLarge(table);
    this.logger.info('bootstrap started', { mesh: table.meshName, cidr: table.cidr, port: this.port, members: table.size, revision: table.revision });
  }

  private async startParts(parts: Lifecycle, ipam: Ipam, selfIp: string): Promise<void> {
    const store = this.components.store;
    const table = await parts.start(
      'member table',
      () => MemberTable.open(store, ipam, { meshName: this.init.meshName, ...(this.init.l2 ? { l2: this.init.l2 } : {}), ...(this.components.clock ? { clock: this.components.clock } : {}) }),
      (opened) => opened?.close(),
    );
    // Several bootstraps on one store: only the leader judges liveness and records observed endpoints.
    let leading = () => true;
    if (isSharedStore(store)) {
      const log = this.logger.child({ component: 'bootstrap:etcd' });
      const coordinator = store.coordinator({
        self: this.init.nodeName,
        localSeen: () => table.localHeartbeats(),
        onSeen: (seen) => table.noteHeartbeats(seen),
        onReachable: (reachable, err) => {
          table.setStoreReachable(reachable, err instanceof StoreUnavailable ? err.reason : err?.message.split('\n')[0]);
          if (reachable) log.info('etcd answers again: joins and updates are served', { revision: table.revision });
          else log.warn('etcd is unreachable: joins and updates are refused (agents move to another bootstrap); Watch streams go on from what this bootstrap last saw, which may be stale', { err: err?.message, revision: table.revision });
        },
        logger: log,
      });
      await parts.start('etcd coordination', async () => {
        await coordinator.start();
        this.coordinator = coordinator;
      }, async () => {
        await coordinator.stop();
        this.coordinator = undefined;
      });
      leading = () => coordinator.status.leading;
    }
    const authenticator = this.components.authenticator ?? devAuthenticator;
    const loadSecret = this.components.presharedKeySecret;
    let presharedKeys: PresharedKeySource | undefined;
    if (loadSecret) {
      presharedKeys = presharedKeySource(await loadSecret());
      this.logger.info('preshared keys on: every pair of nodes gets its own (-psk)');
    }
    const enrollment = this.components.enrollment?.(table);
    this.enrollment = enrollment;
    // Join answers and Watch snapshots (each the whole membership) share one bound on bytes in flight.
    const answers = new SendBudget(DEFAULTS.joinAnswersInFlightMaxBytes);
    const service = createMeshService({
      table, auth: authenticator, logger: this.logger.child({ component: 'bootstrap:service' }),
      ...(presharedKeys ? { presharedKeys } : {}),
      ...(enrollment ? { enrollment } : {}),
    }, { answers, onFanout: (...fanout) => this.onFanout?.(...fanout) });
    const server = new JoinServer(service.handlers, {
      bindAddr: this.init.grpcBindAddr ?? DEFAULTS.grpcBindAddr,
      port: this.init.grpcPort ?? DEFAULTS.grpcPort,
      credentials: this.components.serverCredentials ?? grpc.ServerCredentials.createInsecure(),
      joinAnswers: answers,
    });
    await parts.start(
      'join service',
      async () => {
        await server.start();
        this.table = table;
        this.stats = service.stats;
        this.server = server;
      },
      async () => {
        service.closeWatchers();
        await server.stop();
        this.server = undefined;
      },
    );
    const stunPort = this.init.stunPort ?? server.boundPort;
    if (stunPort !== 0) {
      const stun = new StunResponder({ bindAddr: this.init.grpcBindAddr ?? DEFAULTS.grpcBindAddr, port: stunPort, logger: this.logger.child({ component: 'bootstrap:stun' }) });
      await parts.start('STUN', () => stun.start(), () => stun.stop());
    }
    // Built before the node starts, so bad thresholds fail the start before WireGuard is touched.
    const liveness = new LivenessMonitor(table, {
      ...this.init.liveness,
      ...(this.components.clock ? { clock: this.components.clock } : {}),
      ...(this.components.timers ? { timers: this.components.timers } : {}),
      logger: this.logger.child({ component: 'bootstrap:liveness' }),
      exempt: (name) => name === this.init.nodeName,
      active: leading,
    });
    const agent = new Agent(
      {
        control: createLocalControl(table, { ip: selfIp, ...(presharedKeys ? { presharedKeys } : {}) }),
        driver: this.components.driver,
        logger: this.logger.child({ component: 'bootstrap:node' }),
        ...(this.components.timers ? { timers: this.components.timers } : {}),
        ...(this.components.rtt ? { rtt: this.components.rtt } : {}),
        ...(this.components.relayForwarding ? { relayForwarding: this.components.relayForwarding } : {}),
        ...(this.components.keyStore ? { keyStore: this.components.keyStore } : {}),
        lastHeartbeatMs: (name) => table.lastSeenMs(name),
      },
      {
        meshName: this.init.meshName,
        nodeName: this.init.nodeName,
        privateKey: this.init.privateKey,
        ...(this.init.listenPort !== undefined ? { listenPort: this.init.listenPort } : {}),
        ...(this.init.tags ? { tags: this.init.tags } : {}),
        ...(this.init.endpoints ? { endpoints: this.init.endpoints } : {}),
        ...(this.init.heartbeatMs ? { heartbeatMs: this.init.heartbeatMs } : {}),
        ...(this.init.keyRotationMs ? { keyRotationMs: this.init.keyRotationMs } : {}),
        ...(this.init.pendingPrivateKey ? { pendingPrivateKey: this.init.pendingPrivateKey } : {}),
        bootstrapAddr: `${this.init.grpcBindAddr ?? DEFAULTS.grpcBindAddr}:${server.boundPort}`,
        isBootstrap: true,
        relay: this.components.relayForwarding !== undefined,
      },
    );
    // The bootstrap stays a member when it stops (it is coming back): no Leave.
    await parts.start(
      'node',
      async () => {
        await agent.start();
        this.agent = agent;
      },
      async () => {
        await agent.stop({ leave: false, keepInterface: this.keepInterface });
        this.agent = undefined;
      },
    );
    const observer = new EndpointObserver(table, async () => (await agent.driver.read()).peers, {
      timers: this.components.timers ?? defaultTimers,
      ...(this.init.observeIntervalMs ? { intervalMs: this.init.observeIntervalMs } : {}),
      logger: this.logger.child({ component: 'bootstrap:observer' }),
      active: leading,
    });
    await parts.start('endpoint observer', () => observer.start(), () => observer.stop());
    await parts.start('liveness', () => liveness.start(), () => liveness.stop());
    const certificates = new CertificateEnforcer(table, {
      ...(authenticator.revocations ? { revocations: authenticator.revocations } : {}),
      ...(this.components.clock ? { clock: this.components.clock } : {}),
      ...(this.components.timers ? { timers: this.components.timers } : {}),
      logger: this.logger.child({ component: 'bootstrap:certificates' }),
    });
    await parts.start('certificates', () => {
      certificates.start();
      this.certificates = certificates;
    }, async () => {
      this.certificates = undefined;
      await certificates.stop();
    });
    const socketPath = this.init.socketPath;
    if (socketPath) {
      const localApi = new LocalApiServer(agent, { socketPath, ...(this.init.socketOwner ? { owner: this.init.socketOwner } : {}), ...(enrollment ? { tokens: enrollment.admin } : {}) }, this.logger);
      await parts.start('local API', () => localApi.start(), () => localApi.stop());
    }
  }

  /**
   * Stops serving, last part first. The bootstrap stays a member (it is coming back); its
   * interface is removed unless keepInterface.
   */
  async stop(options: { keepInterface?: boolean } = {}): Promise<void> {
    this.keepInterface = options.keepInterface ?? false;
    this.heapGrowthWatch?.();
    this.heapGrowthWatch = undefined;
    await this.parts?.stop();
  }

  /** Set while the mesh is smaller than DEFAULTS.heapGrowthFromMembers: ends the wait for it to grow. */
  private heapGrowthWatch: (() => void) | undefined;

  /**
   * limitHeapGrowth, once the mesh is large (now, or when a change makes it so): the fan-out
   * garbage it is for comes with thousands of Watch streams. A small mesh's process keeps V8's
   * flags as they were: a process whose flags changed makes code caches that no other process can
   * use (the CLI keeps one of each run, bin/bundle-loader.js).
   */
  private limitHeapGrowthWhenLarge(table: MemberTable): void {
    this.heapGrowthWatch?.();
    this.heapGrowthWatch = undefined;
    const percent = this.init.heapGrowthPercent ?? DEFAULTS.heapGrowthPercent;
    if (!(percent > 0)) return;
    const large = () => table.size >= (this.init.heapGrowthFromMembers ?? DEFAULTS.heapGrowthFromMembers);
    const limit = () => {
      limitHeapGrowth(percent);
      this.heapGrowthLimited = true;
    };
    if (large()) return limit();
    const unsubscribe = table.subscribe(() => {
      if (!large()) return;
      unsubscribe();
      this.heapGrowthWatch = undefined;
      limit();
    });
    this.heapGrowthWatch = unsubscribe;
  }

  /** Whether this bootstrap has limited the heap's growth (limitHeapGrowthWhenLarge). */
  heapGrowthLimited = false;
}
