/**
 * Run under a file size limit (prlimit --fsize) by journal.test.ts: a new mesh saved, then changes
 * appended until one fails, as on a disk that fills up. Prints how many were acknowledged.
 */
import { FileStateStore } from '../../src/members/store.js';
import { NUMBERED_CIDR, numberedMember } from './fixtures.js';

const file = process.argv[2]!;
const store = new FileStateStore(file);
await store.save({ version: 1, meshName: 'full', cidr: NUMBERED_CIDR, createdMs: 1_700_000_000_000, revision: 0, members: [] });
let acknowledged = 0;
let error = '';
for (let revision = 1; revision < 10_000; revision++) {
  try {
    await store.append({ revision, upsert: numberedMember(revision) });
    acknowledged = revision;
  } catch (err) {
    error = (err as Error).message;
    break;
  }
}
await store.close().catch(() => {});
process.stdout.write(JSON.stringify({ acknowledged, error }));
