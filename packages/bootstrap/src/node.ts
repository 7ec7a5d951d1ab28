import { AgentNode, type NodeComponents, type NodeCore, type NodeInit } from '@wgmesh/agent/node/node';
import { nodeFiles } from '@wgmesh/agent/node/files';
import type { L2Settings } from '@wgmesh/agent/l2/l2';
import { Bootstrap } from './bootstrap.js';
import type { Clock } from './members/table.js';
import { FileStateStore } from './members/store.js';
import type { EtcdMeshStoreInit } from './store/etcd-mesh-store.js';
import { decideMeshStart, meshStartFacts } from './members/mesh-start.js';
import type { LivenessInit } from './members/liveness.js';
import { Ipam } from './ipam/ipam.js';
import { MeshTls } from './tls/mtls.js';
import { ConfigError, MeshStartRefused } from './errors.js';
import { DEFAULTS } from './constants.js';
import { loadOrCreatePskSecretFile, pskSecretFile, readPskSecretFile } from './psk/psk.js';
import { CertificateAuthority } from './enroll/csr.js';
import { Enrollment } from './enroll/enrollment.js';
import { FileTokenStore, type TokenStore } from './enroll/token-store.js';
import { FileCertificateStore } from './enroll/certificate-store.js';
import { CertificateRevocation, REVOCATION_REFRESH_MS } from './enroll/revocation.js';
import { systemClock, type MemberTable } from './members/table.js';
import path from 'node:path';

/** The join service's TLS material, as loaded from files by the caller (the CLI). */
export interface BootstrapTlsInit {
  readonly caPem: Buffer;
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  /** A PEM CRL of the CA, reloaded when it changes. */
  readonly crlFile?: string;
  /** The CA's private key (-ca-key): this bootstrap then enrolls nodes with tokens (`wgmesh token`). */
  readonly caKeyPem?: Buffer;
  /** Where certPem and keyPem came from: re-read when they change (a renewed server certificate, no restart). */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Validity of the node certificates this bootstrap signs (enrolled and renewed); default 365 days. */
  readonly certLifetimeMs?: number;
}

export interface BootstrapNodeComponents extends NodeComponents {
  readonly clock?: Clock;
}

export interface BootstrapNodeInit extends NodeInit {
  readonly cidr?: string;
  readonly ipamRange?: string;
  readonly selfIp?: string;
  readonly grpcBindAddr?: string;
  /** 0 picks a free port (tests). */
  readonly grpcPort?: number;
  /** UDP port of the embedded STUN responder; default: the gRPC port number; 0: none. */
  readonly stunPort?: number;
  readonly liveness?: Omit<LivenessInit, 'clock' | 'timers' | 'logger' | 'exempt'>;
  /** Start a new mesh in a used state dir whose bootstrap.json is missing (-new-mesh). */
  readonly newMesh?: boolean;
  /** mTLS for the join service; none: dev mode (plain gRPC, no client identity). */
  readonly tls?: BootstrapTlsInit;
  /** Keep members and IPs in etcd, shared with the mesh's other bootstraps (-store etcd); none: the state file. */
  readonly etcd?: Omit<EtcdMeshStoreInit, 'meshName' | 'cidr'>;
  /** Give every pair of nodes its own WireGuard preshared key (-psk); the secret they come from is kept in the state dir or etcd. */
  readonly presharedKeys?: boolean;
  /** Give the mesh layer 2 (-l2, -l2-vni, -l2-port): see BootstrapInit.l2. */
  readonly meshL2?: L2Settings;
}

/** A bootstrap node: its member table and join service, with the parts every node has around them. */
export class BootstrapNode extends AgentNode {
  declare readonly init: BootstrapNodeInit;
  private readonly held: Held;

  constructor(components: BootstrapNodeComponents, init: BootstrapNodeInit) {
    const held: Held = {};
    super(components, { ...init, meshCidr: init.cidr ?? DEFAULTS.cidr }, bootstrapCore(components, init, held));
    this.held = held;
  }

  /** The member table, join service and the bootstrap's own Agent, once started. */
  get bootstrap(): Bootstrap | undefined {
    return this.held.bootstrap;
  }
}

/** What the core made, for the node to show. */
interface Held {
  bootstrap?: Bootstrap;
  tls?: MeshTls;
  ca?: CertificateAuthority;
  /** The bootstrap's own revocation list (with -ca-key). */
  revocation?: CertificateRevocation;
}

