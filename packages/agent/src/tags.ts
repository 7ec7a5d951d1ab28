import { InvalidTag } from './errors.js';
import { excerpt, SHARED_LIMITS } from './limits.js';

/** The tag rules every node and the bootstrap enforce; each check throws InvalidTag naming the tag. */

const TAG_KEY = /^[A-Za-z0-9_]([A-Za-z0-9_.:\-/]*[A-Za-z0-9])?$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

export function validateTag(key: string, value: string): void {
  const field = `tags[${excerpt(key)}]`;
  if (key.length > SHARED_LIMITS.tagKeyMax || !TAG_KEY.test(key)) {
    throw new InvalidTag(field, `key must be 1-${SHARED_LIMITS.tagKeyMax} letters, digits, '.', '_', '-', ':' or '/' (e.g. role, svc:http, _internal)`);
  }
  if (Buffer.byteLength(value) > SHARED_LIMITS.tagValueMax) throw new InvalidTag(field, `value is longer than ${SHARED_LIMITS.tagValueMax} bytes`);
  if (CONTROL.test(value)) throw new InvalidTag(field, 'value contains control characters');
}

/** Checks a whole tag set (its size, then each tag); returns a copy holding only its own entries. */
export function validateTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(tags);
  if (entries.length > SHARED_LIMITS.tagsMax) throw new InvalidTag('tags', `${entries.length} tags, at most ${SHARED_LIMITS.tagsMax}`);
  for (const [key, value] of entries) validateTag(key, value);
  return Object.fromEntries(entries);
}
