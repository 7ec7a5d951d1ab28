import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@wgmesh/agent/log';
import { applyChange, FileStateStore, journalFileFor, type MeshState, type Member, type StateChange } from '../../src/members/store.js';
import { StateFileError } from '../../src/errors.js';
import { NUMBERED_CIDR, numberedMember } from './fixtures.js';

/**
 * The file store's journal: bootstrap.json stays the snapshot, each change is one fsync'd line in
 * bootstrap.journal beside it, and load() is the snapshot plus the journal's newer changes.
 */

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function stateFile(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-journal-'));
  dirs.push(dir);
  return path.join(dir, 'bootstrap.json');
}

const member = numberedMember;

function emptyMesh(): MeshState {
  return { version: 1, meshName: 'jrnl', cidr: NUMBERED_CIDR, createdMs: 1_700_000_000_000, revision: 0, members: [] };
}

/** The changes a mesh sees: joins, a tag change, a leave; revisions from `from` + 1. */
function someChanges(from = 0): StateChange[] {
  const alpha = member(1);
  return [
    { revision: from + 1, upsert: alpha },
    { revision: from + 2, upsert: member(2) },
    { revision: from + 3, upsert: member(3) },
    { revision: from + 4, upsert: { ...alpha, tags: { role: 'web' } } },
    { revision: from + 5, remove: member(2).name },
  ];
}

/** `state` with `changes` applied: what load() must return. */
function expected(state: MeshState, changes: readonly StateChange[]): MeshState {
  const members = new Map(state.members.map((m) => [m.name, m]));
  for (const change of changes) applyChange(members, change);
  return { ...state, revision: changes.at(-1)?.revision ?? state.revision, members: [...members.values()] };
}

/** Members in name order: a replayed member keeps its place, a re-added one moves to the end, like the Map the table keeps. */
function sorted(state: MeshState | undefined): MeshState | undefined {
  return state && { ...state, members: [...state.members].sort((a, b) => a.name.localeCompare(b.name)) };
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger & { warnings: string[] } = {
    warnings,
    error() {},
    warn: (message) => warnings.push(message),
    info() {},
    debug() {},
    child: () => logger,
  };
  return logger;
}

