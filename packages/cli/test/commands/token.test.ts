import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeToken, newTokenSecret } from '@wgmesh/bootstrap';
import { createTokenRequest, TOKEN_CREATE_FLAGS } from '../../src/commands/token.js';
import { JOIN_FLAGS, tokenFromFlags } from '../../src/commands/join.js';
import { resolveFlags, UsageError } from '../../src/flags/parse.js';


test('token create: flags become the request (ttl in ms, tags parsed), and nonsense is refused', () => {
  const req = (argv: string[]) => createTokenRequest(resolveFlags(TOKEN_CREATE_FLAGS, argv, {}).values);
  assert.deepEqual(req([]), { name: '', ttlMs: 3_600_000, uses: 1, tags: {}, addrs: [] });
  assert.deepEqual(req(['-name', 'Web1', '-ttl', '10m', '-tags', 'role=web,zone=a', '-addr', '192.0.2.1:5000']), {
    name: 'web1', ttlMs: 600_000, uses: 1, tags: { role: 'web', zone: 'a' }, addrs: ['192.0.2.1:5000'],
  });
  assert.equal(req(['-uses', '5']).uses, 5);
  for (const bad of [['-uses', '0'], ['-ttl', '500ms'], ['-name', 'web1', '-uses', '2'], ['-tags', 'novalue']]) {
    assert.throws(() => req(bad), UsageError, bad.join(' '));
  }
});

const token = encodeToken({ mesh: 'lab', addrs: ['192.0.2.1:5000'], caFingerprint: 'ab'.repeat(32), secret: newTokenSecret(), name: 'web1' });
const join = (argv: string[]) => tokenFromFlags(resolveFlags(JOIN_FLAGS, argv, {}).values);

test('join -token: the token says the mesh and name; what contradicts it is refused', () => {
  assert.equal(join(['-token', token]).mesh, 'lab');
  assert.equal(join(['-token', token, '-n', 'lab', '-node-name', 'WEB1']).name, 'web1', 'agreeing flags are fine');
  const refusals: [string[], RegExp][] = [
    [['-token', 'wgm1.!!'], /-token: .*base64url/],
    [['-token', token, '-dev'], /cannot be used with -dev/],
    [['-token', token, '-ca-cert', 'ca.pem'], /leave out -ca-cert/],
    [['-token', token, '-n', 'other'], /the token is for mesh "lab"/],
    [['-token', token, '-node-name', 'db1'], /enrolls the name "web1" only/],
  ];
  for (const [argv, message] of refusals) assert.throws(() => join(argv), (err: unknown) => err instanceof UsageError && message.test(err.message), argv.join(' '));
});
