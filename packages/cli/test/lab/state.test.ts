import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidLabOptions } from '../../src/lab/errors.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { labHost } from '../../src/lab/hosts.js';
import { formatLabState, parseLabState, readLabState, replaceEtcdMember, replaceHost, updateLabState, writeLabState, type LabHost, type LabState } from '../../src/lab/state.js';

const host = (k: number, extra: Partial<LabHost> = {}): LabHost => ({
  name: `h${k}`,
  index: k,
  netns: `wgl-h${k}`,
  underlayIp: `192.0.2.${k}`,
  mountFile: `/run/wgmesh-lab/wgl/ns/h${k}.mnt`,
  stateDir: `/var/lib/wgmesh-lab/wgl/h${k}`,
  logFile: `/var/lib/wgmesh-lab/wgl/h${k}.log`,
  role: k === 1 ? 'bootstrap' : 'join',
  ...extra,
});

const lab: LabState = {
  version: 1,
  name: 'wgl',
  mesh: 'lab',
  underlay: '192.0.2.0/24',
  cidr: '198.18.0.0/16',
  bootstrapPort: 5000,
  wgmeshCommand: ['/usr/bin/node', '/repo/packages/cli/bin/wgmesh.js'],
  logLevel: 'info',
  hostsOnly: false,
  createdMs: 1_700_000_000_000,
  hosts: [host(1, { process: { pid: 100, startTicks: 5, startedMs: 1_700_000_000_100, argv: ['node', 'bootstrap'] }, meshIp: '198.18.0.1' }), host(2)],
};

describe('lab.json', () => {
  test('round-trips through its text form', () => {
    assert.deepEqual(parseLabState(formatLabState(lab)), lab);
  });

  test('extra node flags and a deliberate stop round-trip too; a lab.json without them still reads', () => {
    const full: LabState = { ...lab, bootstrapArgs: ['-reap-after', '5s'], joinArgs: ['-heartbeat', '1s'], hosts: [host(1, { stopped: { signal: 'SIGKILL', atMs: 1_700_000_000_200 } })] };
    assert.deepEqual(parseLabState(formatLabState(full)), full);
    assert.equal(parseLabState(formatLabState(lab)).bootstrapArgs, undefined);
    assert.throws(() => parseLabState(JSON.stringify({ ...lab, joinArgs: '-heartbeat 1s' })), /lab\.joinArgs/);
    assert.throws(() => parseLabState(JSON.stringify({ ...lab, hosts: [{ ...host(1), stopped: { signal: 9 } }] })), /hosts\[0\]\.stopped\.signal/);
  });

  test('several bootstraps and their etcd members round-trip; a damaged member names its field', () => {
    const member = (k: number) => ({
      name: `h${k}`, clientUrl: `http://192.0.2.${k}:2379`, peerUrl: `http://192.0.2.${k}:2380`,
      dataDir: `/var/lib/wgmesh-lab/wgl/h${k}/etcd`, logFile: `/var/lib/wgmesh-lab/wgl/h${k}-etcd.log`,
    });
    const multi: LabState = {
      ...lab,
      bootstraps: 3,
      etcd: [{ ...member(1), process: { pid: 200, startTicks: 7, startedMs: 1_700_000_000_050, argv: ['etcd', '--name', 'h1'] } }, member(2), member(3)],
      hosts: [host(1), host(2, { role: 'bootstrap' }), host(3, { role: 'bootstrap' }), host(4)],
    };
    assert.deepEqual(parseLabState(formatLabState(multi)), multi);
    assert.equal(parseLabState(formatLabState(lab)).etcd, undefined);
    assert.equal(parseLabState(formatLabState(lab)).bootstraps, undefined);
    assert.throws(() => parseLabState(JSON.stringify({ ...multi, etcd: [member(1), { ...member(2), clientUrl: 2379 }] })), /etcd\[1\]\.clientUrl/);
    assert.throws(() => parseLabState(JSON.stringify({ ...multi, bootstraps: '3' })), /lab\.bootstraps/);
    const updated = replaceEtcdMember(multi, { ...member(2), process: { pid: 201, startTicks: 8, startedMs: 1, argv: [] } });
    assert.deepEqual(updated.etcd?.map((m) => m.process?.pid), [200, 201, undefined]);
  });

  test('a damaged file names the bad field', () => {
    assert.throws(() => parseLabState('{'), /not JSON/);
    assert.throws(() => parseLabState(JSON.stringify({ ...lab, version: 2 })), /unsupported version 2/);
    assert.throws(() => parseLabState(JSON.stringify({ ...lab, hosts: [{ ...host(1), role: 'boss' }] })), /hosts\[0\]\.role/);
    assert.throws(() => parseLabState(JSON.stringify({ ...lab, hosts: [{ ...host(1), process: { pid: 'x' } }] })), /hosts\[0\]\.process\.pid/);
    assert.throws(() => parseLabState(JSON.stringify({ ...lab, wgmeshCommand: 'node' })), InvalidLabOptions);
  });

  test('replaceHost updates in place or inserts in index order', () => {
    const updated = replaceHost(lab, host(2, { meshIp: '198.18.0.2' }));
    assert.equal(updated.hosts[1]?.meshIp, '198.18.0.2');
    assert.equal(updated.hosts.length, 2);
    const grown = replaceHost(replaceHost(lab, host(4)), host(3));
    assert.deepEqual(grown.hosts.map((h) => h.name), ['h1', 'h2', 'h3', 'h4']);
  });

  test('is written atomically and read back; a missing file is undefined', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wgmesh-lab-state-'));
    try {
      const file = join(dir, 'sub', 'lab.json');
      assert.equal(await readLabState(file), undefined);
      await writeLabState(file, lab);
      assert.deepEqual(await readLabState(file), lab);
      assert.deepEqual(await readdir(join(dir, 'sub')), ['lab.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('changes made at once by several commands all land: each is made to lab.json as it is then, under its lock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wgmesh-lab-state-'));
    try {
      const file = join(dir, 'lab.json');
      const hosts = Array.from({ length: 12 }, (_, i) => host(i + 1));
      await writeLabState(file, { ...lab, hosts });
      // As `lab restart h1 & … & lab restart h12` would: each records its host's new process.
      await Promise.all(hosts.map((h, i) => updateLabState(file, (current) =>
        replaceHost(current, { ...labHost(current, h.name), process: { pid: 1000 + i, startTicks: i, startedMs: 1_700_000_001_000 + i, argv: ['node', 'join'] } }))));
      const after = (await readLabState(file))!;
      assert.deepEqual(after.hosts.map((h) => h.process?.pid), hosts.map((_, i) => 1000 + i), 'every host has the PID its command recorded');
      assert.deepEqual((await readdir(dir)).sort(), ['lab.json'], 'no lock or temporary file is left');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a lock whose holder has died is taken over; a lab taken down meanwhile is an error that says so", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wgmesh-lab-state-'));
    try {
      const file = join(dir, 'lab.json');
      await writeLabState(file, lab);
      const gone = spawn(process.execPath, ['-e', '']);
      await once(gone, 'exit');
      await writeFile(`${file}.lock`, `${gone.pid}\n`);
      const next = await updateLabState(file, (current) => ({ ...current, logLevel: 'debug' }));
      assert.equal(next.logLevel, 'debug');
      assert.equal((await readLabState(file))!.logLevel, 'debug');
      await rm(file);
      await assert.rejects(updateLabState(file, (current) => current), /is gone: the lab was taken down meanwhile/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
