import type { CreateTokenRequest } from '@wgmesh/agent/proto/gen/wgmesh/v1/CreateTokenRequest';
import type { CreateTokenResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/CreateTokenResponse';
import type { ListTokensResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/ListTokensResponse';
import type { RevokeTokenResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RevokeTokenResponse';
import type { TokenInfo__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/TokenInfo';
import { formatHelp, resolveFlags, UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';
import { deadline, SOCKET_FLAG, unary, withLocalClient } from '../local-api/client.js';
import { table } from '../ui/format.js';
import { parseTags } from './node-common.js';

const JSON_FLAG: FlagSpec = { name: 'json', type: 'bool', default: false, help: 'print JSON' };

export const TOKEN_CREATE_FLAGS: FlagSpec[] = [
  { name: 'name', type: 'string', value: 'NODE', help: 'the node name its certificate gets (default: the joining node\'s host name)' },
  { name: 'ttl', type: 'duration', value: 'DURATION', default: 3_600_000, help: 'how long the token can be used' },
  { name: 'uses', type: 'int', value: 'N', default: 1, help: 'how many nodes it enrolls (1 with -name)' },
  { name: 'tags', type: 'list', value: 'K=V,...', default: [], help: 'tags the enrolled node starts with' },
  { name: 'addr', type: 'list', value: 'HOST:PORT', default: [], help: 'bootstrap addresses to put in the token (default: this bootstrap\'s, from its server certificate)' },
  JSON_FLAG,
  SOCKET_FLAG,
];

const SUBCOMMANDS: Record<string, { usage: string; description: string; flags: FlagSpec[] }> = {
  create: {
    usage: 'wgmesh token create [-name NODE] [-ttl 1h] [-uses 1] [-tags K=V,...] [-addr HOST:PORT]... [-json]',
    description: 'Makes a one-time enrollment token on this bootstrap (started with -ca-key). A new node joins with\n`wgmesh join -token TOKEN` alone. The token is printed once; the bootstrap keeps only its hash.',
    flags: TOKEN_CREATE_FLAGS,
  },
  list: {
    usage: 'wgmesh token list [-json]',
    description: 'Lists this bootstrap\'s tokens: id, name, uses, expiry, revocation (never the secrets).',
    flags: [JSON_FLAG, SOCKET_FLAG],
  },
  revoke: {
    usage: 'wgmesh token revoke ID',
    description: 'Revokes a token (its id from `token list`, or a longer prefix of its hash): it enrolls no more nodes.',
    flags: [JSON_FLAG, SOCKET_FLAG],
  },
};

function usage(): string {
  return ['usage: wgmesh token create|list|revoke [flags]', '', 'Enrollment tokens of this bootstrap (run on the bootstrap host; it needs -ca-key).', '',
    ...Object.values(SUBCOMMANDS).map((s) => `  ${s.usage}`), '', 'Run `wgmesh token SUBCOMMAND --help` for details.', ''].join('\n');
}

/** `token create`'s flags as the request the bootstrap gets. */
export function createTokenRequest(values: FlagValues): CreateTokenRequest {
  const uses = Number(values.uses);
  if (!Number.isInteger(uses) || uses < 1) throw new UsageError(`-uses ${String(values.uses)}: give a number of nodes, at least 1`);
  const ttlMs = Number(values.ttl);
  if (!(ttlMs >= 1000)) throw new UsageError('-ttl must be at least 1s');
  const name = values.name ? String(values.name).toLowerCase() : '';
  if (name && uses > 1) throw new UsageError('-name gives the token to one node: leave -uses at 1');
  return { name, ttlMs, uses, tags: parseTags(values.tags as string[]), addrs: values.addr as string[] };
}

export async function runToken(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    process.stdout.write(usage());
    return sub ? 0 : 2;
  }
  const spec = Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (!spec) throw new UsageError(`unknown subcommand "token ${sub}"; use create, list or revoke`);
  const { values, positionals, help } = resolveFlags(spec.flags, rest, env);
  if (help) {
    process.stdout.write(formatHelp(spec.usage, spec.description, spec.flags));
    return 0;
  }
  const out = (text: string) => process.stdout.write(text + '\n');
  const json = Boolean(values.json);
  const socket = String(values.socket);
  switch (sub) {
    case 'create': {
      const request = createTokenRequest(values);
      const res = await withLocalClient(socket, async (client) => {
        const r = await unary<CreateTokenResponse__Output>((cb) => client.createToken(request, deadline(), cb));
        client.close();
        return r;
      });
      if (json) out(JSON.stringify({ token: res.token, ...res.info }));
      else out(res.token);
      return 0;
    }
    case 'list': {
      const res = await withLocalClient(socket, async (client) => {
        const r = await unary<ListTokensResponse__Output>((cb) => client.listTokens({}, deadline(), cb));
        client.close();
        return r;
      });
      if (json) out(JSON.stringify(res.tokens, null, 2));
      else out(table([['ID', 'NAME', 'USED', 'EXPIRES', 'STATUS', 'ENROLLED'], ...res.tokens.map((t) => tokenRow(t, Date.now()))]));
      return 0;
    }
    default: {
      const id = positionals[0];
      if (!id || positionals.length > 1) throw new UsageError('give exactly one token ID (see `wgmesh token list`)');
      const res = await withLocalClient(socket, async (client) => {
        const r = await unary<RevokeTokenResponse__Output>((cb) => client.revokeToken({ id }, deadline(), cb));
        client.close();
        return r;
      });
      if (json) out(JSON.stringify(res.info));
      else out(`token ${res.info!.id} revoked`);
      return 0;
    }
  }
}

function tokenRow(t: TokenInfo__Output, now: number): string[] {
  const status = t.revokedMs ? 'revoked' : t.used >= t.uses ? 'used' : t.expiresMs <= now ? 'expired' : 'usable';
  return [t.id, t.name || '(host name)', `${t.used}/${t.uses}`, new Date(t.expiresMs).toISOString(), status, t.usedBy.join(',')];
}
