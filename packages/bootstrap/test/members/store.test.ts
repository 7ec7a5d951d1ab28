import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair, MemoryWgDriver } from '@wgmesh/agent';
import { FileStateStore, type MeshState } from '../../src/members/store.js';
import { StateFileError } from '../../src/errors.js';
import { Bootstrap } from '../../src/bootstrap.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-store-'));
  dirs.push(dir);
  return dir;
}

function sampleState(revision = 3): MeshState {
  return {
    version: 1,
    meshName: 'store',
    cidr: '10.232.0.0/16',
    createdMs: 1_700_000_000_000,
    revision,
    members: [{
      name: 'alpha',
      publicKey: generateKeyPair().publicKey,
      certFingerprint: '',
      meshIp: '10.232.0.1',
      endpoints: [{ ip: '192.0.2.1', port: 51820, kind: 'ENDPOINT_KIND_LAN' }],
      tags: { role: 'db', 'zone/rack': 'r1' },
      status: 'NODE_STATUS_ALIVE',
      joinedAtMs: 1_700_000_000_001,
      lastSeenMs: 1_700_000_000_002,
      statusChangedMs: 1_700_000_000_001,
      isBootstrap: false,
      listenPort: 51820,
    }],
  };
}

/** Asserts `promise` rejects with a StateFileError whose message names `file`. */
async function rejectsNamingFile(promise: Promise<unknown>, file: string, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StateFileError, `expected StateFileError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
    assert.match(err.message, reason);
    return true;
  });
}

describe('FileStateStore', () => {
  test('a saved state loads back equal', async () => {
    const file = path.join(await tempDir(), 'state.json');
    const store = new FileStateStore(file);
    const state = sampleState();
    await store.save(state);
    assert.deepEqual(await store.load(), state);
    // And a fresh store on the same file (a restart) reads the same.
    assert.deepEqual(await new FileStateStore(file).load(), state);
  });

  test('a later save replaces the earlier one', async () => {
    const file = path.join(await tempDir(), 'state.json');
    const store = new FileStateStore(file);
    await store.save(sampleState(1));
    await store.save(sampleState(2));
    assert.equal((await store.load())?.revision, 2);
  });

  test('a missing file is "no state yet"', async () => {
    const store = new FileStateStore(path.join(await tempDir(), 'nothing-here.json'));
    assert.equal(await store.load(), undefined);
  });

  test('save creates missing directories', async () => {
    const file = path.join(await tempDir(), 'a', 'b', 'state.json');
    await new FileStateStore(file).save(sampleState());
    assert.equal((await new FileStateStore(file).load())?.revision, 3);
  });

  test('corrupt JSON is a StateFileError naming the file, never "no state"', async () => {
    const file = path.join(await tempDir(), 'state.json');
    await writeFile(file, '{"version": 1, "meshName": "store", "cidr": "10.2');
    await rejectsNamingFile(new FileStateStore(file).load(), file, /not valid JSON/);
  });

  test('an empty file is a StateFileError too', async () => {
    const file = path.join(await tempDir(), 'state.json');
    await writeFile(file, '');
    await rejectsNamingFile(new FileStateStore(file).load(), file, /not valid JSON/);
  });

  test('a state of another version is a StateFileError naming the version', async () => {
    const file = path.join(await tempDir(), 'state.json');
    await writeFile(file, JSON.stringify({ ...sampleState(), version: 2 }));
    await rejectsNamingFile(new FileStateStore(file).load(), file, /version 2/);
  });

  test('valid JSON that is not a state is a StateFileError', async () => {
    const dir = await tempDir();
    const cases: [string, unknown, RegExp][] = [
      ['null', null, /not a wgmesh state/],
      ['array', [1, 2], /version/],
      ['no members', { ...sampleState(), members: undefined }, /lacks members/],
      ['member without ip', { ...sampleState(), members: [{ name: 'x', publicKey: 'k' }] }, /member without/],
    ];
    for (const [label, value, reason] of cases) {
      const file = path.join(dir, `${label.replace(/ /g, '-')}.json`);
      await writeFile(file, JSON.stringify(value));
      await rejectsNamingFile(new FileStateStore(file).load(), file, reason);
    }
  });

  test('saving leaves no temporary files behind', async () => {
    const dir = await tempDir();
    const store = new FileStateStore(path.join(dir, 'state.json'));
    for (let r = 1; r <= 5; r++) await store.save(sampleState(r));
    assert.deepEqual(await readdir(dir), ['state.json']);
  });

  test('the state file is readable by its owner only (0600)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'state.json');
    // Even when an older file was world-readable, the replacement is not.
    await writeFile(file, '{}', { mode: 0o644 });
    await new FileStateStore(file).save(sampleState());
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });
});

describe('Bootstrap with a corrupt state file', () => {
  test('start() rejects with a StateFileError naming the file, and leaves the file as it was', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'state.json');
    const corrupt = '{"version":1,"meshName":"store","cidr":"10.232.0.0/16","createdMs":1,"revision":7,"members":[{"name":"al';
    await writeFile(file, corrupt, { mode: 0o600 });

    const driver = new MemoryWgDriver('wgstore');
    const bootstrap = new Bootstrap(
      { store: new FileStateStore(file), driver },
      { meshName: 'store', nodeName: 'boot', privateKey: generateKeyPair().privateKey, cidr: '10.232.0.0/16', selfIp: '10.232.1.1', grpcBindAddr: '127.0.0.1', grpcPort: 0 },
    );
    try {
      await rejectsNamingFile(bootstrap.start(), file, /not valid JSON/);
    } finally {
      await bootstrap.stop();
    }

    assert.equal(await readFile(file, 'utf8'), corrupt, 'the members and IPs in it were not overwritten');
    assert.deepEqual(await readdir(dir), ['state.json']);
    assert.equal(bootstrap.port, 0, 'nothing is listening');
    assert.equal(driver.isUp, false, 'no interface was brought up');
  });
});
