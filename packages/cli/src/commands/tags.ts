import type { TagsResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/TagsResponse';
import { formatHelp, resolveFlags, UsageError, type FlagSpec } from '../flags/parse.js';
import { isInternalTag } from '../ui/format.js';
import { deadline, SOCKET_FLAG, unary, withLocalClient } from '../local-api/client.js';
import { splitTag } from './node-common.js';

export const TAGS_FLAGS: FlagSpec[] = [
  { name: 'set', type: 'list', value: 'K=V', default: [], help: 'set a tag on this node (repeatable)' },
  { name: 'delete', type: 'list', value: 'K', default: [], help: 'remove a tag from this node (repeatable)' },
  { name: 'json', type: 'bool', default: false, help: 'print the tags as JSON' },
  { name: 'all', type: 'bool', default: false, help: 'include internal tags (those starting with _)' },
  SOCKET_FLAG,
];

const USAGE = 'wgmesh tags [-set K=V]... [-delete K]... [-all] [-json]';
const DESCRIPTION = 'Shows, sets or deletes this node\'s tags; every node sees them in `wgmesh info`. Keys may use the\n`svc:NAME=PORT` convention for services; tags starting with _ are internal and hidden unless -all.';

export async function runTags(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveFlags(TAGS_FLAGS, argv, env);
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, TAGS_FLAGS));
    return 0;
  }
  let tags = await withLocalClient(String(values.socket), async (client) => {
    let tags: Record<string, string> | undefined;
    for (const item of values.set as string[]) {
      const tag = splitTag(item);
      if (!tag) throw new UsageError(`-set ${item}: expected KEY=VALUE`);
      tags = (await unary<TagsResponse__Output>((cb) => client.setTag({ key: tag[0], value: tag[1] }, deadline(), cb))).tags;
    }
    for (const key of values.delete as string[]) {
      tags = (await unary<TagsResponse__Output>((cb) => client.deleteTag({ key }, deadline(), cb))).tags;
    }
    if (!tags) {
      const info = await unary<{ tags: Record<string, string> }>((cb) => client.info({}, deadline(), cb));
      tags = info.tags;
    }
    client.close();
    return tags;
  });
  if (!values.all) tags = Object.fromEntries(Object.entries(tags).filter(([k]) => !isInternalTag(k)));
  if (values.json) process.stdout.write(JSON.stringify(tags) + '\n');
  else process.stdout.write(Object.entries(tags).map(([k, v]) => `${k}=${v}`).join('\n') + (Object.keys(tags).length ? '\n' : ''));
  return 0;
}
