import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeToken, encodeToken, newTokenSecret, tokenHash, tokenId, TOKEN_MAX_CHARS, normalizeFingerprint, type EnrollmentToken } from '../../src/enroll/token.js';
import { TokenInvalid } from '../../src/errors.js';

const FP = 'ab'.repeat(32);
const token: EnrollmentToken = { mesh: 'lab', addrs: ['192.0.2.1:5000', '[2001:db8::1]:5000'], caFingerprint: FP, secret: newTokenSecret(), name: 'web1' };
const wire = (o: object) => 'wgm1.' + Buffer.from(JSON.stringify(o)).toString('base64url');
const good = { m: 'lab', a: ['192.0.2.1:5000'], f: FP, s: newTokenSecret() };

describe('enrollment tokens', () => {
  test('encode then decode gives the token back; it is compact and versioned', () => {
    const text = encodeToken(token);
    assert.match(text, /^wgm1\.[A-Za-z0-9_-]+$/);
    assert.ok(text.length < 300, `${text.length} characters`);
    assert.deepEqual(decodeToken(text), token);
    assert.deepEqual(decodeToken(`  ${text}\n`), token, 'whitespace around a pasted token is ignored');
  });

  test('a token without a name decodes without one', () => {
    const { name: _name, ...nameless } = token;
    assert.equal(decodeToken(encodeToken(nameless)).name, undefined);
  });

  test('the fingerprint is kept as lower-case hex whatever form it was given in', () => {
    const colons = FP.toUpperCase().match(/../g)!.join(':');
    assert.equal(normalizeFingerprint(colons), FP);
    assert.equal(decodeToken(encodeToken({ ...token, caFingerprint: colons })).caFingerprint, FP);
  });

  test('the hash is SHA-256 of the secret and the id its first 12 hex digits', () => {
    const hash = tokenHash('s');
    assert.equal(hash, '043a718774c572bd8a25adbeb1bfcd5c0256ae11cecf9f9c3f925d0e52beaf89');
    assert.equal(tokenId(hash), '043a718774c5');
  });

  const bad: [string, string, RegExp][] = [
    ['oversized', 'wgm1.' + 'A'.repeat(TOKEN_MAX_CHARS), /more than 2048/],
    ['not a token', 'hello', /not a wgmesh token/],
    ['another version', 'wgm2.abc', /version "wgm2" is not supported/],
    ['not base64url', 'wgm1.ab+c/=', /other than base64url/],
    ['not JSON', 'wgm1.' + Buffer.from('{"m":').toString('base64url'), /does not decode/],
    ['an array', wire([1]), /does not decode to an object/],
    ['no mesh', wire({ ...good, m: '' }), /no valid mesh/],
    ['no addresses', wire({ ...good, a: [] }), /no usable bootstrap addresses/],
    ['too many addresses', wire({ ...good, a: Array(9).fill('192.0.2.1:5000') }), /no usable bootstrap addresses/],
    ['a short fingerprint', wire({ ...good, f: 'abcd' }), /not a SHA-256/],
    ['a short secret', wire({ ...good, s: 'abc' }), /not 32 bytes/],
    ['a bad name', wire({ ...good, n: 'Not A Label' }), /not a DNS label/],
  ];
  for (const [what, text, message] of bad) {
    test(`refused: ${what}`, () => {
      assert.throws(() => decodeToken(text), (err: unknown) => err instanceof TokenInvalid && message.test(err.message));
    });
  }

  test('a token that would exceed the size cap is not made', () => {
    assert.throws(() => encodeToken({ ...token, addrs: Array(8).fill('a'.repeat(250) + ':5000') }), TokenInvalid);
  });
});
