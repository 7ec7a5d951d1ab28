/**
 * The reference for the data-plane figures: two network namespaces joined by a veth, each with a
 * wireguard-go configured by hand with `wg set` and `ip`, no wgmesh involved. Each wireguard-go
 * runs in its own mount namespace (a tmpfs on /run), so its UAPI socket appears nowhere else
 * and the two never collide on /var/run/wireguard. Nothing is created in the root namespace:
 * the veth is made inside the first namespace with its peer placed in the second.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@wgmesh/agent';
import { listNetns, netnsPath } from '@wgmesh/cli/lab';
import { exec, execOk, sleep, startDaemon, stopDaemon, type Daemon } from './dp-sys.js';

export interface WgPairOptions {
  /** Network namespace names. */
  readonly netns?: readonly [string, string];
  /** Underlay addresses on the veth (a /24). */
  readonly underlay?: readonly [string, string];
  /** Overlay addresses on the WireGuard interfaces (a /24, inside 198.18.0.0/15). */
  readonly overlay?: readonly [string, string];
  readonly iface?: string;
  readonly listenPort?: number;
  readonly mtu?: number;
  /**
   * Use these existing network namespaces and underlay addresses instead of creating namespaces
   * and a veth (e.g. two lab hosts, to compare over the same underlay). They are left in place.
   */
  readonly existing?: { readonly netnsPaths: readonly [string, string]; readonly underlayIps: readonly [string, string] };
}

export const WG_PAIR_DEFAULTS = {
  netns: ['wgp-a', 'wgp-b'] as const,
  underlay: ['203.0.113.1', '203.0.113.2'] as const,
  overlay: ['198.19.0.1', '198.19.0.2'] as const,
  iface: 'wgp0',
  listenPort: 51820,
  // The same MTU wgmesh gives its interfaces (DEFAULT_MTU in the agent's wg-tool).
  mtu: 1420,
};

interface Side {
  /** A name for messages (the namespace's name, or its path). */
  readonly netns: string;
  readonly netnsPath: string;
  readonly underlayIp: string;
  readonly overlayIp: string;
  readonly privateKey: string;
  readonly publicKey: string;
  daemon?: Daemon;
}

export class WgPair {
  private readonly sides: [Side, Side];
  private readonly iface: string;
  private readonly listenPort: number;
  private readonly mtu: number;
  private created: string[] = [];
  private readonly ownNamespaces: boolean;

  private constructor(options: WgPairOptions) {
    this.ownNamespaces = options.existing === undefined;
    const netns = options.existing?.netnsPaths ?? options.netns ?? WG_PAIR_DEFAULTS.netns;
    const underlay = options.existing?.underlayIps ?? options.underlay ?? WG_PAIR_DEFAULTS.underlay;
    const overlay = options.overlay ?? WG_PAIR_DEFAULTS.overlay;
    this.iface = options.iface ?? WG_PAIR_DEFAULTS.iface;
    this.listenPort = options.listenPort ?? WG_PAIR_DEFAULTS.listenPort;
    this.mtu = options.mtu ?? WG_PAIR_DEFAULTS.mtu;
    this.sides = [0, 1].map((i) => ({
      netns: netns[i]!,
      netnsPath: this.ownNamespaces ? netnsPath(netns[i]!) : netns[i]!,
      underlayIp: underlay[i]!,
      overlayIp: overlay[i]!,
      ...generateKeyPair(),
    })) as [Side, Side];
  }

  /** The namespaces this pair uses (for teardown of a stale pair). */
  static namespaces(options: WgPairOptions = {}): readonly string[] {
    return options.netns ?? WG_PAIR_DEFAULTS.netns;
  }

  /** Builds and configures the pair; on failure, removes whatever it made. */
  static async up(options: WgPairOptions = {}): Promise<WgPair> {
    const pair = new WgPair(options);
    try {
      await pair.build();
    } catch (err) {
      await pair.down().catch(() => {});
      throw err;
    }
    return pair;
  }

  overlayIp(side: 0 | 1): string {
    return this.sides[side].overlayIp;
  }

  /** argv prefix that runs a command in a side's network namespace. */
  netnsCommand(side: 0 | 1, cmd: readonly string[]): string[] {
    return ['nsenter', `--net=${this.sides[side].netnsPath}`, '--', ...cmd];
  }

