/** What wgmesh answers without loading a command: help, version, an unknown command name. */

/** Every command and its one-line summary, in the order `wgmesh help` lists them (commands/table.ts loads them). */
export const COMMAND_SUMMARIES: Record<string, string> = {
  bootstrap: 'start a mesh: WireGuard plus the join service',
  join: 'join this machine to a mesh',
  info: 'show this node and its peers (live dashboard with -watch)',
  'rotate-key': 'give this node a new WireGuard key, announced to every peer',
  tags: 'show, set or delete this node\'s tags',
  rtt: 'print the mesh-wide round-trip-time matrix',
  ui: 'serve the mesh as a live web page and JSON API (127.0.0.1:9095)',
  token: 'enrollment tokens of this bootstrap: create, list, revoke',
  ca: 'make a mesh CA and node/server certificates',
  store: 'move a mesh from a bootstrap\'s state file into etcd',
  lab: 'a local lab of namespaced hosts for trying wgmesh',
};

export const VERSION = '0.1.0';

/** The commit and time of the build, set by scripts/bundle.mjs (esbuild's define); absent when run from source. */
declare const __WGMESH_BUILD__: { readonly commit: string; readonly date: string } | undefined;

export interface BuildInfo {
  readonly version: string;
  /** Short commit hash, "+dirty" when the tree had changes; "unknown" outside git or from source. */
  readonly commit: string;
  /** ISO time of the build; "unknown" from source. */
  readonly date: string;
}

export function buildInfo(): BuildInfo {
  const build = typeof __WGMESH_BUILD__ === 'undefined' ? undefined : __WGMESH_BUILD__;
  return { version: VERSION, commit: build?.commit || 'unknown', date: build?.date || 'unknown' };
}

/** `wgmesh version`: version, commit and build date, as the original's release builds print them. */
export function versionLine(info: BuildInfo = buildInfo()): string {
  return `wgmesh ${info.version} (commit ${info.commit}, built ${info.date})\n`;
}

function usage(): string {
  const lines = ['usage: wgmesh COMMAND [flags]', '', 'WireGuard mesh networks: one node bootstraps, every other joins with one command.', '', 'commands:'];
  for (const [name, summary] of Object.entries(COMMAND_SUMMARIES)) lines.push(`  ${name.padEnd(10)} ${summary}`);
  lines.push('', 'Run `wgmesh COMMAND --help` for its flags.');
  return lines.join('\n') + '\n';
}

/** Answers `argv` when it does not name a command (its exit status); undefined when it does. */
export function answerWithoutCommand(argv: readonly string[]): number | undefined {
  const name = argv[0];
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === 'version' || name === '-version' || name === '--version') {
    process.stdout.write(versionLine());
    return 0;
  }
  // Own commands only: `wgmesh toString` is not one.
  if (!Object.hasOwn(COMMAND_SUMMARIES, name)) {
    process.stderr.write(`wgmesh: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return undefined;
}
