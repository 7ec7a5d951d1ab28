import { logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { exitCodeFor } from './errors.js';

export type Command = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

/** Runs one command: its exit status, and every failure as one line that says what went wrong. */
export async function runCommand(name: string, command: Command, argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // grpc-js prints its own "E ..." lines to stderr; wgmesh reports failures itself. -d brings them back.
  if (!env.GRPC_VERBOSITY) setLogVerbosity(logVerbosity.NONE);
  try {
    return await command(argv, env);
  } catch (err) {
    // Includes LocalApiUnavailable (info, tags, rtt without a node to talk to).
    const code = exitCodeFor(err);
    process.stderr.write(`wgmesh ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    if (code !== 2 && env.WGMESH_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return code;
  }
}
