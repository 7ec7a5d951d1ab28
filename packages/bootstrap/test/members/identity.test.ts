import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { checkIdentity, hashNodeSecret, VerifiedSecrets } from '../../src/members/identity.js';
import { IdentityMismatch } from '../../src/errors.js';
import { numberedMember } from './fixtures.js';

const newSecret = () => randomBytes(32).toString('base64');

test('a node secret proved again and again is hashed once; a wrong one is still refused after a right one', () => {
  const secrets = new VerifiedSecrets();
  const secret = newSecret();
  const member = numberedMember(3, { secretHash: hashNodeSecret(secret) });
  const identity = { publicKey: member.publicKey, secret };
  for (let i = 0; i < 100; i++) checkIdentity(member, { ...identity, secret: `${secret}` }, 'call', secrets);
  assert.equal(secrets.hashed, 1, 'heartbeats after the first compare with the secret that matched');

  // Same length, one character off; shorter; longer; empty; another node's secret.
  const wrong = [`${secret.slice(0, -2)}${secret.at(-2) === 'A' ? 'B' : 'A'}${secret.at(-1)}`, secret.slice(1), `${secret}A`, '', newSecret()];
  for (const w of wrong) assert.throws(() => checkIdentity(member, { ...identity, secret: w }, 'call', secrets), IdentityMismatch, w);
  checkIdentity(member, identity, 'call', secrets);

  // A new secret for the member (its key rotated): the old one no longer proves anything.
  const next = newSecret();
  const rotated = { ...member, secretHash: hashNodeSecret(next) };
  assert.throws(() => checkIdentity(rotated, identity, 'call', secrets), IdentityMismatch);
  checkIdentity(rotated, { ...identity, secret: next }, 'call', secrets);
});

test('a secret of the same length in characters but not in bytes is refused, not thrown on (fuzz: INTERNAL "Input buffers must have the same byte length")', () => {
  const secrets = new VerifiedSecrets();
  const secret = newSecret();
  const member = numberedMember(4, { secretHash: hashNodeSecret(secret) });
  checkIdentity(member, { publicKey: member.publicKey, secret }, 'call', secrets);
  // 44 characters, but '\ufffd' (what a mutated byte decodes to) is 3 bytes in UTF-8.
  const wide = `${secret.slice(0, -1)}\ufffd`;
  assert.equal(wide.length, secret.length);
  assert.throws(() => checkIdentity(member, { publicKey: member.publicKey, secret: wide }, 'call', secrets), IdentityMismatch);
});

test('two VerifiedSecrets share nothing: a secret verified in one is hashed again in the other', () => {
  const first = new VerifiedSecrets();
  const second = new VerifiedSecrets();
  const secret = newSecret();
  const hash = hashNodeSecret(secret);

  assert.equal(first.matches(hash, secret), true);
  assert.equal(first.matches(hash, secret), true);
  assert.equal(first.hashed, 1, 'the first cache hashed it once, then compared');

  assert.equal(second.matches(hash, secret), true);
  assert.equal(second.hashed, 1, 'the second cache did not know it: hashed');
  assert.equal(first.hashed, 1, "the second cache's check did not touch the first");
  assert.equal(second.matches(hash, `${secret.slice(1)}A`), false, 'a wrong secret is still refused in the second');
});

test('VerifiedSecrets is bounded: full, it starts again from empty, and an evicted secret is hashed (and accepted) again', () => {
  const secrets = new VerifiedSecrets(2);
  const [a, b, c] = [newSecret(), newSecret(), newSecret()];
  assert.equal(secrets.matches(hashNodeSecret(a), a), true);
  assert.equal(secrets.matches(hashNodeSecret(b), b), true);
  assert.equal(secrets.size, 2);
  assert.equal(secrets.matches(hashNodeSecret(a), a), true);
  assert.equal(secrets.hashed, 2, 'a and b kept: a compared, not hashed');

  // A wrong secret is never kept.
  assert.equal(secrets.matches(hashNodeSecret(c), a), false);
  assert.equal(secrets.size, 2);

  assert.equal(secrets.matches(hashNodeSecret(c), c), true);
  assert.equal(secrets.size, 1, 'full: emptied before c was kept');
  const hashedBefore = secrets.hashed;
  assert.equal(secrets.matches(hashNodeSecret(a), a), true, 'an evicted secret still proves its node');
  assert.equal(secrets.hashed, hashedBefore + 1, 'a was evicted: hashed again');
  assert.equal(secrets.matches(hashNodeSecret(c), c), true);
  assert.equal(secrets.hashed, hashedBefore + 1, 'c still kept: compared, not hashed');
});
