import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair, MemoryWgDriver } from '@wgmesh/agent';
import { FileStateStore, type MeshState } from '../../src/members/store.js';
import { StateFileError } from '../../src/errors.js';
import { Bootstrap } from '../../src/bootstrap.js';
import { MemberTable } from '../../src/members/table.js';
import { Ipam } from '../../src/ipam/ipam.js';

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
      relay: false,
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

  test('a state with layer 2 (bootstrap -l2) loads back with it; a bad VNI names the field', async () => {
    const file = path.join(await tempDir(), 'state.json');
    const state = { ...sampleState(), l2: { vni: 4242, port: 4789 } };
    await new FileStateStore(file).save(state);
    assert.deepEqual(await new FileStateStore(file).load(), state);
    await writeFile(file, JSON.stringify({ ...state, l2: { vni: 0, port: 4789 } }));
    await rejectsNamingFile(new FileStateStore(file).load(), file, /l2\.vni.*VXLAN network identifier/);
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
    await rejectsNamingFile(new FileStateStore(file).load(), file, /version: is 2; this wgmesh reads version 1/);
  });

  test('valid JSON that is not a state is a StateFileError', async () => {
    const dir = await tempDir();
    const cases: [string, unknown, RegExp][] = [
      ['null', null, /is null \(expected a wgmesh state object\)/],
      ['array', [1, 2], /is an array \(expected a wgmesh state object\)/],
      ['no members', { ...sampleState(), members: undefined }, /members: missing \(expected an array\)/],
      ['member without ip', { ...sampleState(), members: [{ name: 'x', publicKey: 'k' }] }, /members\[0\]\.publicKey: is "k" \(expected a WireGuard public key/],
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

/** A state with two members, so that paths name members[1] as well as members[0]. */
function twoMembers(): MeshState {
  const state = sampleState();
  const beta = { ...state.members[0]!, name: 'beta', publicKey: generateKeyPair().publicKey, meshIp: '10.232.0.2', isBootstrap: true };
  return { ...state, members: [state.members[0]!, beta] };
}

type Json = Record<string, unknown>;
/** twoMembers() with one change made to its JSON form. */
function withChange(change: (state: Json & { members: Json[] }) => void): unknown {
  const state = JSON.parse(JSON.stringify(twoMembers())) as Json & { members: Json[] };
  change(state);
  return state;
}

/** One case per kind of bad field: [what, the file's content, the reason the error must give]. */
const BAD_FIELDS: [string, unknown, RegExp][] = [
  ['meshName missing', withChange((s) => delete s.meshName), /meshName: missing \(expected a string\)/],
  ['cidr not a network', withChange((s) => (s.cidr = '10.232.0.0/33')), /cidr: is "10\.232\.0\.0\/33" \(expected a network in CIDR form/],
  ['createdMs a string', withChange((s) => (s.createdMs = '2024-01-01')), /createdMs: is "2024-01-01" \(expected a time in ms\)/],
  ['revision negative', withChange((s) => (s.revision = -1)), /revision: is -1 \(expected a revision number/],
  ['members not an array', withChange((s) => (s.members = {} as never)), /members: is an object \(expected an array\)/],
  ['a member that is not an object', withChange((s) => (s.members[1] = 'beta' as never)), /members\[1\]: is "beta" \(expected an object\)/],
  ['name missing', withChange((s) => delete s.members[1]!.name), /members\[1\]\.name: missing \(expected a node name/],
  ['name not a DNS label', withChange((s) => (s.members[1]!.name = 'Beta_1')), /members\[1\]\.name: is "Beta_1" \(expected a node name \(a DNS label\)\)/],
  ['publicKey not a WireGuard key', withChange((s) => (s.members[0]!.publicKey = 'AAAA')), /members\[0\]\.publicKey: is "AAAA" \(expected a WireGuard public key/],
  ['meshIp not an IP', withChange((s) => (s.members[1]!.meshIp = '10.232.0')), /members\[1\]\.meshIp: is "10\.232\.0" \(expected an IPv4 or IPv6 address\)/],
  ['meshIp outside the cidr', withChange((s) => (s.members[1]!.meshIp = '10.233.0.2')), /members\[1\]\.meshIp: "10\.233\.0\.2" is not inside the mesh CIDR 10\.232\.0\.0\/16/],
  ['endpoints missing', withChange((s) => delete s.members[1]!.endpoints), /members\[1\]\.endpoints: missing \(expected an array\)/],
  ['endpoints null', withChange((s) => (s.members[1]!.endpoints = null)), /members\[1\]\.endpoints: is null \(expected an array\)/],
  ['an endpoint that is not an object', withChange((s) => (s.members[1]!.endpoints = ['192.0.2.1:51820'])), /members\[1\]\.endpoints\[0\]: is "192\.0\.2\.1:51820" \(expected an object\)/],
  ['an endpoint ip that is not an IP', withChange((s) => ((s.members[1]!.endpoints as Json[])[0]!.ip = 'example.com')), /members\[1\]\.endpoints\[0\]\.ip: is "example\.com" \(expected an IPv4 or IPv6 address\)/],
  ['an endpoint port out of range', withChange((s) => ((s.members[1]!.endpoints as Json[])[0]!.port = 0)), /members\[1\]\.endpoints\[0\]\.port: is 0 \(expected a port number 1-65535\)/],
  ['an endpoint kind unknown', withChange((s) => ((s.members[1]!.endpoints as Json[])[0]!.kind = 'ENDPOINT_KIND_CARRIER_PIGEON')), /members\[1\]\.endpoints\[0\]\.kind: is "ENDPOINT_KIND_CARRIER_PIGEON" \(expected one of ENDPOINT_KIND_UNSPECIFIED, ENDPOINT_KIND_LAN/],
  ['an endpoint without a kind', withChange((s) => delete (s.members[1]!.endpoints as Json[])[0]!.kind), /members\[1\]\.endpoints\[0\]\.kind: missing/],
  ['tags missing', withChange((s) => delete s.members[1]!.tags), /members\[1\]\.tags: missing \(expected an object of string values\)/],
  ['tags an array', withChange((s) => (s.members[1]!.tags = ['role=db'])), /members\[1\]\.tags: is an array \(expected an object of string values\)/],
  ['a tag value that is not a string', withChange((s) => (s.members[1]!.tags = { role: 'db', weight: 3 })), /members\[1\]\.tags\["weight"\]: is 3 \(expected a string\)/],
  ['status unknown', withChange((s) => (s.members[1]!.status = 'NODE_STATUS_ZOMBIE')), /members\[1\]\.status: is "NODE_STATUS_ZOMBIE" \(expected one of NODE_STATUS_UNSPECIFIED, NODE_STATUS_ALIVE/],
  ['status as a number', withChange((s) => (s.members[1]!.status = 1)), /members\[1\]\.status: is 1 \(expected one of/],
  ['joinedAtMs a string', withChange((s) => (s.members[1]!.joinedAtMs = '1700000000001')), /members\[1\]\.joinedAtMs: is "1700000000001" \(expected a time in ms\)/],
  ['lastSeenMs missing', withChange((s) => delete s.members[1]!.lastSeenMs), /members\[1\]\.lastSeenMs: missing \(expected a time in ms\)/],
  ['statusChangedMs null', withChange((s) => (s.members[1]!.statusChangedMs = null)), /members\[1\]\.statusChangedMs: is null \(expected a time in ms\)/],
  ['isBootstrap a string', withChange((s) => (s.members[1]!.isBootstrap = 'false')), /members\[1\]\.isBootstrap: is "false" \(expected true or false\)/],
  ['listenPort out of range', withChange((s) => (s.members[1]!.listenPort = 70_000)), /members\[1\]\.listenPort: is 70000 \(expected a port number 0-65535\)/],
  ['certFingerprint missing', withChange((s) => delete s.members[1]!.certFingerprint), /members\[1\]\.certFingerprint: missing \(expected a string\)/],
  ['two members with one name', withChange((s) => (s.members[1]!.name = 'alpha')), /members\[1\]\.name: "alpha" is also members\[0\]'s \("alpha"\)/],
  ['two members with one meshIp', withChange((s) => (s.members[1]!.meshIp = '10.232.0.1')), /members\[1\]\.meshIp: "10\.232\.0\.1" is also members\[0\]'s \("alpha"\)/],
  ['two members with one public key', withChange((s) => (s.members[1]!.publicKey = s.members[0]!.publicKey)), /members\[1\]\.publicKey: ".*" is also members\[0\]'s \("alpha"\)/],
];

describe('FileStateStore checks every field at load', () => {
  test('control: the two-member state these cases start from loads', async () => {
    const file = path.join(await tempDir(), 'state.json');
    await writeFile(file, JSON.stringify(twoMembers()));
    assert.equal((await new FileStateStore(file).load())?.members.length, 2);
  });

  for (const [what, content, reason] of BAD_FIELDS) {
    test(`${what}: a StateFileError naming the field`, async () => {
      const file = path.join(await tempDir(), 'state.json');
      await writeFile(file, JSON.stringify(content));
      await rejectsNamingFile(new FileStateStore(file).load(), file, reason);
    });
  }

  test('fields older files carry (rtt) and fields a newer wgmesh may add load; the table drops rtt', async () => {
    const file = path.join(await tempDir(), 'state.json');
    const content = withChange((s) => {
      s.members[0]!.rtt = [{ peer: 'beta', rttMs: 1, loss: 0 }];
      s.members[1]!.addedLater = { any: 'shape' };
      s.futureTopLevel = 1;
    });
    await writeFile(file, JSON.stringify(content));
    const store = new FileStateStore(file);
    assert.equal((await store.load())?.members.length, 2);
    const table = await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: 'store' });
    assert.equal('rtt' in table.get('alpha')!, false);
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

  test('a member without endpoints: start() refuses with the field named, instead of failing later in WireGuard set-up', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'state.json');
    const content = JSON.stringify(withChange((s) => delete s.members[1]!.endpoints));
    await writeFile(file, content, { mode: 0o600 });

    const driver = new MemoryWgDriver('wgstore');
    const bootstrap = new Bootstrap(
      { store: new FileStateStore(file), driver },
      { meshName: 'store', nodeName: 'beta', privateKey: generateKeyPair().privateKey, cidr: '10.232.0.0/16', selfIp: '10.232.0.2', grpcBindAddr: '127.0.0.1', grpcPort: 0 },
    );
    try {
      await rejectsNamingFile(bootstrap.start(), file, /members\[1\]\.endpoints: missing \(expected an array\)/);
    } finally {
      await bootstrap.stop();
    }
    assert.equal(await readFile(file, 'utf8'), content, 'the file was left as it was');
    assert.equal(driver.isUp, false, 'no interface was brought up');
  });
});
