import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tagChangesFromFlags, TAGS_FLAGS } from '../../src/commands/tags.js';
import { resolveFlags, UsageError } from '../../src/flags/parse.js';

const changes = (argv: string[]) => tagChangesFromFlags(resolveFlags(TAGS_FLAGS, argv, {}).values);

test('-set: one tag per flag, the value everything after the first =', () => {
  assert.deepEqual(changes(['-set', 'svc:web=port=80,proto=tcp', '-set', 'role=db', '-set=note=a=b', '-delete', 'old']), {
    set: [['svc:web', 'port=80,proto=tcp'], ['role', 'db'], ['note', 'a=b']],
    delete: ['old'],
  });
  assert.deepEqual(changes(['-set', 'empty=']).set, [['empty', '']]);
});

const refused: [string, string[], RegExp][] = [
  ['no =', ['-set', 'role'], /-set role: expected KEY=VALUE/],
  ['an internal _ key (the original\'s rule)', ['-set', '_origin=me'], /-set _origin=me: tags starting with _ are internal \(wgmesh sets them\), a user cannot set them/],
  ['a service without a port', ['-set', 'svc:web=proto=tcp'], /-set svc:web=proto=tcp: invalid tags\["svc:web"\]: a service needs port=PORT/],
  ['a service with a bad port', ['-set', 'svc:web=port=80000'], /port "80000" is not a port number \(1-65535/],
];
for (const [name, argv, message] of refused) {
  test(`refused before the node is asked: ${name}`, () => {
    assert.throws(() => changes(argv), (err: Error) => err instanceof UsageError && message.test(err.message));
  });
}
