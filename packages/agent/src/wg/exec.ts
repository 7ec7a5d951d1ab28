import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { WgCommandFailed } from '../errors.js';

export interface RunOptions {
  /** Written to the command's stdin (then closed). Never appears in error messages. */
  readonly input?: string;
  /** Kill the command (SIGKILL) and reject after this long; default 10 s. */
  readonly timeoutMs?: number;
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface SpawnDaemonOptions {
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * How drivers run `wg`, `ip` and `wireguard-go`. The default runs them directly; a namespace
 * runner runs the same commands inside a network and mount namespace, so the same driver code
 * serves the agent, the tests and the lab.
 */
export interface CommandRunner {
  run(cmd: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Start a long-running process: stdin ignored, stdout/stderr piped, its PID is the command's own. */
  spawnDaemon(cmd: string, args: readonly string[], options?: SpawnDaemonOptions): ChildProcess;
  /** How this runner's context is named in messages (e.g. "netns wgmt-1a2b"). */
  readonly description: string;
  /**
   * Its commands see the files this process sees (no mount namespace of their own): a driver
   * then checks and removes a file itself instead of starting `test` or `rm` for it.
   */
  readonly sharesFiles?: boolean;
  /**
   * Its commands run in this process's network namespace: a driver may then read the links from
   * /proc/self/net/dev instead of starting `ip` (a process spawn on the way to a node's start).
   */
  readonly sharesNetwork?: boolean;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const EXIT_TO_CLOSE_GRACE_MS = 1_000;

export function formatCommandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (a === '' ? "''" : /[\s'"\\$`]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ');
}

export interface CaptureOptions {
  /** Written to the command's stdin (then closed). */
  readonly input?: string;
  /** Kill the command (SIGKILL) and answer after this long; none by default. */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Sees the process once spawned (e.g. to stop it on an abort). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/** How a command ended, with everything it printed. */
export interface Captured {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** It could not be started at all (e.g. ENOENT). */
  readonly spawnError?: NodeJS.ErrnoException;
}

/**
 * Runs a command to completion and captures its output. Never waits past its timeout, nor (by
 * more than a moment) past its exit: a helper the command left behind may hold its output pipes
 * open, and 'close' would then wait for the helper (unshare --mount=FILE forks one, for example).
 */
export function captureCommand(cmd: string, args: readonly string[], options: CaptureOptions = {}): Promise<Captured> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    options.onSpawn?.(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let settled = false;
    let exitGrace: NodeJS.Timeout | undefined;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, timedOut: boolean, spawnError?: NodeJS.ErrnoException): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(exitGrace);
      resolve({
        exitCode, signal, timedOut,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        ...(spawnError ? { spawnError } : {}),
      });
    };
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      child.kill('SIGKILL');
      finish(null, 'SIGKILL', true);
    }, options.timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    // Without a PID the process never started: no 'exit' or 'close' follows.
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) finish(null, null, false, err);
    });
    // 'close' (output fully read) normally follows 'exit' at once.
    child.on('exit', (exitCode, signal) => {
      exitGrace = setTimeout(() => finish(exitCode, signal, false), EXIT_TO_CLOSE_GRACE_MS);
    });
    child.on('close', (exitCode, signal) => finish(exitCode, signal, false));
    if (options.input !== undefined && child.stdin) {
      // The command may exit without reading its input; that shows up as its exit status instead.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input);
    }
  });
}

/** Run a command to completion; rejects with WgCommandFailed naming the command line and stderr. */
export async function runCommand(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const commandLine = formatCommandLine(cmd, args);
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const r = await captureCommand(cmd, args, { timeoutMs, ...(options.input !== undefined ? { input: options.input } : {}) });
  if (r.spawnError) {
    const what = r.spawnError.code === 'ENOENT' ? `command not found: ${cmd}` : `${commandLine}: ${r.spawnError.message}`;
    throw new WgCommandFailed(what, { commandLine }, { cause: r.spawnError });
  }
  if (r.exitCode === 0 && !r.timedOut) return { stdout: r.stdout, stderr: r.stderr };
  const why = r.timedOut ? `timed out after ${timeoutMs} ms` : r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`;
  const tail = r.stderr.trim() ? `: ${r.stderr.trim()}` : '';
  throw new WgCommandFailed(`${commandLine} failed (${why})${tail}`, { commandLine, exitCode: r.exitCode, signal: r.signal, stderr: r.stderr, timedOut: r.timedOut });
}

/** True if `name` is an executable file on PATH (or an executable absolute path). */
export async function commandExists(name: string, path = process.env.PATH ?? ''): Promise<boolean> {
  const candidates = isAbsolute(name) ? [name] : path.split(delimiter).filter(Boolean).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return true;
    } catch {
      // not here; try the next PATH entry
    }
  }
  return false;
}

function spawnDaemon(cmd: string, args: readonly string[], options: SpawnDaemonOptions = {}): ChildProcess {
  return spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
}

/** Runs commands directly in the agent's own namespaces. */
export const directRunner: CommandRunner = {
  run: runCommand,
  spawnDaemon,
  description: 'host',
  sharesFiles: true,
  sharesNetwork: true,
};

/** Runs every command behind a fixed prefix (e.g. `nsenter … --`). */
export function prefixedRunner(prefix: readonly string[], description: string, options: { sharesFiles?: boolean } = {}): CommandRunner {
  const [head, ...rest] = prefix;
  if (!head) return directRunner;
  return {
    run: (cmd, args, options) => runCommand(head, [...rest, cmd, ...args], options),
    spawnDaemon: (cmd, args, options) => spawnDaemon(head, [...rest, cmd, ...args], options),
    description,
    ...(options.sharesFiles ? { sharesFiles: true } : {}),
  };
}

export interface NamespaceRunnerOptions {
  /** A network namespace: a name under /var/run/netns, or a path to a namespace file. */
  readonly net?: string;
  /** A mount namespace file (a bind mount made by `unshare --mount=FILE`). */
  readonly mount?: string;
}

/**
 * Runs commands inside existing namespaces through `nsenter --net=… --mount=… --`. nsenter opens
 * the namespace files before entering any, and execs the command without forking (no PID
 * namespace is entered), so a daemon's PID is the daemon's own and signals reach it directly.
 */
export function namespaceRunner(options: NamespaceRunnerOptions): CommandRunner {
  const prefix = ['nsenter'];
  const names: string[] = [];
  if (options.net) {
    const netPath = options.net.includes('/') ? options.net : `/var/run/netns/${options.net}`;
    prefix.push(`--net=${netPath}`);
    names.push(`netns ${options.net}`);
  }
  if (options.mount) {
    prefix.push(`--mount=${options.mount}`);
    names.push(`mountns ${options.mount}`);
  }
  prefix.push('--');
  return prefixedRunner(prefix, names.join(', ') || 'host', { sharesFiles: !options.mount });
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Stop early (rejecting with this error) when it returns one, e.g. a daemon that exited. */
  readonly abort?: () => Error | undefined;
}

/** Poll `check` until it returns true; false at the deadline. No fixed sleeps beyond the poll interval. */
export async function waitUntil(check: () => boolean | Promise<boolean>, options: WaitOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 20;
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw aborted;
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
