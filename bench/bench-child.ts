/**
 * A child process of a benchmark part that talks in lines (bootstrap-child.ts, agent-child.ts):
 * started through `sh -c 'ulimit -n N; exec node …'` so it may hold thousands of connections,
 * its stdout read as lines (JSON where it parses), its stdin held open (the children exit when
 * it closes). Every child started is recorded, and stopChildren() / the exit handler stop them
 * by their own PID: never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const here = path.dirname(new URL(import.meta.url).pathname);
const live = new Set<BenchChild>();

export type ChildMessage = Record<string, unknown> & { readonly line: string };

export interface BenchChildOptions {
  /** RLIMIT_NOFILE for the child (soft and hard). */
  readonly nofile?: number;
  /** Node flags before the script (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[];
}

export class BenchChild {
  readonly proc: ChildProcess;
  private readonly queue: ChildMessage[] = [];
  private readonly waiters: { match: (m: ChildMessage) => boolean; resolve: (m: ChildMessage) => void }[] = [];
  exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  /** `script` is a file in bench/, run with tsx from source. */
  constructor(readonly label: string, script: string, args: readonly string[], options: BenchChildOptions = {}) {
    const nofile = options.nofile ?? 65536;
    const argv = [process.execPath, ...(options.nodeFlags ?? []), '--conditions=source', '--import', 'tsx', path.join(here, script), ...args];
    // exec: the PID is node's own, so signals and /proc reads reach the child itself.
    // Without CAP_SYS_RESOURCE the hard limit is as far as it goes (said on stderr).
    const raise = `ulimit -n ${nofile} 2>/dev/null || { ulimit -n "$(ulimit -Hn)"; echo "${label}: open-files limit ${nofile} refused; running with the hard limit $(ulimit -n)" >&2; }`;
    this.proc = spawn('sh', ['-c', `${raise}; exec "$@"`, 'sh', ...argv], { stdio: ['pipe', 'pipe', 'inherit'] });
    live.add(this);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => {
      this.exitCode = code;
      live.delete(this);
      resolve(code);
    }));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let msg: ChildMessage;
      try {
        const parsed = JSON.parse(line) as unknown;
        msg = { ...(typeof parsed === 'object' && parsed !== null ? parsed : { value: parsed }), line };
      } catch {
        msg = { line };
      }
      const i = this.waiters.findIndex((w) => w.match(msg));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
      else this.queue.push(msg);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  send(msg: object | string): void {
    if (this.exitCode === undefined) this.proc.stdin!.write(`${typeof msg === 'string' ? msg : JSON.stringify(msg)}\n`);
  }

  /** The next line that matches (a queued one first); rejects when the child exits first or after timeoutMs. */
  next(match: (m: ChildMessage) => boolean, timeoutMs = 3_600_000): Promise<ChildMessage> {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (m: ChildMessage) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.label}: no answer within ${(timeoutMs / 1000).toFixed(0)} s`));
      }, timeoutMs);
      this.waiters.push(waiter);
      void this.exited.then((code) => {
        if (!this.waiters.includes(waiter)) return;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        clearTimeout(timer);
        reject(new Error(`${this.label} (pid ${this.pid}) exited (${code}) before answering`));
      });
    });
  }

  /** Closes its stdin (it exits on its own), then SIGTERM, then SIGKILL: each after graceMs. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.proc.stdin!.end();
    for (const signal of [undefined, 'SIGTERM', 'SIGKILL'] as const) {
      if (signal) this.proc.kill(signal);
      const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())]);
      if (gone) return;
    }
  }
}

/** Stops every child still running (in parallel). */
export async function stopChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

// A benchmark that dies leaves no child behind: they also go when their stdin closes, but a
// child busy for minutes would notice late.
process.on('exit', () => {
  for (const c of live) c.proc.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}; stopping ${live.size} child process(es)\n`);
    void stopChildren().finally(() => process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const)[signal]));
  });
}
