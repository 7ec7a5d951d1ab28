import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { silentLogger, type Logger } from '../log.js';
import { INSTALL_HINT, NotRoot, WgCommandFailed, WireGuardUnavailable } from '../errors.js';
import { commandExists, directRunner, type CommandRunner } from './exec.js';
import { addKernelWireGuardLink, KernelWgDriver } from './kernel-driver.js';
import { MemoryWgDriver } from './memory-driver.js';
import type { WgDriverFactory } from './types.js';
import { UserspaceWgDriver, type UserspaceWgDriverInit } from './userspace-driver.js';

export type WgBackendChoice = 'auto' | 'kernel' | 'userspace' | 'memory';
export type RealWgBackend = 'kernel' | 'userspace';

/** What the host offers; injected so the checks can be tested without changing the host. */
export interface WgHostProbe {
  isRoot(): boolean;
  commandExists(name: string): Promise<boolean>;
  pathExists(path: string): Promise<boolean>;
}

export const defaultHostProbe: WgHostProbe = {
  isRoot: () => process.getuid?.() === 0,
  commandExists: (name) => commandExists(name),
  pathExists: (path) =>
    access(path).then(
      () => true,
      () => false,
    ),
};

export interface WgFactoryOptions {
  readonly logger?: Logger;
  /** Where `ip`, `wg` and `wireguard-go` run; default: directly on this host. */
  readonly runner?: CommandRunner;
  readonly probe?: WgHostProbe;
  /** Extra settings for the userspace driver (timeouts, backoff, socket directory). */
  readonly userspace?: Omit<UserspaceWgDriverInit, 'runner' | 'logger'>;
}

const TUN_DEVICE = '/dev/net/tun';

/**
 * Which real backend this host supports: kernel if a throwaway `type wireguard` interface can be
 * created, else userspace if wireguard-go is installed. Throws NotRoot or WireGuardUnavailable
 * with what to do.
 */
export async function detectWgBackend(options: Omit<WgFactoryOptions, 'userspace'> = {}): Promise<RealWgBackend> {
  const runner = options.runner ?? directRunner;
  const probe = options.probe ?? defaultHostProbe;
  const logger = options.logger ?? silentLogger();
  await checkCommon(probe);
  if (!(await kernelWithoutWireGuard(probe, logger)) && (await kernelSupportsWireGuard(runner, logger))) return 'kernel';
  if (await probe.commandExists('wireguard-go')) {
    await checkUserspace(probe);
    return 'userspace';
  }
  throw new WireGuardUnavailable(
    `WireGuard is not available: this kernel has no WireGuard module and wireguard-go is not installed. Install it with: ${INSTALL_HINT}`,
  );
}

/** Checks that a backend chosen explicitly can work here, with messages that say what to do. */
export async function checkWgPrerequisites(backend: RealWgBackend, probe: WgHostProbe = defaultHostProbe): Promise<void> {
  await checkCommon(probe);
  if (backend === 'userspace') {
    if (!(await probe.commandExists('wireguard-go'))) {
      throw new WireGuardUnavailable(`the userspace backend needs wireguard-go, which is not on PATH. Install it with: ${INSTALL_HINT}`);
    }
    await checkUserspace(probe);
  }
}

/**
 * A driver factory for the chosen backend. 'auto' detects once, on first use; explicit real
 * backends are checked once, so a misconfigured host fails at start with a clear message.
 */
export function createWgDriverFactory(backend: WgBackendChoice, options: WgFactoryOptions = {}): WgDriverFactory {
  if (backend === 'memory') return (name) => new MemoryWgDriver(name);
  const runner = options.runner ?? directRunner;
  const logger = options.logger ?? silentLogger();
  let resolved: Promise<RealWgBackend> | undefined;
  const resolve = (): Promise<RealWgBackend> => {
    resolved ??= (async () => {
      if (backend === 'auto') {
        const found = await detectWgBackend({ runner, logger, ...(options.probe ? { probe: options.probe } : {}) });
        logger.info('WireGuard backend detected', { backend: found });
        return found;
      }
      await checkWgPrerequisites(backend, options.probe);
      return backend;
    })().catch((err: unknown) => {
      // A failed check may be fixed (module loaded, package installed) before the next try.
      resolved = undefined;
      throw err;
    });
    return resolved;
  };
  return async (name) => {
    const kind = await resolve();
    if (kind === 'kernel') return new KernelWgDriver(name, { runner, logger });
    return new UserspaceWgDriver(name, { ...options.userspace, runner, logger });
  };
}

async function checkCommon(probe: WgHostProbe): Promise<void> {
  if (!probe.isRoot()) throw new NotRoot();
  if (!(await probe.commandExists('wg'))) {
    throw new WireGuardUnavailable(`the wg command (wireguard-tools) is not installed. Install it with: ${INSTALL_HINT}`);
  }
  if (!(await probe.commandExists('ip'))) {
    throw new WireGuardUnavailable('the ip command (iproute2) is not installed. Install it with: apt-get install --no-install-recommends iproute2');
  }
}

async function checkUserspace(probe: WgHostProbe): Promise<void> {
  if (!(await probe.pathExists(TUN_DEVICE))) {
    throw new WireGuardUnavailable(
      `wireguard-go needs ${TUN_DEVICE}, which does not exist: load the tun module (modprobe tun), ` +
        `or in a container pass the device (docker run --device /dev/net/tun --cap-add NET_ADMIN)`,
    );
  }
}

/**
 * True when the kernel certainly has no WireGuard, told from files: it loads no modules (no
 * /proc/modules) and has none built in (a built-in WireGuard shows as /sys/module/wireguard). Saves
 * the probe link, a process start on every start of a node on such a kernel (a VM's, often).
 * Otherwise only the probe tells: a module may be loaded on demand.
 */
async function kernelWithoutWireGuard(probe: WgHostProbe, logger: Logger): Promise<boolean> {
  const [loadsModules, builtIn] = await Promise.all([probe.pathExists('/proc/modules'), probe.pathExists('/sys/module/wireguard')]);
  if (loadsModules || builtIn) return false;
  logger.debug('no kernel WireGuard: the kernel loads no modules and has none built in');
  return true;
}

async function kernelSupportsWireGuard(runner: CommandRunner, logger: Logger): Promise<boolean> {
  const probeName = `wgprobe${randomBytes(2).toString('hex')}`;
  try {
    await addKernelWireGuardLink(runner, probeName);
  } catch (err) {
    // Whatever else keeps the probe link from being made, the kernel backend is not usable here.
    if (!(err instanceof WireGuardUnavailable || err instanceof WgCommandFailed)) throw err;
    logger.debug('no kernel WireGuard', { err: err.message });
    return false;
  }
  try {
    await runner.run('ip', ['link', 'del', 'dev', probeName]);
  } catch (err) {
    logger.warn('could not delete the WireGuard probe interface', { interface: probeName, err: err instanceof Error ? err.message : String(err) });
  }
  return true;
}
