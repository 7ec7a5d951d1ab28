/**
 * The lab's plumbing without wgmesh (`-hosts-only`): four hosts on one bridge reach each other
 * on the underlay, each has a private /run (wireguard sockets, agent socket) and state directory,
 * and teardown leaves nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { hostExec, inspectLab, labAdd, labDown, labUp, listNetns, type LabState } from '@wgmesh/cli/lab';
import { labSkipReason, leftovers } from '../helpers/lab.js';

const LAB = 'wgehost';
const skip = await labSkipReason({ wireguard: false });

describe('lab -hosts-only: namespaces, bridge and mount namespaces', { skip: skip ?? false }, () => {
  let lab: LabState;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 4, hostsOnly: true })).lab;
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('every host reaches every other host on the underlay', async () => {
    const pairs = lab.hosts.flatMap((a) => lab.hosts.filter((b) => b !== a).map((b) => [a, b] as const));
    const results = await Promise.all(
      pairs.map(async ([a, b]) => ({ a: a.name, b: b.underlayIp, code: (await hostExec(lab, a.name, ['ping', '-n', '-q', '-c', '1', '-W', '2', b.underlayIp])).code })),
    );
    assert.deepEqual(results.filter((r) => r.code !== 0), []);
  });

  test('each host has eth0 with its address, lo, and nothing else', async () => {
    for (const h of lab.hosts) {
      const result = await hostExec(lab, h.name, ['ip', '-o', '-4', 'addr', 'show']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`eth0\\s+inet ${h.underlayIp.replace(/\./g, '\\.')}/24`));
      const links = (await hostExec(lab, h.name, ['ls', '/sys/class/net'])).stdout.split(/\s+/).filter(Boolean).sort();
      assert.deepEqual(links, ['eth0', 'lo'], `${h.name} sees its own interfaces in /sys`);
    }
  });

  test('/run/wireguard and the state directory are private to each host', async () => {
    assert.equal((await hostExec(lab, 'h1', ['sh', '-c', 'echo h1 > /run/wireguard/mark && echo h1 > /var/lib/wgmesh/mark'])).code, 0);
    const h2 = await hostExec(lab, 'h2', ['sh', '-c', 'ls -A /run/wireguard /var/lib/wgmesh']);
    assert.equal(h2.code, 0, h2.stderr);
    assert.doesNotMatch(h2.stdout, /mark/);
    // The host's state directory is the lab's per-host directory on disk.
    assert.equal(await readFile(`${lab.hosts[0]!.stateDir}/mark`, 'utf8'), 'h1\n');
  });

  test('exit codes and output pass through hostExec', async () => {
    const result = await hostExec(lab, 'h3', ['sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.deepEqual(result, { code: 7, signal: null, stdout: 'out\n', stderr: 'err\n' });
  });

  test('lab up again on a healthy lab changes nothing', async () => {
    const again = await labUp({ name: LAB, hosts: 4, hostsOnly: true });
    assert.equal(again.status, 'already-up');
    assert.equal((await inspectLab(LAB)).healthy, true);
  });

  test('lab down removes everything, and a second lab down has nothing to do', async () => {
    const first = await labDown({ name: LAB });
    assert.equal(first.existed, true);
    assert.deepEqual(first.netns.sort(), [`${LAB}-h1`, `${LAB}-h2`, `${LAB}-h3`, `${LAB}-h4`, `${LAB}-sw`]);
    assert.deepEqual(await leftovers(lab, []), []);
    const second = await labDown({ name: LAB });
    assert.equal(second.existed, false);
  });

  test('a partial lab (namespaces without lab.json) is torn down before the next up', async () => {
    await labUp({ name: LAB, hosts: 2, hostsOnly: true });
    await rm(`/var/lib/wgmesh-lab/${LAB}/lab.json`);
    const up = await labUp({ name: LAB, hosts: 3, hostsOnly: true });
    assert.equal(up.replacedStale, true);
    assert.equal(up.status, 'created');
    assert.equal((await inspectLab(LAB)).healthy, true);
    lab = up.lab;
    await labDown({ name: LAB });
    assert.deepEqual(await leftovers(lab, []), []);
  });

  test('a host whose making fails half-way is taken down again, and the next lab add makes it', async () => {
    lab = (await labUp({ name: LAB, hosts: 2, hostsOnly: true })).lab;
    // A directory where h3's mount namespace file goes: its making fails after its netns and veth exist.
    const blocker = `/run/wgmesh-lab/${LAB}/ns/h3.mnt`;
    await mkdir(blocker, { recursive: true });
    try {
      await assert.rejects(labAdd({ name: LAB }), /EISDIR|directory/);
    } finally {
      await rm(blocker, { recursive: true, force: true });
    }
    assert.ok(!(await listNetns()).includes(`${LAB}-h3`), 'h3\'s namespace was removed');
    const added = await labAdd({ name: LAB });
    assert.equal(added.host.name, 'h3');
    lab = added.lab;
    assert.equal((await hostExec(lab, 'h3', ['ping', '-n', '-q', '-c', '1', '-W', '2', lab.hosts[0]!.underlayIp])).code, 0);
    await labDown({ name: LAB });
    assert.deepEqual(await leftovers(lab, []), []);
  });
});
