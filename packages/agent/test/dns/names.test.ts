import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Agent } from '../../src/agent.js';
import { MeshNames } from '../../src/dns/names.js';
import { applyDelta, netmapFromNodes, type Netmap } from '../../src/netmap/netmap.js';
import { meshNode } from '../fixtures.js';

/** What MeshNames reads of an agent: its netmap, mesh name and events, as the Agent emits them. */
class FakeAgent extends EventEmitter {
  readonly options = { meshName: 'lab' };
  meshIp = '';
  joined = undefined;
  constructor(public netmap: Netmap) {
    super();
  }
}

test('the hosts block and the DNS index follow a membership batch by its names; only a netmap no batch brought (a re-join) is read whole', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-names-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hosts');
  await writeFile(file, '');
  const nodes = Array.from({ length: 1000 }, (_, i) => meshNode(`n${i}`, `198.18.${i >> 8}.${(i & 255) + 1}`));
  const agent = new FakeAgent(netmapFromNodes('n0', 1, nodes));
  const names = new MeshNames(agent as unknown as Agent, { domain: 'lab.internal', hostsFile: file });
  await names.start();
  t.after(() => names.stop());
  assert.equal(names.hostsFileBuilds, 1);

  /** A batch as the agent applies it: the new netmap in place, 'members' (names, full, the netmap before), then 'change'. */
  const batch = (node: ReturnType<typeof meshNode>, revision: number) => {
    const before = agent.netmap;
    agent.netmap = applyDelta(before, { kind: 'upsert', revision, node });
    agent.emit('members', [node.name], false, before);
    agent.emit('change');
  };
  const ask = (name: string) => names.zone.answer({ name: `${name}.lab.internal`, type: 'A', class: 'IN' });
  assert.equal(ask('n5').rcode, 'NOERROR');
  batch({ ...agent.netmap.nodes.get('n5')!, endpoints: [] }, 2);
  await names.idle();
  assert.equal(names.hostsFileBuilds, 1, 'nothing a hosts line shows changed, and the change event is not a second look');

  batch(meshNode('newcomer', '198.18.50.1'), 3);
  await names.idle();
  assert.equal(names.hostsFileBuilds, 2);
  assert.deepEqual(ask('newcomer').answers.map((a) => ('data' in a ? a.data : undefined)), ['198.18.50.1']);
  assert.equal(names.zone.builds, 1, 'the DNS index followed both batches');
  await names.idle();
  assert.match(await readFile(file, 'utf8'), /^198\.18\.50\.1\tnewcomer\.lab\.internal newcomer$/m);

  // A re-join's answer replaces the netmap with no batch: read whole.
  agent.netmap = netmapFromNodes('n0', 9, nodes.slice(0, 10));
  agent.emit('change');
  await names.idle();
  assert.equal(names.hostsFileBuilds, 3);
  assert.equal(ask('newcomer').rcode, 'NXDOMAIN');
  assert.equal(names.zone.builds, 2, 'a netmap no batch brought is indexed afresh');

  // A batch applied to a netmap the names did not see (none should be, but if): read whole.
  const unseen = applyDelta(agent.netmap, { kind: 'remove', revision: 10, name: 'n3' });
  agent.netmap = applyDelta(unseen, { kind: 'upsert', revision: 11, node: meshNode('late', '198.18.60.1') });
  agent.emit('members', ['late'], false, unseen);
  await names.idle();
  assert.equal(names.hostsFileBuilds, 4);
  await names.idle();
  assert.doesNotMatch(await readFile(file, 'utf8'), /\tn3\./, 'the change it did not see is in the block too');
  await names.stop();
  assert.equal(await readFile(file, 'utf8'), '', 'the block is removed at stop');
});
