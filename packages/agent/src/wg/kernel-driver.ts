import { silentLogger, type Logger } from '../log.js';
import { InterfaceInUse, InvalidWgConfig, NotRoot, WgCommandFailed, WireGuardUnavailable, INSTALL_HINT } from '../errors.js';
import { directRunner, type CommandRunner } from './exec.js';
import type { WgDeviceState, WgDriver, WgInterfaceConfig, WgOp } from './types.js';
import { applyOps, checkInterfaceConfig, configureInterface, deleteLink, linkInfo, readDevice, setAddress, setPrivateKey, validateInterfaceName } from './wg-tool.js';

export interface KernelWgDriverInit {
  /** Where `ip` and `wg` run; default: directly on this host. */
  readonly runner?: CommandRunner;
  readonly logger?: Logger;
}

/** WireGuard through the kernel module (`ip link add IF type wireguard`), driven with `wg` and `ip`. */
export class KernelWgDriver implements WgDriver {
  readonly kind = 'kernel' as const;
  readonly reportsHandshakes = true;
  private readonly runner: CommandRunner;
  private readonly logger: Logger;
  /** This driver made the link and gave it no address (up() without one): there is none to list. */
  private addressless = false;

  constructor(
    readonly name: string,
    init: KernelWgDriverInit = {},
  ) {
    validateInterfaceName(name);
    this.runner = init.runner ?? directRunner;
    this.logger = init.logger ?? silentLogger();
  }

  async up(config: WgInterfaceConfig): Promise<void> {
    if (config.name !== this.name) throw new InvalidWgConfig(`driver for ${this.name} was given config for ${config.name}`);
    // Before anything is created: a config wg or ip refuses must not leave an interface behind.
    checkInterfaceConfig(config);
    const existing = await linkInfo(this.runner, this.name);
    if (existing && existing.kind !== 'wireguard') {
      throw new InterfaceInUse(
        this.name,
        `interface ${this.name} already exists and is a ${existing.kind || 'non-WireGuard'} interface, not WireGuard: ` +
          `remove it (ip link del ${this.name}) or choose another interface name`,
      );
    }
    if (existing) {
      // An earlier agent run left it: keep it (and its peers) so traffic survives the restart; reconcile fixes the rest.
      this.logger.info('taking over existing WireGuard interface', { interface: this.name });
    } else {
      await addKernelWireGuardLink(this.runner, this.name);
    }
    await configureInterface(this.runner, config);
    this.addressless = !existing && config.address === undefined;
  }

  async setAddress(address: string): Promise<void> {
    await setAddress(this.runner, this.name, address, { fresh: this.addressless });
    this.addressless = false;
  }

  read(): Promise<WgDeviceState> {
    return readDevice(this.runner, this.name);
  }

  apply(ops: readonly WgOp[]): Promise<void> {
    return applyOps(this.runner, this.name, ops);
  }

  setPrivateKey(privateKey: string): Promise<void> {
    return setPrivateKey(this.runner, this.name, privateKey);
  }

  async close(options: { keepInterface?: boolean } = {}): Promise<void> {
    if (options.keepInterface) return;
    await deleteLink(this.runner, this.name);
  }

}

/**
 * `ip link add NAME type wireguard`: WireGuardUnavailable when the kernel has no WireGuard
 * module, NotRoot without the permission. Also how the factory probes for the module.
 */
export async function addKernelWireGuardLink(runner: CommandRunner, name: string): Promise<void> {
  try {
    await runner.run('ip', ['link', 'add', 'dev', name, 'type', 'wireguard']);
  } catch (err) {
    const stderr = err instanceof WgCommandFailed ? (err.details.stderr ?? '') : '';
    if (/Operation not permitted/i.test(stderr)) throw new NotRoot();
    if (/Unknown device type|not supported/i.test(stderr)) {
      throw new WireGuardUnavailable(
        `this kernel has no WireGuard module (ip link add ${name} type wireguard: ${stderr.trim()}); use the userspace backend: ${INSTALL_HINT}`,
        { cause: err },
      );
    }
    throw err;
  }
}
