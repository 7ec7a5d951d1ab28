import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caTarget } from '../../src/commands/ca.js';
import { UsageError, type Source } from '../../src/flags/parse.js';

const SOCKET = '/var/run/wgmesh.sock';
const DIR_CA = 'wgmesh-ca/ca.pem';

test('ca revoke/list: where they act (flag > environment > ./wgmesh-ca holding a CA > the local socket)', () => {
  const at = (dir: [string, Source], socket: [string, Source], present: string[] = []) =>
    caTarget({ dir: { value: dir[0], source: dir[1] }, socket: { value: socket[0], source: socket[1] } }, (p) => present.some((q) => p.endsWith(q)));
  const none: [string, Source] = ['', 'default'];
  const rows: [ReturnType<typeof at> | RegExp, () => ReturnType<typeof at>][] = [
    [{ socket: '/run/b.sock' }, () => at(none, ['/run/b.sock', 'flag'], [DIR_CA, SOCKET])],
    [{ dir: 'ca' }, () => at(['ca', 'flag'], none, [SOCKET])],
    [{ dir: 'ca' }, () => at(['ca', 'flag'], ['/run/env.sock', 'env'])],
    [{ socket: '/run/b.sock' }, () => at(['envdir', 'env'], ['/run/b.sock', 'flag'])],
    [{ socket: '/run/env.sock' }, () => at(none, ['/run/env.sock', 'env'], [DIR_CA])],
    [{ dir: './wgmesh-ca' }, () => at(none, none, [DIR_CA, SOCKET])],
    [{ socket: SOCKET }, () => at(none, none, [SOCKET])],
    [/-dir and -socket both given/, () => at(['ca', 'flag'], ['/run/b.sock', 'flag'])],
    [/WGMESH_DIR and WGMESH_SOCKET both given/, () => at(['ca', 'env'], ['/run/b.sock', 'env'])],
    [/no CA directory \.\/wgmesh-ca here and no wgmesh node at \/var\/run\/wgmesh\.sock: give -dir DIR .* or -socket PATH/, () => at(none, none)],
  ];
  for (const [want, run] of rows) {
    if (want instanceof RegExp) assert.throws(run, (err: unknown) => err instanceof UsageError && want.test((err as Error).message));
    else assert.deepEqual(run(), want);
  }
});
