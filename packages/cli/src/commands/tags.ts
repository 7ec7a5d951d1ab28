import type { TagsResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/TagsResponse';
import { validateServiceTag } from '@wgmesh/agent/services';
import { formatHelp, resolveCommandFlags, UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';
import { isInternalTag } from '../ui/format.js';
import { deadline, CLIENT_FLAGS, unary, withLocalClient } from '../local-api/client.js';
import { splitTag } from './node-common.js';

export const TAGS_FLAGS: FlagSpec[] = [
  { name: 'set', type: 'multi', value: 'K=V', default: [], help: 'set a tag on this node: one per -set, the value is everything after the first = (repeatable)' },
  { name: 'delete', type: 'multi', value: 'K', default: [], help: 'remove a tag from this node (repeatable)' },
  { name: 'json', type: 'bool', default: false, help: 'print the tags as JSON' },
  { name: 'all', type: 'bool', default: false, help: 'include internal tags (those starting with _)' },
  ...CLIENT_FLAGS,
];

const USAGE = 'wgmesh tags [-set K=V]... [-delete K]... [-all] [-json]';
const DESCRIPTION = `Shows, sets or deletes this node's tags; every node sees them in \`wgmesh info\`. A tag svc:NAME
declares a service, as in the original wgmesh: -set svc:web=port=80,proto=tcp (port required, the
other pairs are the service's tags; svc:web=80 is short for port=80). Tags starting with _ are
internal: set by wgmesh, not by this command, and hidden unless -all.`;

/** The changes -set and -delete ask for, checked: KEY=VALUE (split at the first =), no internal keys, valid services. */
export function tagChangesFromFlags(values: FlagValues): { set: [key: string, value: string][]; delete: string[] } {
  const set = (values.set as string[]).map((item): [string, string] => {
    const tag = splitTag(item);
    if (!tag) throw new UsageError(`-set ${item}: expected KEY=VALUE (one tag per -set)`);
    if (isInternalTag(tag[0])) throw new UsageError(`-set ${item}: tags starting with _ are internal (wgmesh sets them), a user cannot set them; pick a key without the _`);
    try {
      validateServiceTag(tag[0], tag[1]);
    } catch (err) {
      throw new UsageError(`-set ${item}: ${(err as Error).message}`);
    }
    return tag;
  });
  return { set, delete: [...(values.delete as string[])] };
}

export async function runTags(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveCommandFlags('tags', TAGS_FLAGS, argv, env, 'client');
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, TAGS_FLAGS, 'client'));
    return 0;
  }
  const changes = tagChangesFromFlags(values);
  let tags = await withLocalClient(String(values.socket), async (client) => {
    let tags: Record<string, string> | undefined;
    for (const [key, value] of changes.set) {
      tags = (await unary<TagsResponse__Output>((cb) => client.setTag({ key, value }, deadline(), cb))).tags;
    }
    for (const key of changes.delete) {
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
