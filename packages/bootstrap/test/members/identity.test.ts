import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { checkIdentity, hashNodeSecret, secretChecks } from '../../src/members/identity.js';
import { IdentityMismatch } from '../../src/errors.js';
import { numberedMember } from './fixtures.js';

test('a node secret proved again and again is hashed once; a wrong one is still refused after a right one', () => {
  const secret = randomBytes(32).toString('base64');
  const member = numberedMember(3, { secretHash: hashNodeSecret(secret) });
  const identity = { publicKey: member.publicKey, secret };
  const before = secretChecks.hashed;
  for (let i = 0; i < 100; i++) checkIdentity(member, { ...identity, secret: `${secret}` }, 'call');
  assert.equal(secretChecks.hashed - before, 1, 'heartbeats after the first compare with the secret that matched');

  // Same length, one character off; shorter; longer; empty; another node's secret.
  const wrong = [`${secret.slice(0, -2)}${secret.at(-2) === 'A' ? 'B' : 'A'}${secret.at(-1)}`, secret.slice(1), `${secret}A`, '', randomBytes(32).toString('base64')];
  for (const w of wrong) assert.throws(() => checkIdentity(member, { ...identity, secret: w }, 'call'), IdentityMismatch, w);
  checkIdentity(member, identity, 'call');

  // A new secret for the member (its key rotated): the old one no longer proves anything.
  const next = randomBytes(32).toString('base64');
  const rotated = { ...member, secretHash: hashNodeSecret(next) };
  assert.throws(() => checkIdentity(rotated, identity, 'call'), IdentityMismatch);
  checkIdentity(rotated, { ...identity, secret: next }, 'call');
});

test('a secret of the same length in characters but not in bytes is refused, not thrown on (fuzz: INTERNAL "Input buffers must have the same byte length")', () => {
  const secret = randomBytes(32).toString('base64');
  const member = numberedMember(4, { secretHash: hashNodeSecret(secret) });
  checkIdentity(member, { publicKey: member.publicKey, secret }, 'call');
  // 44 characters, but '\ufffd' (what a mutated byte decodes to) is 3 bytes in UTF-8.
  const wide = `${secret.slice(0, -1)}\ufffd`;
  assert.equal(wide.length, secret.length);
  assert.throws(() => checkIdentity(member, { publicKey: member.publicKey, secret: wide }, 'call'), IdentityMismatch);
});