  /** PIDs of the two wireguard-go processes. */
  get daemonPids(): number[] {
    return this.sides.flatMap((s) => (s.daemon ? [s.daemon.pid] : []));
  }

  /** Stops both wireguard-go (their own processes only) and deletes both namespaces. Idempotent. */
  async down(): Promise<void> {
    for (const side of this.sides) {
      if (side.daemon) await stopDaemon(side.daemon);
      side.daemon = undefined;
    }
    await deletePairNamespaces(this.created);
    this.created = [];
  }

  private async build(): Promise<void> {
    const [a, b] = this.sides;
    if (this.ownNamespaces) {
      const existing = await listNetns();
      for (const side of this.sides) {
        if (existing.includes(side.netns)) throw new Error(`network namespace ${side.netns} already exists (a stale run? the benchmark's --cleanup removes it)`);
      }
      for (const side of this.sides) {
        await execOk(['ip', 'netns', 'add', side.netns]);
        this.created.push(side.netns);
        await execOk(['ip', '-n', side.netns, 'link', 'set', 'lo', 'up']);
      }
      await execOk(['ip', '-n', a.netns, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth0', 'netns', b.netns]);
      for (const side of this.sides) {
        await execOk(['ip', '-n', side.netns, 'addr', 'add', `${side.underlayIp}/24`, 'dev', 'veth0']);
        await execOk(['ip', '-n', side.netns, 'link', 'set', 'veth0', 'up']);
      }
    }
    const keyDir = await mkdtemp(join(tmpdir(), 'wgmesh-bench-pair-'));
    try {
      for (const [i, side, peer] of [[0, a, b], [1, b, a]] as const) {
        side.daemon = await startDaemon(
          [
            'nsenter', `--net=${side.netnsPath}`, '--',
            'unshare', '--mount', '--propagation', 'private', '--',
            'sh', '-c', 'mount -t tmpfs -o mode=0755 wgmesh-bench /run && mkdir -p /run/wireguard && exec wireguard-go -f "$0"', this.iface,
          ],
          `wireguard-go ${side.netns}`,
        );
        await this.waitForSocket(side.daemon);
        const keyFile = join(keyDir, `side${i}.key`);
        await writeFile(keyFile, side.privateKey + '\n', { mode: 0o600 });
        const enter = ['nsenter', '-t', String(side.daemon.pid), '-m', '-n', '--'];
        await execOk([
          ...enter, 'wg', 'set', this.iface, 'private-key', keyFile, 'listen-port', String(this.listenPort),
          'peer', peer.publicKey, 'endpoint', `${peer.underlayIp}:${this.listenPort}`, 'allowed-ips', `${peer.overlayIp}/32`,
        ]);
        await execOk([...enter, 'ip', 'addr', 'add', `${side.overlayIp}/24`, 'dev', this.iface]);
        await execOk([...enter, 'ip', 'link', 'set', 'dev', this.iface, 'mtu', String(this.mtu), 'up']);
      }
    } finally {
      await rm(keyDir, { recursive: true, force: true });
    }
    // First handshake, so measurements start from an established session.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await exec(this.netnsCommand(0, ['ping', '-n', '-q', '-c', '1', '-W', '1', b.overlayIp]), { timeoutMs: 5_000 });
      if (r.code === 0) break;
      if (Date.now() > deadline) throw new Error(`hand-configured pair: no ping reply from ${b.overlayIp} within 15 s`);
      await sleep(100);
    }
  }

  private async waitForSocket(daemon: Daemon): Promise<void> {
    const path = `/proc/${daemon.pid}/root/run/wireguard/${this.iface}.sock`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if ((await stat(path)).isSocket()) return;
      } catch {
        // Not there yet.
      }
      if (Date.now() > deadline) throw new Error(`${daemon.label} (PID ${daemon.pid}) did not open its UAPI socket within 10 s`);
      await sleep(10);
    }
  }
}

/** Deletes the pair's namespaces that exist (after its processes were stopped). */
export async function deletePairNamespaces(names: readonly string[]): Promise<string[]> {
  const existing = await listNetns();
  const deleted: string[] = [];
  for (const ns of names.filter((n) => existing.includes(n))) {
    const r = await exec(['ip', 'netns', 'delete', ns], { cleanup: true });
    if (r.code !== 0) throw new Error(`ip netns delete ${ns}: ${r.stderr.trim()}`);
    deleted.push(ns);
  }
  return deleted;
}
