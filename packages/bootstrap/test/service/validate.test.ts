import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateTags } from '../../src/service/validate.js';
import { InvalidField } from '../../src/errors.js';

test('tag keys: plain, the svc: service convention, and internal _ tags are accepted', () => {
  assert.deepEqual(validateTags({ role: 'web', 'svc:http': '80', _origin: 'lab', 'k8s.io/zone': 'a' }), { role: 'web', 'svc:http': '80', _origin: 'lab', 'k8s.io/zone': 'a' });
});

test('tag keys with spaces, a trailing separator or nothing at all are refused, naming the tag', () => {
  for (const key of ['has space', 'svc:', '', '-lead']) {
    assert.throws(() => validateTags({ [key]: 'x' }), (err: Error) => err instanceof InvalidField && err.field.startsWith('tags['));
  }
});
