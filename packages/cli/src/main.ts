import { logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { exitCodeFor } from './errors.js';

type Command = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

/** Each command lives in its own module, loaded only when used (ink is heavy). */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  bootstrap: { summary: 'start a mesh: WireGuard plus the join service', load: async () => (await import('./commands/bootstrap.js')).runBootstrap },
  join: { summary: 'join this machine to a mesh', load: async () => (await import('./commands/join.js')).runJoin },
  info: { summary: 'show this node and its peers (live dashboard with -watch)', load: async () => (await import('./commands/info.js')).runInfo },
  'rotate-key': { summary: 'give this node a new WireGuard key, announced to every peer', load: async () => (await import('./commands/rotate-key.js')).runRotateKey },
  tags: { summary: 'show, set or delete this node\'s tags', load: async () => (await import('./commands/tags.js')).runTags },
  rtt: { summary: 'print the mesh-wide round-trip-time matrix', load: async () => (await import('./commands/rtt.js')).runRtt },
  token: { summary: 'enrollment tokens of this bootstrap: create, list, revoke', load: async () => (await import('./commands/token.js')).runToken },
  ca: { summary: 'make a mesh CA and node/server certificates', load: async () => (await import('./commands/ca.js')).runCa },
  store: { summary: 'move a mesh from a bootstrap\'s state file into etcd', load: async () => (await import('./commands/store.js')).runStore },
  lab: { summary: 'a local lab of namespaced hosts for trying wgmesh', load: async () => (await import('./commands/lab.js')).runLab },
};

function usage(): string {
  const lines = ['usage: wgmesh COMMAND [flags]', '', 'WireGuard mesh networks: one node bootstraps, every other joins with one command.', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Run `wgmesh COMMAND --help` for its flags.');
  return lines.join('\n') + '\n';
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // grpc-js prints its own "E ..." lines to stderr; wgmesh reports failures itself. -d brings them back.
  if (!env.GRPC_VERBOSITY) setLogVerbosity(logVerbosity.NONE);
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === 'version' || name === '-version' || name === '--version') {
    process.stdout.write('wgmesh 0.1.0\n');
    return 0;
  }
  // Own commands only: `wgmesh toString` is not one.
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`wgmesh: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load())(rest, env);
  } catch (err) {
    // Includes LocalApiUnavailable (info, tags, rtt without a node to talk to).
    const code = exitCodeFor(err);
    process.stderr.write(`wgmesh ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    if (code !== 2 && env.WGMESH_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return code;
  }
}