async function rejectsNaming(promise: Promise<unknown>, file: string, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StateFileError, `expected StateFileError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.match(err.message, reason);
    return true;
  });
}

/** A store with a new mesh saved and `changes` appended, closed (as at a stop). */
async function written(file: string, changes: readonly StateChange[], init: { compactBytes?: number } = {}): Promise<FileStateStore> {
  const store = new FileStateStore(file, init);
  await store.save(emptyMesh());
  for (const change of changes) await store.append(change);
  await store.close();
  return store;
}

describe('FileStateStore journal', () => {
  test('the journal of bootstrap.json is bootstrap.journal beside it', () => {
    assert.equal(journalFileFor('/var/lib/wgmesh/prod/bootstrap.json'), '/var/lib/wgmesh/prod/bootstrap.journal');
    assert.equal(journalFileFor('/s/state'), '/s/state.journal');
  });

  test('changes go to the journal, not the snapshot, and a reload (a restart) has them all', async () => {
    const file = await stateFile();
    const snapshotBefore = await written(file, []).then(() => readFile(file, 'utf8'));

    const changes = someChanges();
    const store = await written(file, changes);

    assert.equal(await readFile(file, 'utf8'), snapshotBefore, 'the snapshot was not rewritten');
    const lines = (await readFile(journalFileFor(file), 'utf8')).split('\n');
    assert.equal(lines.pop(), '', 'every line ends with a newline');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as StateChange).revision), [1, 2, 3, 4, 5], 'one line per change, in order');
    assert.deepEqual(store.writes, { snapshots: 1, snapshotBytes: snapshotBefore.length, appends: 5, journalBytes: lines.join('\n').length + 1 });

    const want = expected(emptyMesh(), changes);
    assert.deepEqual(sorted(await new FileStateStore(file).load()), sorted(want));
    assert.deepEqual(sorted(await store.load()), sorted(want), 'the writer itself reads the same');
  });

  test('appending goes on after a reload, from the replayed revision', async () => {
    const file = await stateFile();
    const changes = someChanges();
    await written(file, changes.slice(0, 3));
    const store = new FileStateStore(file);
    await store.load();
    await assert.rejects(store.append(changes[4]!), /revision 5 does not follow 3/, 'a change must follow the state');
    for (const change of changes.slice(3)) await store.append(change);
    await store.close();
    assert.deepEqual(sorted(await new FileStateStore(file).load()), sorted(expected(emptyMesh(), changes)));
  });

  test('a torn last line (a crash mid-append) is dropped with a warning, and cut off before the next append', async () => {
    const file = await stateFile();
    const changes = someChanges();
    await written(file, changes.slice(0, 3));
    // Half of change 4 reached the disk: append() had not resolved, so nobody was told of it.
    const torn = JSON.stringify(changes[3]);
    await appendFile(journalFileFor(file), torn.slice(0, torn.length >> 1));

    const logger = recordingLogger();
    const store = new FileStateStore(file, { logger });
    assert.deepEqual(sorted(await store.load()), sorted(expected(emptyMesh(), changes.slice(0, 3))));
    assert.equal(logger.warnings.length, 1);
    assert.match(logger.warnings[0]!, /line 4, the last, is torn .* never acknowledged and is dropped/);

    // Change 4 again (the node retried), then 5: the torn half is gone, the journal reads whole.
    await store.append(changes[3]!);
    await store.append(changes[4]!);
    await store.close();
    const again = recordingLogger();
    assert.deepEqual(sorted(await new FileStateStore(file, { logger: again }).load()), sorted(expected(emptyMesh(), changes)));
    assert.deepEqual(again.warnings, []);
  });

  test('a last line that is whole JSON but lacks its newline is torn too (the newline is written with it)', async () => {
    const file = await stateFile();
    const changes = someChanges();
    await written(file, changes.slice(0, 2));
    await appendFile(journalFileFor(file), JSON.stringify(changes[2]));
    const logger = recordingLogger();
    assert.equal((await new FileStateStore(file, { logger }).load())?.revision, 2);
    assert.equal(logger.warnings.length, 1);
  });

  test('a corrupt line with changes after it is a StateFileError naming the journal and the line', async () => {
    const file = await stateFile();
    await written(file, someChanges());
    const journal = journalFileFor(file);
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines[1] = lines[1]!.slice(0, 20);
    await writeFile(journal, lines.join('\n'));
    await rejectsNaming(new FileStateStore(file).load(), journal, /line 2 is not a whole change .*, and changes follow it/);
  });

  test('a line that is JSON but not a change is a StateFileError naming the line and the field', async () => {
    const file = await stateFile();
    await written(file, someChanges().slice(0, 2));
    const journal = journalFileFor(file);
    const bad: [string, RegExp][] = [
      [JSON.stringify({ revision: 3, upsert: { ...member(3), meshIp: '10.99.0.1' } }), /line 3: upsert\.meshIp: "10\.99\.0\.1" is not inside the mesh CIDR/],
      [JSON.stringify({ revision: 3, remove: 'Not A Name' }), /line 3: remove: is "Not A Name" \(expected a node name/],
      [JSON.stringify({ revision: 3 }), /line 3: \(top level\): has neither "upsert" nor "remove"/],
      [JSON.stringify({ revision: 3, remove: 'node-00009' }), /line 3: removes "node-00009", which is not a member at revision 2/],
      [JSON.stringify({ revision: 5, remove: member(1).name }), /line 3: revision 5 follows revision 2 \(expected 3\)/],
      [JSON.stringify({ revision: 3, upsert: { ...member(3), meshIp: '10.232.0.1' } }), /members\[\d\]\.meshIp: "10\.232\.0\.1" is also/],
    ];
    const good = await readFile(journal, 'utf8');
    for (const [line, reason] of bad) {
      await writeFile(journal, `${good}${line}\n`);
      await rejectsNaming(new FileStateStore(file).load(), journal, reason);
    }
  });

  test('a journal that starts past the snapshot (changes missing between) is a StateFileError', async () => {
    const file = await stateFile();
    await written(file, []);
    await writeFile(journalFileFor(file), `${JSON.stringify({ revision: 2, upsert: member(2) })}\n`);
    await rejectsNaming(new FileStateStore(file).load(), journalFileFor(file), /line 1: revision 2, but the snapshot .* ends at revision 0: the changes between are missing/);
  });

  test('past its bound the journal is compacted: a new snapshot, an empty journal, the same state', async () => {
    const file = await stateFile();
    const journal = journalFileFor(file);
    const store = new FileStateStore(file, { compactBytes: 2_000 });
    await store.save(emptyMesh());
    const changes = Array.from({ length: 12 }, (_, i): StateChange => ({ revision: i + 1, upsert: member(i + 1) }));
    let next = 0;
    while (store.writes.snapshots === 1) {
      assert.ok(next < 8, 'compacted within 8 changes of some 400 bytes');
      const journalBytes = store.writes.journalBytes;
      await store.append(changes[next++]!);
      if (store.writes.snapshots === 1) {
        assert.equal((await stat(journal)).size, store.writes.journalBytes, 'below the bound, every change is in the journal');
      } else {
        assert.ok(journalBytes <= 2_000 && store.writes.journalBytes > 2_000, 'the change that took the journal past the bound compacted it');
      }
    }
    assert.equal((await stat(journal)).size, 0, 'the journal is empty');
    const snapshot = JSON.parse(await readFile(file, 'utf8')) as MeshState;
    assert.equal(snapshot.revision, next, 'the snapshot holds every change up to the compaction');
    assert.equal(snapshot.members.length, next);

    for (const change of changes.slice(next)) await store.append(change);
    await store.close();
    assert.deepEqual(sorted(await new FileStateStore(file).load()), sorted(expected(emptyMesh(), changes)));
    assert.deepEqual((await readdir(path.dirname(file))).sort(), ['bootstrap.journal', 'bootstrap.json'], 'no temporary file left');
  });

  test('a snapshot larger than the bound is compacted only once the journal outgrows it', async () => {
    const file = await stateFile();
    const big: MeshState = { ...emptyMesh(), members: Array.from({ length: 40 }, (_, i) => member(i + 1)) };
    const store = new FileStateStore(file, { compactBytes: 1_000 });
    await store.save(big);
    const snapshotSize = (await stat(file)).size;
    let revision = 0;
    while (store.writes.journalBytes <= snapshotSize) {
      await store.append({ revision: ++revision, upsert: { ...big.members[0]!, tags: { n: String(revision) } } });
      if (store.writes.journalBytes <= snapshotSize) assert.equal(store.writes.snapshots, 1, `no compaction at ${store.writes.journalBytes} journal bytes`);
    }
    assert.equal(store.writes.snapshots, 2);
    await store.close();
  });

  test('a crash between the new snapshot and emptying the journal: the changes the snapshot has are skipped', async () => {
    const file = await stateFile();
    const changes = someChanges();
    await written(file, changes);
    const journal = journalFileFor(file);
    const journalBefore = await readFile(journal, 'utf8');

    // The compaction wrote a snapshot holding changes 1..5 (or only 1..3), then the process died.
    for (const upTo of [5, 3]) {
      await writeFile(file, JSON.stringify(expected(emptyMesh(), changes.slice(0, upTo)), null, 1));
      await writeFile(journal, journalBefore);
      const store = new FileStateStore(file);
      assert.deepEqual(sorted(await store.load()), sorted(expected(emptyMesh(), changes)), `snapshot at ${upTo}`);
      // Appending goes on from there; the stale lines are dropped or kept as the replay needs them.
      const next: StateChange = { revision: 6, upsert: member(6) };
      await store.append(next);
      await store.close();
      assert.deepEqual(sorted(await new FileStateStore(file).load()), sorted(expected(emptyMesh(), [...changes, next])));
      if (upTo === 5) assert.equal((await readFile(journal, 'utf8')).split('\n').length, 2, 'only change 6: 1..5 were in the snapshot');
    }
  });

  test('an old bootstrap.json without a journal loads unchanged, and the first change starts the journal', async () => {
    const file = await stateFile();
    const old: MeshState = { ...emptyMesh(), revision: 41, members: [member(1), member(2)] };
    await writeFile(file, JSON.stringify(old, null, 1), { mode: 0o600 });
    const store = new FileStateStore(file);
    assert.deepEqual(await store.load(), old);
    await store.append({ revision: 42, remove: member(1).name });
    await store.close();
    assert.equal((await stat(journalFileFor(file))).mode & 0o777, 0o600, 'the journal is readable by its owner only');
    assert.deepEqual(await new FileStateStore(file).load(), { ...old, revision: 42, members: [old.members[1]] });
  });

  test('a journal left without its snapshot is never replayed onto a new mesh, and is kept aside', async () => {
    const file = await stateFile();
    await written(file, someChanges());
    const orphan = await readFile(journalFileFor(file), 'utf8');
    await rm(file);
    const logger = recordingLogger();
    const store = new FileStateStore(file, { logger });
    assert.equal(await store.load(), undefined, 'no snapshot: no state, whatever the journal holds');
    await store.save(emptyMesh());
    assert.deepEqual(await new FileStateStore(file).load(), emptyMesh());
    assert.equal(await readFile(`${journalFileFor(file)}.orphaned`, 'utf8'), orphan, 'what it held is kept');
    assert.match(logger.warnings.join('\n'), /moved to .*bootstrap\.journal\.orphaned, not replayed/);
  });

  test('a disk that fills up mid-change: the change that did not fit is refused, never acknowledged, and the files load', async (t) => {
    // A file size limit makes the journal's write short, as a full disk does: the first write
    // that crosses it writes what fits and returns fewer bytes; the next fails (EFBIG).
    if (spawnSync('prlimit', ['--version']).status !== 0) return t.skip('prlimit (util-linux) is not installed');
    const file = await stateFile();
    const child = fileURLToPath(new URL('./journal-full-disk-child.ts', import.meta.url));
    const run = spawnSync('prlimit', ['--fsize=4096', process.execPath, '--conditions=source', '--import', 'tsx', child, file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const { acknowledged, error } = JSON.parse(run.stdout) as { acknowledged: number; error: string };
    assert.ok(acknowledged > 0 && error !== '', `some changes fit (${acknowledged}), then one failed (${error})`);
    // Every acknowledged change is there, and nothing else.
    const store = new FileStateStore(file);
    const loaded = await store.load();
    assert.equal(loaded?.revision, acknowledged);
    assert.equal(loaded?.members.length, acknowledged);
    assert.match(error, /wrote \d+ of \d+ bytes .*is the disk full\?/, 'the refusal says what happened');
    // With room again, the next change follows the last acknowledged one.
    await store.append({ revision: acknowledged + 1, upsert: member(acknowledged + 1) });
    await store.close();
    assert.equal((await new FileStateStore(file).load())?.revision, acknowledged + 1);
  });

  test('append before load or save is refused', async () => {
    await assert.rejects(new FileStateStore(await stateFile()).append({ revision: 1, remove: 'x' }), /neither loaded nor saved/);
  });
});

describe('FileStateStore journal and layer 2', () => {
  test('the mesh\'s layer 2 (bootstrap -l2) survives the journal\'s replay and its compaction', async () => {
    const file = await stateFile();
    const l2 = { vni: 4242, port: 4789 };
    const store = new FileStateStore(file, { compactBytes: 1_000 });
    await store.save({ ...emptyMesh(), l2 });
    for (let i = 1; store.writes.snapshots === 1; i++) {
      assert.ok(i < 10, 'compacted within 10 changes');
      await store.append({ revision: i, upsert: member(i) });
      if (store.writes.snapshots === 1) assert.deepEqual((await new FileStateStore(file).load())?.l2, l2, 'replayed from the journal');
    }
    await store.close();
    assert.deepEqual((JSON.parse(await readFile(file, 'utf8')) as MeshState).l2, l2, 'in the compacted snapshot');
    assert.deepEqual((await new FileStateStore(file).load())?.l2, l2);
  });
});
