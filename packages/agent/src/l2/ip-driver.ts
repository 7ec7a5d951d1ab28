import { directRunner, type CommandRunner } from '../wg/exec.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import type { FloodOp } from './l2.js';
import type { L2DeviceConfig, L2Driver } from './types.js';
import { L2CommandFailed } from '../errors.js';

const ZERO_MAC = '00:00:00:00:00:00';

/** One entry of `bridge -j fdb show`. */
interface FdbEntry {
  readonly mac?: string;
  readonly dst?: string;
  readonly state?: string;
  readonly flags?: readonly string[];
}

/**
 * The L2 devices made with iproute2's `ip` and `bridge` (the commands the wg drivers already run,
 * through the same CommandRunner, so a namespace runner serves tests and the lab).
 *
 * The VXLAN device learns (`learning`, the kernel's default, said out loud): a frame from a peer
 * teaches it which mesh IP a source MAC is behind, and unicast to that MAC then goes to that peer
 * alone instead of to every peer. With `nolearning` every unicast frame would be flooded to all
 * N-1 peers, multiplying the traffic by N-1 for no gain. Learning cannot make a loop (the bridge
 * still never sends a frame back out of the VXLAN port), and what it learns is authenticated:
 * WireGuard admits a packet from a mesh IP only from the peer that owns it.
 */
export class IpL2Driver implements L2Driver {
  readonly kind = 'ip' as const;
  private config: L2DeviceConfig | undefined;
  private readonly runner: CommandRunner;
  private readonly logger: Logger;

  constructor(options: { runner?: CommandRunner; logger?: Logger } = {}) {
    this.runner = options.runner ?? directRunner;
    this.logger = options.logger ?? silentLogger();
  }

  async mtuOf(iface: string): Promise<number> {
    const { stdout } = await this.run('ip', ['-j', 'link', 'show', 'dev', iface]);
    const mtu = (JSON.parse(stdout) as { mtu?: number }[])[0]?.mtu;
    if (typeof mtu !== 'number') throw new L2CommandFailed(`ip link show dev ${iface}`, 'no MTU in its answer');
    return mtu;
  }

  async up(config: L2DeviceConfig): Promise<void> {
    this.config = config;
    const { bridge, vxlan } = config;
    // Devices an earlier run left (-keep-interface, a crash) are made again: their settings may differ.
    await this.deleteLink(vxlan);
    await this.deleteLink(bridge);
    await this.run('ip', ['link', 'add', vxlan, 'type', 'vxlan', 'id', String(config.vni), 'local', config.local, 'dstport', String(config.port), 'learning']);
    // No STP: see l2.ts for why a loop cannot form.
    await this.run('ip', ['link', 'add', bridge, 'type', 'bridge', 'stp_state', '0']);
    await this.run('ip', ['link', 'set', 'dev', vxlan, 'mtu', String(config.mtu), 'master', bridge, 'up']);
    for (const iface of config.bridgeIfs) await this.run('ip', ['link', 'set', 'dev', iface, 'master', bridge, 'up']);
    // Set last: a bridge's MTU otherwise follows its ports' smallest.
    await this.run('ip', ['link', 'set', 'dev', bridge, 'mtu', String(config.mtu), 'up']);
    if (config.address) await this.run('ip', ['addr', 'replace', config.address, 'dev', bridge]);
  }

  async readFlood(): Promise<string[]> {
    return (await this.fdb()).filter((e) => e.mac === ZERO_MAC && e.dst).map((e) => e.dst!);
  }

  async apply(ops: readonly FloodOp[]): Promise<void> {
    if (ops.length === 0) return;
    const vxlan = this.need().vxlan;
    const removed = new Set(ops.filter((o) => o.op === 'del').map((o) => o.dst));
    const lines = ops.map((o) => `fdb ${o.op === 'add' ? 'append' : 'del'} ${ZERO_MAC} dev ${vxlan} dst ${o.dst}`);
    await this.run('bridge', ['-batch', '-'], lines.join('\n') + '\n');
    // A removed peer's learned MACs would send unicast to an address nobody has until they age out
    // (300 s). Best effort, apart from the flood entries: one that ages out between the read and
    // the delete must not fail the others (-force), nor the change.
    if (removed.size === 0) return;
    const stale = (await this.fdb())
      .filter((e) => e.mac && e.mac !== ZERO_MAC && e.dst && removed.has(e.dst) && e.state !== 'permanent')
      .map((e) => `fdb del ${e.mac} dev ${vxlan} dst ${e.dst}`);
    if (stale.length === 0) return;
    await this.run('bridge', ['-force', '-batch', '-'], stale.join('\n') + '\n').catch((err: unknown) =>
      this.logger.debug('some learned MACs of removed peers were already gone', { err: errorMessage(err) }));
  }

  async close(options: { keepInterface?: boolean } = {}): Promise<void> {
    const config = this.config;
    this.config = undefined;
    if (!config || options.keepInterface) return;
    // The bridge first: its ports (the local -l2-bridge-if interfaces) are released, not deleted.
    await this.deleteLink(config.bridge);
    await this.deleteLink(config.vxlan);
  }

  private async fdb(): Promise<FdbEntry[]> {
    const { stdout } = await this.run('bridge', ['-j', 'fdb', 'show', 'dev', this.need().vxlan]);
    return stdout.trim() ? (JSON.parse(stdout) as FdbEntry[]) : [];
  }

  private need(): L2DeviceConfig {
    if (!this.config) throw new L2CommandFailed('bridge fdb', 'the L2 devices are not up');
    return this.config;
  }

  private async deleteLink(name: string): Promise<void> {
    try {
      await this.runner.run('ip', ['link', 'del', 'dev', name]);
    } catch (err) {
      // Absent is what we wanted; anything else is worth a line.
      if (!/Cannot find device|does not exist/.test(errorMessage(err))) this.logger.warn(`could not remove ${name}`, { err: errorMessage(err) });
    }
  }

  private async run(cmd: string, args: readonly string[], input?: string): Promise<{ stdout: string }> {
    try {
      return await this.runner.run(cmd, args, input === undefined ? {} : { input });
    } catch (err) {
      throw new L2CommandFailed([cmd, ...args].join(' '), errorMessage(err), { cause: err });
    }
  }
}
