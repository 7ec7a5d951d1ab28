import { existsSync } from 'node:fs';
import type { CertificateInfo__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/CertificateInfo';
import type { ListRevokedResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/ListRevokedResponse';
import type { RevokeCertificateResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RevokeCertificateResponse';
import { formatHelp, resolveFlags, UsageError, type FlagSpec, type Source } from '../flags/parse.js';
import { caFiles, initCa, issueCertificate, listCertificates, revokeCertificate } from '../ca/ca.js';
import { deadline, SOCKET_FLAG, unary, withLocalClient } from '../local-api/client.js';
import { table } from '../ui/format.js';
import { parseLifetime } from './tls.js';

const DEFAULT_DIR = './wgmesh-ca';
const DIR_FLAG: FlagSpec = { name: 'dir', type: 'string', value: 'DIR', default: DEFAULT_DIR, help: 'the CA directory' };

/** Where `ca revoke` and `ca list` act: a CA directory, or the local bootstrap's own revocation list. */
export type CaTarget = { readonly dir: string } | { readonly socket: string };

/**
 * The rule for `ca revoke` and `ca list`: a flag on the command line decides (-dir: the CA
 * directory, -socket: the bootstrap), then the environment (WGMESH_DIR, WGMESH_SOCKET); both at
 * the same level is an error. With neither: ./wgmesh-ca when it holds a CA (as before there was
 * a bootstrap to ask), else the local bootstrap when its socket exists, else an error saying both.
 */
export function caTarget(
  given: { dir: { value: string; source: Source }; socket: { value: string; source: Source } },
  exists: (path: string) => boolean,
): CaTarget {
  for (const level of ['flag', 'env'] as const) {
    const dir = given.dir.source === level && given.dir.value;
    const socket = given.socket.source === level && given.socket.value;
    const where = level === 'flag' ? '-dir and -socket' : 'WGMESH_DIR and WGMESH_SOCKET';
    if (dir && socket) throw new UsageError(`${where} both given: -dir acts on a CA directory, -socket asks the bootstrap; give one`);
    if (dir) return { dir };
    if (socket) return { socket };
  }
  if (exists(caFiles(DEFAULT_DIR).cert)) return { dir: DEFAULT_DIR };
  const socket = SOCKET_FLAG.default as string;
  if (exists(socket)) return { socket };
  throw new UsageError(`no CA directory ${DEFAULT_DIR} here and no wgmesh node at ${socket}: give -dir DIR (a CA made by \`wgmesh ca init\`) or -socket PATH (a bootstrap started with -ca-key)`);
}

const TARGET_RULE = 'Where: -dir DIR or -socket PATH on the command line decides; else WGMESH_DIR or WGMESH_SOCKET; else\n' +
  `${DEFAULT_DIR} if it holds a CA, else the bootstrap at ${SOCKET_FLAG.default as string} if its socket exists.`;

const SUBCOMMANDS: Record<string, { usage: string; description: string; flags: FlagSpec[] }> = {
  init: {
    usage: 'wgmesh ca init [-dir DIR] [-name MESH] [-days N]',
    description: 'Makes a mesh CA: ca.pem and ca-key.pem (0600) in DIR, plus an empty revocation list crl.pem.',
    flags: [DIR_FLAG, { name: 'name', type: 'string', value: 'MESH', default: 'wgmesh', help: 'mesh name, recorded in the CA\'s name' }, { name: 'days', type: 'int', value: 'N', default: 3650, help: 'validity in days' }],
  },
  issue: {
    usage: 'wgmesh ca issue [-dir DIR] [-server] [-ip IP]... [-dns NAME]... [-days N | -lifetime DURATION] NAME',
    description: 'Issues a certificate with CN = NAME: a node certificate for `wgmesh join`, or with -server one for the\nbootstrap\'s join service, whose -ip/-dns must name every address nodes dial it by.',
    flags: [
      DIR_FLAG,
      { name: 'server', type: 'bool', default: false, help: 'a server certificate for the bootstrap' },
      { name: 'ip', type: 'list', value: 'IP', default: [], help: 'IP subject alternative name (repeatable)' },
      { name: 'dns', type: 'list', value: 'NAME', default: [], help: 'DNS subject alternative name (repeatable)' },
      { name: 'days', type: 'int', value: 'N', default: 825, help: 'validity in days' },
      { name: 'lifetime', type: 'string', value: 'DURATION', help: 'validity as a duration instead of -days: 60s, 12h, 90d (short-lived certificates; nodes renew them at two thirds)' },
    ],
  },
  revoke: {
    usage: 'wgmesh ca revoke [-dir DIR | -socket PATH] [-serial HEX] NAME',
    description: 'Revokes NAME\'s certificates (only the one of -serial when given); the node can no longer join or stay in the mesh.\n' +
      'With -dir: crl.pem is rewritten, and a bootstrap started with -grpc-crl DIR/crl.pem reloads it at once.\n' +
      'With -socket: the bootstrap there (started with -ca-key) revokes it itself, certificates it signed for\n' +
      'enrolled nodes included, and removes the member from every node before answering.\n' +
      TARGET_RULE,
    flags: [{ ...DIR_FLAG, default: '' }, { ...SOCKET_FLAG, default: '', help: 'Unix socket of the local bootstrap (one started with -ca-key)' }, { name: 'serial', type: 'string', value: 'HEX', help: 'revoke only this certificate of NAME' }, { name: 'json', type: 'bool', default: false, help: 'print JSON' }],
  },
  list: {
    usage: 'wgmesh ca list [-dir DIR | -socket PATH [-all]] [-json]',
    description: 'Lists the certificates this CA issued, with expiry and revocation; with -socket, the certificates the\nbootstrap revoked (-all: also those it signed and did not revoke).\n' + TARGET_RULE,
    flags: [{ ...DIR_FLAG, default: '' }, { ...SOCKET_FLAG, default: '', help: 'Unix socket of the local bootstrap (one started with -ca-key)' }, { name: 'all', type: 'bool', default: false, help: 'with -socket: every certificate the bootstrap knows' }, { name: 'json', type: 'bool', default: false, help: 'print JSON' }],
  },
};

function usage(): string {
  return ['usage: wgmesh ca init|issue|revoke|list [flags]', '', 'The mesh\'s certificate authority (production mode: mutual TLS between nodes and the bootstrap).', '',
    ...Object.values(SUBCOMMANDS).map((s) => `  ${s.usage}`), '', 'Run `wgmesh ca SUBCOMMAND --help` for details.', ''].join('\n');
}

export async function runCa(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    process.stdout.write(usage());
    return sub ? 0 : 2;
  }
  const spec = SUBCOMMANDS[sub];
  if (!spec) throw new UsageError(`unknown subcommand "ca ${sub}"; use init, issue, revoke or list`);
  const { values, positionals, help, sources } = resolveFlags(spec.flags, rest, env);
  if (help) {
    process.stdout.write(formatHelp(spec.usage, spec.description, spec.flags));
    return 0;
  }
  const target = sub === 'revoke' || sub === 'list'
    ? caTarget({ dir: { value: String(values.dir), source: sources.dir ?? 'default' }, socket: { value: String(values.socket), source: sources.socket ?? 'default' } }, existsSync)
    : undefined;
  const dir = target && 'dir' in target ? target.dir : String(values.dir);
  const out = (text: string) => process.stdout.write(text + '\n');
  switch (sub) {
    case 'init': {
      const files = await initCa(dir, { mesh: String(values.name), days: Number(values.days) });
      out(`CA made in ${dir}:\n  ${files.cert}  (give to every node: -ca-cert, and to the bootstrap: -grpc-ca-cert)\n  ${files.key}  (keep secret, 0600)\n  ${caFiles(dir).crl}  (revocation list: bootstrap -grpc-crl)`);
      out(`Next: wgmesh ca issue -dir ${dir} -server -ip <bootstrap address> bootstrap`);
      return 0;
    }
    case 'issue': {
      const name = positionals[0];
      if (!name || positionals.length > 1) throw new UsageError('give exactly one NAME (the node name, or the bootstrap\'s name with -server)');
      if (values.server && (values.ip as string[]).length === 0 && (values.dns as string[]).length === 0) {
        throw new UsageError('a server certificate needs -ip and/or -dns: every address nodes will use in -bootstrap-addr');
      }
      const issued = await issueCertificate(dir, name, {
        server: Boolean(values.server),
        ips: values.ip as string[],
        ...((values.dns as string[]).length ? { dns: values.dns as string[] } : {}),
        days: Number(values.days),
        ...(values.lifetime ? { lifetimeMs: parseLifetime(String(values.lifetime), '-lifetime') } : {}),
      });
      out(`${issued.record.kind} certificate for "${name}" (serial ${issued.record.serial}, valid until ${values.lifetime ? issued.record.notAfter : issued.record.notAfter.slice(0, 10)}):\n  ${issued.cert}\n  ${issued.key}  (0600)`);
      return 0;
    }
    case 'revoke': {
      const name = positionals[0];
      if (!name || positionals.length > 1) throw new UsageError('give exactly one NAME whose certificate to revoke');
      const serial = values.serial ? String(values.serial) : undefined;
      if (serial !== undefined && !/^[0-9a-fA-F:]+$/.test(serial)) throw new UsageError(`-serial ${serial}: give the serial in hex (as \`wgmesh ca list\` shows it)`);
      if (target && 'socket' in target) {
        const socket = target.socket;
        const res = await withLocalClient(socket, async (client) => {
          const r = await unary<RevokeCertificateResponse__Output>((cb) => client.revokeCertificate({ name, serial: serial ?? '' }, deadline(15_000), cb));
          client.close();
          return r;
        });
        if (values.json) out(JSON.stringify(res));
        else {
          out(`revoked by the bootstrap: ${res.revoked.map((r) => `"${r.name}" serial ${r.serial}${r.source === 'member' ? ' (the member\'s certificate)' : ''}`).join(', ')}`);
          out(res.removedMembers.length ? `removed from the mesh: ${res.removedMembers.join(', ')}` : 'no member held it: nothing to remove');
        }
        return 0;
      }
      const revoked = await revokeCertificate(dir, name, serial);
      if (values.json) out(JSON.stringify({ revoked }));
      else out(`revoked ${revoked.length} certificate(s) of "${name}" (serial ${revoked.map((r) => r.serial).join(', ')}); ${caFiles(dir).crl} updated`);
      return 0;
    }
    default: {
      if (target && 'socket' in target) {
        const socket = target.socket;
        const res = await withLocalClient(socket, async (client) => {
          const r = await unary<ListRevokedResponse__Output>((cb) => client.listRevoked({ all: Boolean(values.all) }, deadline(), cb));
          client.close();
          return r;
        });
        if (values.json) out(JSON.stringify(res.certificates, null, 2));
        else out(table([['NAME', 'SOURCE', 'SERIAL', 'EXPIRES', 'STATUS'], ...res.certificates.map((c) => bootstrapRow(c, Date.now()))]));
        return 0;
      }
      const records = await listCertificates(dir);
      if (values.json) {
        out(JSON.stringify(records, null, 2));
        return 0;
      }
      const now = Date.now();
      const rows = records.map((r) => [r.name, r.kind, r.serial, r.notAfter.slice(0, 10), r.revokedAt ? `revoked ${r.revokedAt.slice(0, 10)}` : Date.parse(r.notAfter) < now ? 'expired' : 'valid']);
      out(table([['NAME', 'KIND', 'SERIAL', 'EXPIRES', 'STATUS'], ...rows]));
      return 0;
    }
  }
}

function bootstrapRow(c: CertificateInfo__Output, now: number): string[] {
  const status = c.revokedMs ? `revoked ${new Date(Number(c.revokedMs)).toISOString().slice(0, 19)}` : Number(c.notAfterMs) < now ? 'expired' : 'valid';
  return [c.name, c.source, c.serial, new Date(Number(c.notAfterMs)).toISOString().slice(0, 10), status];
}
