import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateTag, validateTags } from '../src/tags.js';
import { InvalidTag } from '../src/errors.js';
import { excerpt, SHARED_LIMITS } from '../src/limits.js';

const invalid = (field: string, reason: RegExp) => (err: unknown) => err instanceof InvalidTag && err.field === field && reason.test(err.reason);

test('tag keys: plain, the svc: convention, internal _ tags and names of Object methods are accepted', () => {
  const tags = { role: 'web', 'svc:http': '80', _origin: 'lab', 'k8s.io/zone': 'a', toString: 'x', constructor: '' };
  assert.deepEqual(validateTags(tags), tags);
});

test('a bad tag throws InvalidTag naming it and saying what is allowed', () => {
  assert.throws(() => validateTag('bad key', 'x'), invalid('tags["bad key"]', /^key must be 1-63 letters, digits/));
  assert.throws(() => validateTag('__proto__', 'x'), invalid('tags["__proto__"]', /^key must be/), 'a key may not end with _');
  assert.throws(() => validateTag('note', 'x'.repeat(SHARED_LIMITS.tagValueMax + 1)), invalid('tags["note"]', /longer than 255 bytes/));
  assert.throws(() => validateTag('note', 'a\u001bb'), invalid('tags["note"]', /control characters/));
});

test('a huge or hostile key is quoted short, with its control characters escaped', () => {
  const key = `\n${'k'.repeat(100_000)}`;
  assert.throws(() => validateTag(key, 'x'), (err: Error) => err.message.length < 200 && err.message.includes(`tags["\\n${'k'.repeat(39)}…"]`));
  assert.equal(excerpt('short'), '"short"');
  assert.equal(excerpt('x'.repeat(41)), `"${'x'.repeat(40)}…"`);
});

test(`a set of more than ${SHARED_LIMITS.tagsMax} tags is refused as a whole`, () => {
  const many = Object.fromEntries(Array.from({ length: SHARED_LIMITS.tagsMax + 1 }, (_, i) => [`k${i}`, 'v']));
  assert.throws(() => validateTags(many), invalid('tags', /33 tags, at most 32/));
});
