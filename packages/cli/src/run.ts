import { logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { exitCodeFor } from './errors.js';

export type Command = (argv: string[], env: NodeJS.ProcessEnv, runtime?: CommandRuntime) => Promise<number>;

/** What the bundled CLI (bin/wgmesh.js) offers a command beyond its arguments. */
export interface CommandRuntime {
  /**
   * The command has done its usual work (a node is up, info has printed): V8's compiled code of
   * this run may be kept for the next start (bin/bundle-loader.js). Absent when there is nothing
   * to keep (this run started from a kept cache) or outside the bundle.
   */
  readonly warmed?: () => void;
}

/** Runs one command: its exit status, and every failure as one line that says what went wrong. */
export async function runCommand(name: string, command: Command, argv: string[], env: NodeJS.ProcessEnv, runtime: CommandRuntime = {}): Promise<number> {
  // grpc-js prints its own "E ..." lines to stderr; wgmesh reports failures itself. -d brings them back.
  if (!env.GRPC_VERBOSITY) setLogVerbosity(logVerbosity.NONE);
  try {
    return await command(argv, env, runtime);
  } catch (err) {
    // Includes LocalApiUnavailable (info, tags, rtt without a node to talk to).
    const code = exitCodeFor(err);
    process.stderr.write(`wgmesh ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    if (code !== 2 && env.WGMESH_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return code;
  }
}
