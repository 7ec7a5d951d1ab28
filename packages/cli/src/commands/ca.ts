import { formatHelp, resolveFlags, UsageError, type FlagSpec } from '../flags/parse.js';
import { caFiles, initCa, issueCertificate, listCertificates, revokeCertificate } from '../ca/ca.js';
import { table } from '../ui/format.js';
import { parseLifetime } from './tls.js';

const DIR_FLAG: FlagSpec = { name: 'dir', type: 'string', value: 'DIR', default: './wgmesh-ca', help: 'the CA directory' };

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
    usage: 'wgmesh ca revoke [-dir DIR] NAME',
    description: 'Revokes NAME\'s certificates: crl.pem is rewritten, and a bootstrap started with -grpc-crl DIR/crl.pem\nreloads it at once (no restart); the node can no longer join or stay in the mesh.',
    flags: [DIR_FLAG],
  },
  list: {
    usage: 'wgmesh ca list [-dir DIR] [-json]',
    description: 'Lists the certificates this CA issued, with expiry and revocation.',
    flags: [DIR_FLAG, { name: 'json', type: 'bool', default: false, help: 'print JSON' }],
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
  const { values, positionals, help } = resolveFlags(spec.flags, rest, env);
  if (help) {
    process.stdout.write(formatHelp(spec.usage, spec.description, spec.flags));
    return 0;
  }
  const dir = String(values.dir);
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
      if (!name) throw new UsageError('give the NAME whose certificate to revoke');
      const revoked = await revokeCertificate(dir, name);
      out(`revoked ${revoked.length} certificate(s) of "${name}" (serial ${revoked.map((r) => r.serial).join(', ')}); ${caFiles(dir).crl} updated`);
      return 0;
    }
    default: {
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