function bootstrapCore(components: BootstrapNodeComponents, init: BootstrapNodeInit, held: Held): NodeCore {
  const logger = components.logger;
  return {
    async prepare(parts) {
      // Before the driver and the key: a first start that fails on a setting must leave no key
      // behind, or the next one would look like a mesh that lost its state.
      const cidr = init.cidr ?? DEFAULTS.cidr;
      const selfIp = init.selfIp ?? DEFAULTS.selfIp;
      const ipam = new Ipam(cidr, init.ipamRange);
      if (!ipam.isAssignable(selfIp)) throw new ConfigError(`-ip ${selfIp} is the network or broadcast address of -cidr ${ipam.cidr.text}, or outside it; pick another address inside it`);
      const files = nodeFiles(init.stateDir, init.meshName);
      const facts = await meshStartFacts(files, init.newMesh ?? false);
      if (init.etcd) {
        // The mesh lives in etcd: the state dir holds only this node's key.
        if (facts.stateFileExists) logger?.warn(`${files.bootstrapState} is not read with -store etcd; if it holds this mesh, stop here and move it into etcd with \`wgmesh store migrate -from ${files.bootstrapState}\``, { stateFile: files.bootstrapState });
      } else {
        const decision = decideMeshStart(facts, files);
        if ('refuse' in decision) throw new MeshStartRefused(decision.refuse);
        if (decision.start === 'new-on-purpose') logger?.warn('starting a new mesh (-new-mesh): every node must join again and gets a new mesh IP', { stateFile: files.bootstrapState });
      }
      const tls = init.tls;
      if (tls?.caKeyPem) held.ca = new CertificateAuthority(tls.caPem.toString(), tls.caKeyPem.toString());
      if (tls) {
        held.tls = await parts.start(
          'tls',
          () => new MeshTls({ ...tls, sendCa: held.ca !== undefined, ...(components.clock ? { clock: components.clock } : {}), ...(logger ? { logger: logger.child({ component: 'bootstrap:tls' }) } : {}) }),
          (started) => started?.close(),
        );
      }
    },
    async start(parts, device) {
      const tls = held.tls;
      const etcd = init.etcd;
      // etcd3 (and its own gRPC stack) loads only for -store etcd.
      const EtcdMeshStore = etcd ? (await import('./store/etcd-mesh-store.js')).EtcdMeshStore : undefined;
      const etcdStore = etcd && EtcdMeshStore
        ? await parts.start('etcd client', () => new EtcdMeshStore({ ...etcd, meshName: init.meshName, cidr: init.cidr ?? DEFAULTS.cidr }), (started) => started?.close())
        : undefined;
      const store = etcdStore ?? new FileStateStore(device.files.bootstrapState, { ...(logger ? { logger: logger.child({ component: 'bootstrap:store' }) } : {}) });
      // The secret lives with the membership: in etcd every bootstrap of the mesh derives the same
      // keys. A bootstrap whose mesh moved from its state file into etcd seeds etcd with its file's
      // secret (if etcd has none yet), so pairs keep their keys across the move.
      const secretFile = pskSecretFile(device.files.bootstrapState);
      const presharedKeySecret = init.presharedKeys
        ? async () => (etcdStore ? etcdStore.presharedKeySecret(await readPskSecretFile(secretFile)) : loadOrCreatePskSecretFile(secretFile))
        : undefined;
      // With etcd, tokens live beside the members: any bootstrap of the mesh enrolls with them.
      const tokens = etcdStore ? etcdStore.tokenStore() : new FileTokenStore(path.join(device.files.dir, 'tokens.json'));
      // A bootstrap that signs certificates keeps its own revocation list beside the mesh's state
      // (certificates.json, or etcd: every bootstrap of the mesh enforces it), refused by the
      // authenticator from the moment it is read.
      if (held.ca && tls) {
        const revocation = new CertificateRevocation({
          store: etcdStore ? etcdStore.certificateStore() : new FileCertificateStore(path.join(device.files.dir, 'certificates.json')),
          clock: components.clock ?? systemClock,
          members: () => held.bootstrap?.table?.membersWithCertificates() ?? [],
          enforce: () => held.bootstrap?.certificates?.sweep() ?? Promise.resolve(),
          ...(logger ? { logger: logger.child({ component: 'bootstrap:revocation' }) } : {}),
        }, { refreshMs: etcdStore ? REVOCATION_REFRESH_MS : 0 });
        let detach: (() => void) | undefined;
        await parts.start('revocation list', async () => {
          await revocation.start();
          detach = tls.addRevocationSource(revocation);
          held.revocation = revocation;
        }, () => {
          detach?.();
          revocation.stop();
          held.revocation = undefined;
        });
      }
      const bootstrap = new Bootstrap(
        {
          store,
          driver: device.driver,
          ...(logger ? { logger } : {}),
          ...(components.clock ? { clock: components.clock } : {}),
          ...(components.timers ? { timers: components.timers } : {}),
          ...(device.rtt ? { rtt: device.rtt } : {}),
          ...(device.relayForwarding ? { relayForwarding: device.relayForwarding } : {}),
          keyStore: device.keyStore,
          ...(tls ? { serverCredentials: tls.credentials, authenticator: tls } : {}),
          ...(presharedKeySecret ? { presharedKeySecret } : {}),
          ...(held.ca ? { enrollment: (table: MemberTable) => enrollmentFor(held.ca!, table, tokens, init, () => held.bootstrap?.port ?? 0, components, held.tls, held.revocation) } : {}),
        },
        {
          meshName: init.meshName,
          nodeName: init.nodeName,
          privateKey: device.privateKey,
          ...(init.cidr !== undefined ? { cidr: init.cidr } : {}),
          ...(init.ipamRange !== undefined ? { ipamRange: init.ipamRange } : {}),
          ...(init.selfIp !== undefined ? { selfIp: init.selfIp } : {}),
          ...(init.grpcBindAddr !== undefined ? { grpcBindAddr: init.grpcBindAddr } : {}),
          ...(init.grpcPort !== undefined ? { grpcPort: init.grpcPort } : {}),
          ...(init.listenPort !== undefined ? { listenPort: init.listenPort } : {}),
          ...(init.tags ? { tags: init.tags } : {}),
          endpoints: device.endpoints,
          ...(init.stunPort !== undefined ? { stunPort: init.stunPort } : {}),
          ...(init.heartbeatMs !== undefined ? { heartbeatMs: init.heartbeatMs } : {}),
          ...(init.keyRotationMs ? { keyRotationMs: init.keyRotationMs } : {}),
          ...(device.pendingPrivateKey ? { pendingPrivateKey: device.pendingPrivateKey } : {}),
          ...(init.liveness ? { liveness: init.liveness } : {}),
          ...(init.meshL2 ? { l2: init.meshL2 } : {}),
        },
      );
      held.bootstrap = bootstrap;
      // The bootstrap stays a member when it stops (it is coming back): no Leave.
      await parts.start('bootstrap', () => bootstrap.start(), () => bootstrap.stop({ keepInterface: init.keepInterface ?? false }));
      return bootstrap.agent!;
    },
    async registerMetrics(registry) {
      const { registerBootstrapMetrics } = await import('./metrics.js');
      if (held.bootstrap) registerBootstrapMetrics(registry, held.bootstrap);
    },
    tokenAdmin() {
      return held.bootstrap?.enrollment?.admin;
    },
    certificateAdmin() {
      return held.revocation?.admin;
    },
  };
}

