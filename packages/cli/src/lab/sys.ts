/** Running commands and reading /proc: the lab's only contact with the system besides the fs. */
import { constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { access, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
// The subpath, not the package root: lab commands start without loading the whole agent.
import { captureCommand } from '@wgmesh/agent/exec';
import { LabCommandFailed } from './errors.js';
import { parseProcStat, type ProcStat } from './parse.js';

export interface ExecResult {
  /** The exit status; 128 + signal number when killed by a signal (as a shell reports it). */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CaptureOptions {
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
}

/** The exit status a shell reports: the code, or 128 + the signal's number when killed by one. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
}

export function formatCommandLine(argv: readonly string[]): string {
  return argv.map((a) => (a === '' ? "''" : /[\s'"\\$`;&|<>()*?]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ');
}

/** Runs a command to completion and collects its output; a non-zero exit is a result, not an error. */
export async function runCapture(cmd: string, args: readonly string[], options: CaptureOptions = {}): Promise<ExecResult> {
  const r = await captureCommand(cmd, args, options);
  // A failed spawn is reported the way a shell would.
  if (r.spawnError) return { code: r.spawnError.code === 'ENOENT' ? 127 : 126, signal: null, stdout: '', stderr: `${cmd}: ${r.spawnError.message}\n` };
  const stderr = r.stderr + (r.timedOut ? `\n(killed after ${options.timeoutMs} ms)\n` : '');
  return { code: exitCodeOf(r.exitCode, r.signal), signal: r.signal, stdout: r.stdout, stderr };
}

/** Like runCapture, but a non-zero exit throws LabCommandFailed naming the command and its stderr. */
export async function runOk(cmd: string, args: readonly string[], options: CaptureOptions = {}): Promise<string> {
  const result = await runCapture(cmd, args, { timeoutMs: 30_000, ...options });
  if (result.code !== 0) {
    const line = formatCommandLine([cmd, ...args]);
    const why = result.stderr.trim() || `exit ${result.code}`;
    throw new LabCommandFailed(`${line}: ${why}`, line, result.code, result.stderr);
  }
  return result.stdout;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` is true or the deadline passes; returns whether it became true. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every process on the machine (a process that exits mid-scan is skipped). */
export async function processTable(): Promise<ProcStat[]> {
  const entries = await readdir('/proc');
  const stats = await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map((e) => readProcStat(Number(e))));
  return stats.filter((s): s is ProcStat => s !== undefined);
}

export interface ProcessIdentity {
  readonly pid: number;
  readonly startTicks: number;
}

/** Still the same process and not a zombie (a zombie has exited; only its parent's wait is missing). */
export async function isRunning(proc: ProcessIdentity): Promise<boolean> {
  const s = await readProcStat(proc.pid);
  return s !== undefined && s.startTicks === proc.startTicks && s.state !== 'Z' && s.state !== 'X';
}

export function signal(proc: ProcessIdentity, sig: NodeJS.Signals): boolean {
  try {
    process.kill(proc.pid, sig);
    return true;
  } catch {
    return false;
  }
}

export async function readMountinfo(): Promise<string> {
  return readFile('/proc/self/mountinfo', 'utf8');
}

/** The inode of a namespace file (/run/netns/X, a mount-namespace file, /proc/PID/ns/net). */
export async function namespaceInode(path: string): Promise<number | undefined> {
  try {
    if (path.startsWith('/proc/')) {
      const link = await readlink(path);
      const match = /\[(\d+)\]$/.exec(link);
      return match ? Number(match[1]) : undefined;
    }
    return (await stat(path)).ino;
  } catch {
    return undefined;
  }
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** An executable of that name in one of PATH's directories (what spawn would run). */
export async function commandOnPath(command: string, path: string = process.env.PATH ?? ''): Promise<boolean> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}
