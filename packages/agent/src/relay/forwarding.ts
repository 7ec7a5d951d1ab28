import { readFile, writeFile } from 'node:fs/promises';
import { errorMessage, type Logger } from '../log.js';
import { commandExists, runCommand, type CommandResult, type RunOptions } from '../wg/exec.js';
import { RelayUnavailable } from '../errors.js';

/**
 * A relay forwards between its own WireGuard peers in the kernel: IP forwarding on the wg
 * interface only, and a filter that lets through nothing but mesh-to-mesh traffic that came in
 * on that interface and goes back out of it. What is forwarded is further bounded by WireGuard
 * itself: a packet from a peer must come from that peer's allowed IPs (its own /32 on the
 * relay), and goes out only to a peer whose allowed IPs hold the destination (a current member).
 */
export interface RelayForwarding {
  /** Turns forwarding on (idempotent; also re-applies it to a re-created interface). */
  enable(): Promise<void>;
  /** Turns it off and removes every rule it added (idempotent). */
  disable(): Promise<void>;
  /** Bytes forwarded between peers since enabled (the filter's counter), 0 when off. */
  forwardedBytes(): Promise<number>;
  readonly enabled: boolean;
}

export type Run = (cmd: string, args: readonly string[], options?: RunOptions) => Promise<CommandResult>;

export interface KernelForwardingInit {
  readonly interfaceName: string;
  /** The mesh CIDR (known once joined): only traffic between two addresses inside it is forwarded. */
  readonly meshCidr: () => string | undefined;
  readonly logger: Logger;
  readonly run?: Run;
  /** Where the interface's sysctls live (tests point it elsewhere). */
  readonly procSys?: string;
}

/** The chain's name: one per interface, so two meshes on one host do not touch each other's rules. */
export function relayChainName(interfaceName: string): string {
  return `WGMESH-RELAY-${interfaceName}`.slice(0, 28);
}

/**
 * Kernel forwarding with iptables (ip6tables for an IPv6 mesh). Rules: FORWARD jumps to the
 * chain for everything that came in on the interface; the chain accepts in-and-out on the
 * interface between mesh addresses (its counter is the relayed traffic) and drops the rest; and
 * OUTPUT drops ICMP redirects on the interface (forwarding back out of the interface it came
 * in on would otherwise tell the sender to use a "better" next hop, which on a tunnel is noise).
 * Stale rules of an earlier run that died are removed before new ones are added.
 */
export class KernelForwarding implements RelayForwarding {
  private enabledValue = false;
  private readonly run: Run;
  private readonly chain: string;
  /** The family's tools, as of the last enable (a mesh's CIDR never changes family). */
  private iptables = 'iptables';
  private sysctlFile = '';
  private previousForwarding: string | undefined;

  constructor(private readonly init: KernelForwardingInit) {
    this.run = init.run ?? runCommand;
    this.chain = relayChainName(init.interfaceName);
  }

  get enabled(): boolean {
    return this.enabledValue;
  }

  /** Whether this host can relay at all; the reason when it cannot. */
  static async check(): Promise<string | undefined> {
    if (!(await commandExists('iptables'))) return 'iptables is not installed (apt-get install --no-install-recommends iptables)';
    return undefined;
  }

  async enable(): Promise<void> {
    const wg = this.init.interfaceName;
    const meshCidr = this.init.meshCidr();
    if (!meshCidr) throw new RelayUnavailable(`cannot forward on ${wg} before the mesh CIDR is known`);
    const v6 = meshCidr.includes(':');
    this.iptables = v6 ? 'ip6tables' : 'iptables';
    this.sysctlFile = `${this.init.procSys ?? '/proc/sys'}/net/${v6 ? 'ipv6' : 'ipv4'}/conf/${wg}/forwarding`;
    try {
      await this.removeRules();
      await this.ipt(['-N', this.chain]);
      await this.ipt(['-A', this.chain, '-i', wg, '-o', wg, '-s', meshCidr, '-d', meshCidr, '-m', 'comment', '--comment', 'wgmesh relay', '-j', 'ACCEPT']);
      await this.ipt(['-A', this.chain, '-j', 'DROP']);
      await this.ipt(['-I', 'FORWARD', '1', '-i', wg, '-j', this.chain]);
      await this.ipt(['-I', 'OUTPUT', '1', ...this.redirectMatch(), '-j', 'DROP']);
      if (this.previousForwarding === undefined) this.previousForwarding = (await readFile(this.sysctlFile, 'utf8')).trim();
      await writeFile(this.sysctlFile, '1');
    } catch (err) {
      await this.removeRules().catch(() => {});
      throw new RelayUnavailable(`cannot forward on ${wg}: ${errorMessage(err)}`, { cause: err });
    }
    if (!this.enabledValue) this.init.logger.info('relaying: forwarding between mesh peers on', { interface: wg, chain: this.chain });
    this.enabledValue = true;
  }

  async disable(): Promise<void> {
    const wasEnabled = this.enabledValue;
    this.enabledValue = false;
    await this.removeRules();
    if (this.previousForwarding !== undefined && this.sysctlFile) {
      // The interface may be gone already (stopped): nothing left to reset then.
      await writeFile(this.sysctlFile, this.previousForwarding).catch(() => {});
      this.previousForwarding = undefined;
    }
    if (wasEnabled) this.init.logger.info('relaying off: forwarding rules removed', { interface: this.init.interfaceName });
  }

  async forwardedBytes(): Promise<number> {
    if (!this.enabledValue) return 0;
    try {
      const { stdout } = await this.ipt(['-L', this.chain, '-n', '-v', '-x']);
      // Header lines, then "pkts bytes target ..."; the ACCEPT rule is the first.
      const accept = stdout.split('\n').find((line) => /\sACCEPT\s/.test(line));
      return accept ? Number(accept.trim().split(/\s+/)[1] ?? 0) : 0;
    } catch {
      return 0;
    }
  }

  private redirectMatch(): string[] {
    return this.iptables === 'ip6tables'
      ? ['-o', this.init.interfaceName, '-p', 'icmpv6', '--icmpv6-type', 'redirect']
      : ['-o', this.init.interfaceName, '-p', 'icmp', '--icmp-type', 'redirect'];
  }

  /** Every rule and the chain, however many copies an earlier run left. */
  private async removeRules(): Promise<void> {
    const wg = this.init.interfaceName;
    while (await this.ipt(['-D', 'FORWARD', '-i', wg, '-j', this.chain]).then(() => true, () => false));
    while (await this.ipt(['-D', 'OUTPUT', ...this.redirectMatch(), '-j', 'DROP']).then(() => true, () => false));
    await this.ipt(['-F', this.chain]).catch(() => {});
    await this.ipt(['-X', this.chain]).catch(() => {});
  }

  private ipt(args: readonly string[]): Promise<CommandResult> {
    return this.run(this.iptables, ['-w', ...args]);
  }
}

/** For the memory driver (unit tests, simulations): remembers the switch, forwards nothing. */
export class MemoryForwarding implements RelayForwarding {
  enabledValue = false;
  enables = 0;
  get enabled(): boolean {
    return this.enabledValue;
  }
  async enable(): Promise<void> {
    this.enabledValue = true;
    this.enables++;
  }
  async disable(): Promise<void> {
    this.enabledValue = false;
  }
  async forwardedBytes(): Promise<number> {
    return 0;
  }
}