/**
 * A bootstrap node (`wgmesh bootstrap`): checks its state dir (see decideMeshStart), loads TLS,
 * then starts as every node does, with the member table and join service as its core.
 */
export function createBootstrapNode(components: BootstrapNodeComponents, init: BootstrapNodeInit): BootstrapNode {
  return new BootstrapNode(components, init);
}

/**
 * Enrollment with tokens in <state-dir>/<mesh>/tokens.json, or in etcd with -store etcd. A token names, unless `token create`
 * says otherwise, the addresses the server certificate is valid for (its IP, else DNS names) at
 * the join service's port: the only ones a joining node's TLS check accepts.
 */
function enrollmentFor(ca: CertificateAuthority, table: MemberTable, store: TokenStore, init: BootstrapNodeInit, port: () => number, components: BootstrapNodeComponents, tls: MeshTls | undefined, revocation: CertificateRevocation | undefined): Enrollment {
  return new Enrollment(
    {
      ca,
      store,
      clock: components.clock ?? systemClock,
      isMember: (name) => table.get(name) !== undefined,
      ...(revocation ? { recordIssued: (certificate: { name: string; serial: string; notAfterMs: number }) => revocation.recordIssued(certificate) } : {}),
      ...(components.logger ? { logger: components.logger.child({ component: 'bootstrap:enroll' }) } : {}),
    },
    {
      meshName: init.meshName,
      ...(init.tls?.certLifetimeMs ? { certLifetimeMs: init.tls.certLifetimeMs } : {}),
      defaultAddrs: () => {
        const names = tls?.serverNames ?? { ips: [], dns: [] };
        const bind = init.grpcBindAddr ?? DEFAULTS.grpcBindAddr;
        const hosts = names.ips.length ? names.ips : names.dns.length ? names.dns : bind !== '0.0.0.0' && bind !== '::' ? [bind] : [];
        return hosts.map((h) => `${h.includes(':') ? `[${h}]` : h}:${port()}`);
      },
    },
  );
}
