import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { realpath, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { InterfaceInUse, InterfaceNotUp, InvalidWgConfig, ListenPortInUse, WgCommandFailed, WgError } from '../errors.js';
import { commandExists, directRunner, formatCommandLine, waitUntil, type CommandRunner } from './exec.js';
import { fitsUnixSocketAddress, uapiAnswers, uapiGet, uapiSet, uapiSetLines } from './uapi.js';
import type { WgDeviceState, WgDriver, WgInterfaceConfig, WgOp, WgPeerConfig } from './types.js';
import { applyOps, checkInterfaceConfig, configureLink, deleteLink, linkInfo, readDevice, setAddress, setKeyAndPort, setPrivateKey, validateInterfaceName } from './wg-tool.js';

export const USERSPACE_DEFAULTS = {
  command: 'wireguard-go',
  socketDir: '/var/run/wireguard',
  startTimeoutMs: 10_000,
  /** wireguard-go needs about 1 s after SIGTERM to remove its interface and socket. */
  stopTimeoutMs: 5_000,
  restartInitialMs: 200,
  restartMaxMs: 10_000,
  /** A daemon that ran this long before dying counts as a fresh failure: backoff starts over. */
  stableAfterMs: 30_000,
} as const;

export interface UserspaceWgDriverInit {
  /** Where `wireguard-go`, `wg` and `ip` run; default: directly on this host. */
  readonly runner?: CommandRunner;
  readonly logger?: Logger;
  /** The wireguard-go binary; default "wireguard-go" from PATH. */
  readonly command?: string;
  /** Where wireguard-go puts its UAPI socket (as seen by the runner's commands). */
  readonly socketDir?: string;
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  readonly restartInitialMs?: number;
  readonly restartMaxMs?: number;
  readonly stableAfterMs?: number;
  /**
   * Start wireguard-go under `setpriv --pdeathsig TERM` so the kernel stops it if the agent dies
   * without closing the driver. Default: when setpriv is on PATH.
   */
  readonly killWithParent?: boolean;
}

export interface WgRestartEvent {
  /** How many restarts in a row this is (1 for the first after a stable run). */
  readonly attempt: number;
  /** How the previous daemon ended. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The new daemon's PID. */
  readonly pid: number;
}

/** Implemented by drivers whose device can disappear and come back on its own. */
export interface RestartNotifier {
  /** Called after the device was re-created and re-configured; the agent should reconcile. */
  onRestart(listener: (event: WgRestartEvent) => void): () => void;
}

export function hasRestartNotifier(driver: WgDriver): driver is WgDriver & RestartNotifier {
  return typeof (driver as Partial<RestartNotifier>).onRestart === 'function';
}

const OUTPUT_LINES = 20;
/**
 * The lines of the box wireguard-go prints at every start (that the kernel has WireGuard, or how
 * to get it). Its box-drawing characters as escapes: the CLI bundle must stay ASCII (bundle.mjs).
 */
const WARNING_BOX = /^[\u2502\u250c\u2514]/;

/** One wireguard-go process; keeps the last lines it printed for error messages. */
class Daemon {
  readonly startedAt = Date.now();
  exited = false;
  exitCode: number | null = null;
  signal: string | null = null;
  spawnError: Error | undefined;
  readonly exit: Promise<void>;
  private readonly lines: string[] = [];

  constructor(
    readonly process: ChildProcess,
    readonly commandLine: string,
    private readonly logger: Logger,
  ) {
    this.exit = new Promise((resolve) => {
      process.once('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.signal = signal;
        resolve();
      });
      process.on('error', (err) => {
        // Without a PID the process never started, so no 'exit' will follow.
        if (process.pid !== undefined) return;
        this.exited = true;
        this.spawnError = err;
        resolve();
      });
    });
    for (const stream of [process.stdout, process.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => this.record(chunk));
    }
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Its last lines of output, minus the warning box it always prints at start. */
  get output(): string {
    return this.lines.filter((line) => !WARNING_BOX.test(line)).join('\n');
  }

  describeExit(): string {
    if (this.spawnError) return `could not start: ${this.spawnError.message}`;
    const how = this.signal ? `killed by ${this.signal}` : `exit ${this.exitCode}`;
    return this.output ? `${how}: ${this.output}` : how;
  }

  private record(chunk: string): void {
    for (const raw of chunk.split('\n')) {
      const line = raw.trimEnd();
      if (!line) continue;
      this.lines.push(line);
      // Not the warning box it prints at every start (ten lines, each a log call at a node's start).
      if (!WARNING_BOX.test(line)) this.logger.debug('wireguard-go output', { line });
    }
    if (this.lines.length > OUTPUT_LINES) this.lines.splice(0, this.lines.length - OUTPUT_LINES);
  }
}

/**
 * WireGuard through wireguard-go, run in the foreground (`-f`) as a supervised child. If it
 * exits unexpectedly it is restarted with backoff, the interface and the last applied peers are
 * restored, and `onRestart` listeners are told so the agent can reconcile against the truth.
 *
 * `close({ keepInterface: true })` is not supported: the interface lives exactly as long as the
 * wireguard-go process, and that process must not outlive the agent. It is ignored with a warning.
 */
export class UserspaceWgDriver implements WgDriver, RestartNotifier {
  readonly kind = 'userspace' as const;
  readonly reportsHandshakes = true;
  private readonly runner: CommandRunner;
  private readonly logger: Logger;
  private readonly settings: Required<Omit<UserspaceWgDriverInit, 'runner' | 'logger' | 'killWithParent'>>;
  private killWithParent: boolean | undefined;
  private realSocketPath: string | undefined;
  private config: WgInterfaceConfig | undefined;
  /** The peers last asked for, replayed after a restart; `read()` still asks the device. */
  private readonly peers = new Map<string, WgPeerConfig>();
  private daemon: Daemon | undefined;
  /** The daemon whose tun this driver brought up without an address (up() without one). */
  private addresslessDaemon: Daemon | undefined;
  private closing = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(event: WgRestartEvent) => void>();

  constructor(
    readonly name: string,
    init: UserspaceWgDriverInit = {},
  ) {
    validateInterfaceName(name);
    this.runner = init.runner ?? directRunner;
    this.logger = init.logger ?? silentLogger();
    this.killWithParent = init.killWithParent;
    this.settings = {
      command: init.command ?? USERSPACE_DEFAULTS.command,
      socketDir: init.socketDir ?? USERSPACE_DEFAULTS.socketDir,
      startTimeoutMs: init.startTimeoutMs ?? USERSPACE_DEFAULTS.startTimeoutMs,
      stopTimeoutMs: init.stopTimeoutMs ?? USERSPACE_DEFAULTS.stopTimeoutMs,
      restartInitialMs: init.restartInitialMs ?? USERSPACE_DEFAULTS.restartInitialMs,
      restartMaxMs: init.restartMaxMs ?? USERSPACE_DEFAULTS.restartMaxMs,
      stableAfterMs: init.stableAfterMs ?? USERSPACE_DEFAULTS.stableAfterMs,
    };
  }

  /** The running wireguard-go's PID, if any. */
  get pid(): number | undefined {
    return this.daemon?.exited ? undefined : this.daemon?.pid;
  }

  /** The last lines wireguard-go printed (its start-up warning box left out). */
  get daemonOutput(): string {
    return this.daemon?.output ?? '';
  }

  get socketPath(): string {
    return `${this.settings.socketDir}/${this.name}.sock`;
  }

  onRestart(listener: (event: WgRestartEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async up(config: WgInterfaceConfig): Promise<void> {
    if (config.name !== this.name) throw new InvalidWgConfig(`driver for ${this.name} was given config for ${config.name}`);
    if (this.config || this.daemon) throw new WgError(`interface ${this.name} is already up: close it first`);
    // Before wireguard-go starts: a config wg or ip refuses costs no daemon.
    checkInterfaceConfig(config);
    this.closing = false;
    await this.serialize(async () => {
      await this.clearLeftovers();
      const daemon = await this.startDaemon();
      try {
        await this.configure(daemon, config);
        // With port 0 wireguard-go picks one; keep it so a restart does not move our endpoint.
        const listenPort = config.listenPort !== 0 ? config.listenPort : (await readDevice(this.runner, this.name)).listenPort;
        this.config = { ...config, listenPort };
        this.addresslessDaemon = config.address === undefined ? daemon : undefined;
        this.peers.clear();
        this.failures = 0;
      } catch (err) {
        await this.stopDaemon(daemon);
        throw err;
      }
    });
  }

  async setAddress(address: string): Promise<void> {
    if (!this.config) throw new InterfaceNotUp(this.name);
    checkInterfaceConfig({ ...this.config, address });
    // Remembered first, so a restarted wireguard-go comes back with it.
    this.config = { ...this.config, address };
    await this.serialize(async () => {
      // The tun of a daemon started without an address has none (a restarted one has its own).
      const daemon = this.daemon;
      const fresh = daemon !== undefined && daemon === this.addresslessDaemon;
      await setAddress(this.runner, this.name, address, { fresh });
      this.addresslessDaemon = undefined;
    });
  }

  read(): Promise<WgDeviceState> {
    // Over the UAPI socket when the daemon is there; else `wg`, which names a missing device.
    const path = this.uapiPath();
    return path ? uapiGet(path, this.name) : readDevice(this.runner, this.name);
  }

  async apply(ops: readonly WgOp[]): Promise<void> {
    if (!this.config) throw new InterfaceNotUp(this.name);
    if (ops.length === 0) return;
    // Remember the intent first: if the daemon is down right now, its restart restores it. A
    // set-peer without an endpoint keeps the one asked for before, as `wg set` keeps it.
    for (const op of ops) {
      if (op.op === 'remove-peer') {
        this.peers.delete(op.publicKey);
        continue;
      }
      const endpoint = op.peer.endpoint ?? this.peers.get(op.peer.publicKey)?.endpoint;
      this.peers.set(op.peer.publicKey, { ...op.peer, ...(endpoint !== undefined ? { endpoint } : {}) });
    }
    await this.serialize(() => this.applyNow(ops));
  }

  /** The ops over the UAPI socket (one `set=1`), or with `wg set` where UAPI cannot take them as given. */
  private async applyNow(ops: readonly WgOp[]): Promise<void> {
    const path = this.uapiPath();
    const lines = path ? uapiSetLines(this.name, ops) : undefined;
    if (!path || !lines) {
      await applyOps(this.runner, this.name, ops);
      return;
    }
    const errno = await uapiSet(path, lines);
    if (errno !== 0) throw new WgCommandFailed(`wireguard-go refused the peers set on ${this.name} (errno ${errno})`, { commandLine: `uapi set ${this.name}`, exitCode: errno });
  }

  /** The running daemon's UAPI socket, as this process reaches it; undefined when there is none (or its path is too long). */
  private uapiPath(): string | undefined {
    const daemon = this.daemon;
    if (!daemon || daemon.exited || daemon.pid === undefined || this.realSocketPath === undefined) return undefined;
    const path = `/proc/${daemon.pid}/root${this.realSocketPath}`;
    return fitsUnixSocketAddress(path) ? path : undefined;
  }

  async setPrivateKey(privateKey: string): Promise<void> {
    if (!this.config) throw new InterfaceNotUp(this.name);
    // Remembered first, so a restarted wireguard-go comes back with the new key.
    this.config = { ...this.config, privateKey };
    await this.serialize(() => setPrivateKey(this.runner, this.name, privateKey));
  }

  async close(options: { keepInterface?: boolean } = {}): Promise<void> {
    if (options.keepInterface) {
      this.logger.warn('keepInterface is ignored by the userspace driver: wireguard-go must not outlive the agent, and its interface goes with it', {
        interface: this.name,
      });
    }
    this.closing = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.config = undefined;
    this.peers.clear();
    const daemon = this.daemon;
    if (daemon) await this.stopDaemon(daemon);
    // Let an in-flight restart notice `closing` and finish before we report closed.
    await this.queue.catch(() => {});
  }

  /**
   * Key and port over the daemon's UAPI socket (`set=1`: one exchange instead of sh, cat and wg),
   * then address, MTU and link up with `ip`. `wg` sets the key and port when the socket's path is
   * too long for a Unix socket address.
   */
  private async configure(daemon: Daemon, config: WgInterfaceConfig): Promise<void> {
    checkInterfaceConfig(config);
    const path = `/proc/${daemon.pid}/root${await this.resolvedSocketPath()}`;
    if (daemon.pid === undefined || !fitsUnixSocketAddress(path)) {
      await setKeyAndPort(this.runner, config);
    } else {
      const privateKey = Buffer.from(config.privateKey, 'base64').toString('hex');
      const errno = await uapiSet(path, [`private_key=${privateKey}`, `listen_port=${config.listenPort}`]);
      if (errno !== 0) {
        const failed = new WgCommandFailed(`wireguard-go refused the key and listen port for ${this.name} (errno ${errno})`, { commandLine: `uapi set ${this.name}`, exitCode: errno });
        // EADDRINUSE (98 on Linux), whichever sign wireguard-go gives it.
        if (Math.abs(errno) === 98) throw new ListenPortInUse(this.name, config.listenPort, { cause: failed });
        throw failed;
      }
    }
    await configureLink(this.runner, config);
  }

  /** Run device-changing work one at a time, so a restart's replay and an apply never interleave. */
  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => {});
    return result;
  }

  /** Deal with what an earlier run may have left: a stale daemon, a stale socket, a foreign interface. */
  private async clearLeftovers(): Promise<void> {
    // Usually there is nothing: where the kernel's list of links can be read here, a name it does
    // not list needs no `ip link show` (a process, on the way to wireguard-go's start).
    const netDev = this.runner.sharesNetwork ? readNetDev() : undefined;
    const link = netDev !== undefined && !linkListed(netDev, this.name) ? undefined : await linkInfo(this.runner, this.name);
    if (link && (link.kind !== 'tun' || link.persistent)) {
      throw new InterfaceInUse(
        this.name,
        `interface ${this.name} already exists and is a ${link.persistent ? 'persistent tun' : link.kind || 'non-WireGuard'} interface ` +
          `that wireguard-go did not create: remove it (ip link del ${this.name}) or choose another interface name`,
      );
    }
    if ((await this.socketExists()) && (await this.daemonAnswers())) {
      // Its supervisor died without stopping it. Removing its tun makes it exit and remove its socket.
      this.logger.warn('stopping a wireguard-go left running by an earlier run', { interface: this.name });
      if (link) await deleteLink(this.runner, this.name);
      const gone = await waitUntil(async () => !(await this.socketExists()), { timeoutMs: this.settings.stopTimeoutMs, intervalMs: 25 });
      if (!gone) {
        throw new InterfaceInUse(
          this.name,
          `a wireguard-go for ${this.name} is still running (socket ${this.socketPath}) and did not exit when its interface was removed: ` +
            `stop it (find its PID with: ss -xlp | grep ${this.name}.sock) and start again`,
        );
      }
    } else if (link) {
      throw new InterfaceInUse(
        this.name,
        `interface ${this.name} already exists (a tun device no wireguard-go answers for): remove it (ip link del ${this.name}) or choose another interface name`,
      );
    }
    // A socket whose daemon died (e.g. SIGKILL) stays behind; wireguard-go copes, but our readiness check would not.
    await this.removeSocket();
  }

  private async removeSocket(): Promise<void> {
    if (this.runner.sharesFiles) await rm(this.socketPath, { force: true });
    else await this.runner.run('rm', ['-f', this.socketPath]);
  }

  private async socketExists(): Promise<boolean> {
    if (this.runner.sharesFiles) {
      try {
        return (await stat(this.socketPath)).isSocket();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return false;
        throw err;
      }
    }
    try {
      await this.runner.run('test', ['-S', this.socketPath]);
      return true;
    } catch (err) {
      if (err instanceof WgCommandFailed && err.details.exitCode === 1) return false;
      throw err;
    }
  }

  private async daemonAnswers(): Promise<boolean> {
    try {
      await this.runner.run('wg', ['show', this.name, 'listen-port']);
      return true;
    } catch (err) {
      if (err instanceof WgCommandFailed) return false;
      throw err;
    }
  }

  /** Start wireguard-go and wait (with a deadline) until its UAPI socket answers. */
  private async startDaemon(): Promise<Daemon> {
    if (this.killWithParent === undefined) this.killWithParent = await commandExists('setpriv');
    const socketPath = await this.resolvedSocketPath();
    const args = ['-f', this.name];
    const [cmd, argv] = this.killWithParent
      ? ['setpriv', ['--pdeathsig', 'TERM', '--', this.settings.command, ...args]]
      : [this.settings.command, args];
    // No await between this check and the spawn: close() either sees the daemon or stops us here.
    if (this.closing) throw new WgError(`interface ${this.name} was closed while starting`);
    const daemon = new Daemon(this.runner.spawnDaemon(cmd, argv), formatCommandLine(cmd, argv), this.logger);
    this.daemon = daemon;
    void daemon.exit.then(() => this.onDaemonExit(daemon));
    let ready: boolean;
    try {
      ready = await waitUntil(() => this.socketReady(daemon, socketPath), {
        timeoutMs: this.settings.startTimeoutMs,
        // A poll is a stat (and, once the socket is there, one UAPI get): cheap enough to make
        // often, and the join's path waits for this answer.
        intervalMs: 2,
        abort: () =>
          daemon.exited
            ? new WgCommandFailed(`${daemon.commandLine} (${this.runner.description}) ended while starting (${daemon.describeExit()})`, {
                commandLine: daemon.commandLine,
                exitCode: daemon.exitCode,
                signal: daemon.signal,
                stderr: daemon.output,
              })
            : undefined,
      });
    } catch (err) {
      await this.stopDaemon(daemon);
      throw err;
    }
    if (!ready) {
      await this.stopDaemon(daemon);
      throw new WgCommandFailed(
        `${daemon.commandLine} (${this.runner.description}) did not open ${this.socketPath} within ${this.settings.startTimeoutMs} ms` +
          (daemon.output ? `: ${daemon.output}` : ''),
        { commandLine: daemon.commandLine, stderr: daemon.output, timedOut: true },
      );
    }
    this.logger.debug('wireguard-go started', { interface: this.name, pid: daemon.pid });
    return daemon;
  }

  /**
   * The socket path with symlinks resolved where the commands run. Needed for /proc/PID/root
   * paths: an absolute symlink on the way (/var/run -> /run) would resolve against our root.
   */
  private async resolvedSocketPath(): Promise<string> {
    if (this.realSocketPath === undefined) {
      if (this.runner.sharesFiles) {
        this.realSocketPath = await resolvedPath(this.socketPath);
      } else {
        const { stdout } = await this.runner.run('readlink', ['-m', this.socketPath]);
        this.realSocketPath = stdout.trim() || this.socketPath;
      }
    }
    return this.realSocketPath;
  }

  private async socketReady(daemon: Daemon, socketPath: string): Promise<boolean> {
    if (daemon.exited || daemon.pid === undefined) return false;
    // /proc/PID/root shows the daemon's own mount namespace, so this works behind a namespace
    // runner without spawning a process per poll.
    const path = `/proc/${daemon.pid}/root${socketPath}`;
    try {
      if (!(await stat(path)).isSocket()) return false;
    } catch {
      return false;
    }
    // Asked here over its UAPI socket (`get=1`, what `wg show` sends): no process per poll. A
    // path too long for a Unix socket address (108 bytes with its NUL) is left to `wg`.
    return fitsUnixSocketAddress(path) ? uapiAnswers(path) : this.daemonAnswers();
  }

  private async stopDaemon(daemon: Daemon): Promise<void> {
    if (daemon.exited) return;
    daemon.process.kill('SIGTERM');
    const stopped = await Promise.race([
      daemon.exit.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), this.settings.stopTimeoutMs).unref()),
    ]);
    if (stopped) return;
    this.logger.warn('wireguard-go did not stop on SIGTERM; killing it', { interface: this.name, pid: daemon.pid });
    daemon.process.kill('SIGKILL');
    await daemon.exit;
    // Killed, it could not clean up after itself.
    await this.removeSocket().catch(() => {});
    await deleteLink(this.runner, this.name).catch(() => false);
  }

  private currentDaemon(): Daemon | undefined {
    return this.daemon;
  }

  private onDaemonExit(daemon: Daemon): void {
    for (const stream of [daemon.process.stdout, daemon.process.stderr]) stream?.destroy();
    if (daemon !== this.daemon) return;
    this.daemon = undefined;
    if (this.closing || !this.config) return;
    if (Date.now() - daemon.startedAt >= this.settings.stableAfterMs) this.failures = 0;
    this.logger.warn('wireguard-go exited unexpectedly; restarting it', {
      interface: this.name,
      pid: daemon.pid,
      exitCode: daemon.exitCode,
      signal: daemon.signal,
      output: daemon.output,
    });
    this.scheduleRestart(daemon);
  }

  private scheduleRestart(previous: Daemon): void {
    if (this.restartTimer || this.closing) return;
    const delay = Math.min(this.settings.restartInitialMs * 2 ** this.failures, this.settings.restartMaxMs);
    this.failures += 1;
    const attempt = this.failures;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart(previous, attempt);
    }, delay);
    // Nothing to restart for if the agent has nothing else keeping it alive.
    this.restartTimer.unref();
  }

  /**
   * Restores the remembered peers after a restart. A peer wg refuses (say, an endpoint that cannot
   * be resolved) is left out rather than failing the restart over and over: the agent, told of
   * the restart, reconciles and reports it.
   */
  private async replayPeers(daemon: Daemon): Promise<void> {
    const peers = [...this.peers.values()];
    const setPeer = (peer: WgPeerConfig): WgOp => ({ op: 'set-peer', peer });
    try {
      await this.applyNow(peers.map(setPeer));
      return;
    } catch (err) {
      if (daemon.exited) throw err;
    }
    for (const peer of peers) {
      try {
        await this.applyNow([setPeer(peer)]);
      } catch (err) {
        if (daemon.exited) throw err;
        this.peers.delete(peer.publicKey);
        this.logger.warn('could not restore a peer after restarting wireguard-go; left out', { interface: this.name, publicKey: peer.publicKey, err: errorMessage(err) });
      }
    }
  }

  private async restart(previous: Daemon, attempt: number): Promise<void> {
    const event = await this.serialize(async (): Promise<WgRestartEvent | undefined> => {
      const config = this.config;
      if (this.closing || !config || this.daemon) return undefined;
      try {
        await this.removeSocket();
        const daemon = await this.startDaemon();
        await this.configure(daemon, config);
        await this.replayPeers(daemon);
        this.logger.info('wireguard-go restarted and reconfigured', { interface: this.name, pid: daemon.pid, attempt, peers: this.peers.size });
        return { attempt, exitCode: previous.exitCode, signal: previous.signal, pid: daemon.pid ?? 0 };
      } catch (err) {
        if (this.closing) return undefined;
        this.logger.error('restarting wireguard-go failed', { interface: this.name, attempt, err: errorMessage(err) });
        // (Read through a method: TypeScript would keep the narrowing from the check above.)
        const current = this.currentDaemon();
        // Its exit schedules the next attempt; with no daemon left, schedule it here.
        if (current && !current.exited) current.process.kill('SIGKILL');
        else this.scheduleRestart(previous);
        return undefined;
      }
    });
    if (!event) return;
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error('onRestart listener threw', { interface: this.name, err: errorMessage(err) });
      }
    }
  }
}

/** Whether /proc/net/dev's text lists a link of this name (each link is a line `  NAME: counters…`). */
export function linkListed(netDev: string, name: string): boolean {
  for (const line of netDev.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim() === name) return true;
  }
  return false;
}

/** This process's network namespace's links, as /proc/self/net/dev lists them (undefined where it cannot be read: then `ip` decides). */
function readNetDev(): string | undefined {
  try {
    // A few hundred bytes from the kernel: read at once, not through the thread pool.
    return readFileSync('/proc/self/net/dev', 'utf8');
  } catch {
    return undefined;
  }
}

/** `readlink -m`: the path with every symlink on the way resolved, its missing tail kept as given. */
export async function resolvedPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const parent = dirname(path);
  if (parent === path) return path;
  return join(await resolvedPath(parent), basename(path));
}
