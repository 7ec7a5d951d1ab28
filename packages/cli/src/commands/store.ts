import { EtcdMeshStore } from '@wgmesh/bootstrap/store/etcd-mesh-store';
import { FileStateStore, type MeshState } from '@wgmesh/bootstrap/members/store';
import { migrateFileStore, type MigrationReport } from '@wgmesh/bootstrap/store/migrate';
import { StoreUnavailable } from '@wgmesh/bootstrap/errors';
import type { Logger } from '@wgmesh/agent/log';
import { formatHelp, resolveFlags, UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';
import { ETCD_FLAGS, etcdStoreInitFromFlags } from './etcd-flags.js';

export const MIGRATE_FLAGS: FlagSpec[] = [
  { name: 'from', type: 'string', value: 'FILE', help: 'the bootstrap\'s state file: <state-dir>/<mesh>/bootstrap.json (its bootstrap.journal beside it is read too)' },
  ...ETCD_FLAGS,
  { name: 'json', type: 'bool', default: false, help: 'print the result as JSON' },
];

const MIGRATE_USAGE = 'wgmesh store migrate -from FILE -etcd-endpoints URL[,URL…] [-etcd-prefix PREFIX] [-etcd-ca-cert FILE] [-etcd-cert FILE -etcd-key FILE] [-json]';
const MIGRATE_DESCRIPTION = `Moves a mesh from a bootstrap's state file into etcd, every member at its own mesh IP, under the
mesh record (name, CIDR and creation time of the file). The state is read as the bootstrap reads it
at a start: the snapshot (bootstrap.json) and the changes since, in bootstrap.journal beside it.
Both are only read, never changed.

Stop the mesh's bootstrap before migrating (its state file must not change meanwhile, and nothing
else may write under the prefix). Everything is checked before anything is written: a prefix that
holds another mesh, or a member in the way (another member under a file member's name, at its IP
or with its public key), refuses the migration and names each one. A member already in etcd with
the same name, IP, key and certificate counts as migrated, so running it again is safe.

Then start the bootstraps on etcd with the mesh's name and CIDR (the file's; the summary names them):
  wgmesh bootstrap -store etcd -etcd-endpoints URL[,URL…] -n MESH -cidr CIDR [-etcd-prefix PREFIX] …`;

const SUBCOMMANDS: Record<string, { usage: string; description: string; flags: FlagSpec[] }> = {
  migrate: { usage: MIGRATE_USAGE, description: MIGRATE_DESCRIPTION, flags: MIGRATE_FLAGS },
};

function usage(): string {
  return ['usage: wgmesh store migrate [flags]', '', 'The mesh\'s shared store (etcd), for several bootstraps serving one mesh.', '',
    ...Object.values(SUBCOMMANDS).map((s) => `  ${s.usage}`), '', 'Run `wgmesh store SUBCOMMAND --help` for details.', ''].join('\n');
}

export interface MigrateOptions {
  readonly from: string;
  readonly json: boolean;
}

/** The migrate options from its flags (the etcd ones are read once the file names the mesh). */
export function migrateOptions(values: FlagValues, positionals: readonly string[]): MigrateOptions {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; the state file goes after -from`);
  const from = String(values.from ?? '');
  if (from === '') throw new UsageError('-from is required: the bootstrap\'s state file, <state-dir>/<mesh>/bootstrap.json (e.g. /var/lib/wgmesh/<mesh>/bootstrap.json)');
  return { from, json: Boolean(values.json) };
}

async function loadState(file: string): Promise<MeshState> {
  const warn = (message: string) => process.stderr.write(`wgmesh store: warning: ${message}\n`);
  const logger: Logger = { warn, error: warn, info() {}, debug() {}, child: () => logger };
  const state = await new FileStateStore(file, { logger }).load();
  if (!state) throw new UsageError(`-from ${file}: no such file (give the bootstrap's state file, <state-dir>/<mesh>/bootstrap.json)`);
  return state;
}

export function migrateSummary(report: MigrationReport, endpoints: readonly string[]): string {
  const lines = [
    `mesh "${report.meshName}" (${report.cidr}) is in etcd under ${report.prefix} (etcd revision ${report.audit.revision}):`,
    `  ${report.migrated.length} member(s) migrated, ${report.alreadyPresent.length} already present` +
      (report.differentInEtcd.length > 0 ? ` (${report.differentInEtcd.length} of them changed in etcd since, kept as they are: ${report.differentInEtcd.join(', ')})` : ''),
    `  ${report.audit.members} member(s) and ${report.audit.ips} IP key(s) under the prefix, none without the other`,
    `Next: wgmesh bootstrap -store etcd -etcd-endpoints ${endpoints.join(',')} -n ${report.meshName} -cidr ${report.cidr}${report.prefix === `/wgmesh/${report.meshName}/` ? '' : ` -etcd-prefix ${report.prefix}`}`,
  ];
  return lines.join('\n') + '\n';
}

export async function runStore(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    process.stdout.write(usage());
    return sub ? 0 : 2;
  }
  const spec = Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (!spec) throw new UsageError(`unknown subcommand "store ${sub}"; use migrate`);
  const { values, positionals, help } = resolveFlags(spec.flags, rest, env);
  if (help) {
    process.stdout.write(formatHelp(spec.usage, spec.description, spec.flags));
    return 0;
  }
  const options = migrateOptions(values, positionals);
  const state = await loadState(options.from);
  const store = new EtcdMeshStore(etcdStoreInitFromFlags(values, state.meshName, state.cidr));
  try {
    const report = await migrateFileStore({ store }, state);
    process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : migrateSummary(report, store.endpoints));
  } catch (err) {
    // StoreUnavailable speaks of a bootstrap and its joins; here it is this command.
    if (err instanceof StoreUnavailable) {
      throw new Error(
        `etcd is unreachable at ${err.endpoints.join(', ')} (${err.reason}); check that the etcd cluster runs and has a leader (etcdctl endpoint health) ` +
          'and that this machine reaches it (the endpoints, a firewall, the TLS files), then run the migration again (members written before count as already present)',
      );
    }
    throw err;
  } finally {
    await store.close();
  }
  return 0;
}
