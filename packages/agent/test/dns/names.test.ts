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

test('-hosts-file follows a membership batch by its names; only a netmap no batch brought (a re-join) is read whole', async (t) => {
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

  // A batch that changes an endpoint: 'members' with its name, then 'change' (as the agent emits them).
  agent.netmap = applyDelta(agent.netmap, { kind: 'upsert', revision: 2, node: { ...agent.netmap.nodes.get('n5')!, endpoints: [] } });
  agent.emit('members', ['n5'], false);
  agent.emit('change');
  assert.equal(names.hostsFileBuilds, 1, 'nothing a hosts line shows changed, and the change event is not a second look');

  agent.netmap = applyDelta(agent.netmap, { kind: 'upsert', revision: 3, node: meshNode('newcomer', '198.18.50.1') });
  agent.emit('members', ['newcomer'], false);
  agent.emit('change');
  assert.equal(names.hostsFileBuilds, 2);

  // A re-join's answer replaces the netmap with no batch: read whole.
  agent.netmap = netmapFromNodes('n0', 9, nodes.slice(0, 10));
  agent.emit('change');
  assert.equal(names.hostsFileBuilds, 3);
  await names.stop();
  assert.equal(await readFile(file, 'utf8'), '', 'the block is removed at stop');
});
