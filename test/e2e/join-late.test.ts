/**
 * A late joiner: a 5th host joins a running 4-host lab, and every host reaches it over the mesh
 * within 3 s of its `wgmesh join` process starting.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labAdd, labDown, labUp, type LabState } from '@wgmesh/cli/lab';
import { e2eWgmeshCommand, labSkipReason, leftovers, pingUntil, wgDump } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgjl';
const MESH = 'late';
const JOIN_BUDGET_MS = 3_000;
const skip = await labSkipReason({ wireguard: true });

describe('a host joining a running lab', { skip: skip ?? false }, () => {
  let lab: LabState;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 4, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test(`every host pings the 5th host within ${JOIN_BUDGET_MS / 1000} s of its join starting`, async () => {
    const known = new Set(lab.hosts.map((h) => h.meshIp));
    const added = await labAdd({ name: LAB, wait: false });
    lab = added.lab;
    assert.equal(added.host.name, 'h5');
    const startedMs = added.host.process!.startedMs;

    // h5's mesh IP, as soon as the bootstrap has configured it as a peer.
    const ip = await waitFor('h1 to list the new peer', async () => {
      const dump = await wgDump(lab, 'h1');
      return dump.peers.flatMap((p) => p.allowedIps).map((a) => a.replace(/\/32$/, '')).find((a) => !known.has(a));
    }, 10_000, 20);

    const reached = await Promise.all(
      ['h1', 'h2', 'h3', 'h4'].map(async (from) => ({ from, ms: (await pingUntil(lab, from, ip, 15_000)) - startedMs })),
    );
    const slow = reached.filter((r) => r.ms > JOIN_BUDGET_MS);
    assert.deepEqual(slow, [], `first answers from ${ip} after join start: ${reached.map((r) => `${r.from} ${r.ms} ms`).join(', ')}`);
  });

  test('the new host sees the 4 others and they see it', async () => {
    for (const h of ['h1', 'h2', 'h3', 'h4', 'h5']) {
      await waitFor(`${h} to have 4 peers`, async () => (await wgDump(lab, h)).peers.length === 4, 10_000, 100);
    }
  });

  test('lab down removes the late host too', async () => {
    const processes = lab.hosts.flatMap((h) => (h.process ? [h.process] : []));
    assert.equal(processes.length, 5);
    await labDown({ name: LAB });
    assert.deepEqual(await leftovers(lab, processes), []);
  });
});
