import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { netmapFromNodes, type Netmap } from '../../src/netmap/netmap.js';
import { buildOriginalMemberlist, formatOriginalMemberlist, MemberlistExporter } from '../../src/status/memberlist.js';
import { logMeshSize } from '../../src/status/mesh-size.js';
import type { Agent } from '../../src/agent.js';
import { meshNode, recordingLogger } from '../fixtures.js';
import { SimTimers } from '../sim-timers.js';

/**
 * The original wgmesh's memberlist export (-memberlist-format original): the document its tools
 * read, byte for byte. test/fixtures/memberlist-original.json is written by hand from the shape
 * ORIGINAL.md gives (Go's json.MarshalIndent with a one-space indent, maps sorted by key).
 */

const FIXTURE = path.resolve(import.meta.dirname, '../../../../test/fixtures/memberlist-original.json');

/** h2's view of a four-node mesh: h3 suspect (alive to serf), h4 failed; RTT figures for h1 and h3. */
function meshAtH2(revision = 7): Netmap {
  return netmapFromNodes('h2', revision, [
    meshNode('h3', '10.232.1.3', { status: 'NODE_STATUS_SUSPECT', tags: { team: 'r&d', 'svc:nginx': 'port=8080', 9: 'nine', 10: 'ten' } }),
    meshNode('h1', '10.232.1.1', { isBootstrap: true }),
    meshNode('h4', '10.232.1.4', { status: 'NODE_STATUS_FAILED', tags: { 'svc:dns': 'port=53,proto=udp' } }),
    meshNode('h2', '10.232.1.2', { tags: { 'svc:nginx': 'port=80,proto=tcp', role: 'web' } }),
  ]);
}

/** A file path in a directory of its own, removed after the test. */
async function tempFile(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-memberlist-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'members.json');
}

class FakeAgent extends EventEmitter {
  joined: object | undefined = { meshCidr: '10.232.0.0/16' };
  options = { meshName: 'prod' };
  constructor(public netmap: Netmap) {
    super();
  }
  rttSamples() {
    return [{ peer: 'h1', rttMs: 1.9, loss: 0, measuredAtMs: 0 }, { peer: 'h3', rttMs: 12.7, loss: 0, measuredAtMs: 0 }];
  }
}

describe('memberlist export in the original wgmesh\'s format', () => {
  test('the document, byte for byte as the fixture', async () => {
    const text = formatOriginalMemberlist(buildOriginalMemberlist(new FakeAgent(meshAtH2()), 1764664767));
    assert.equal(text, await readFile(FIXTURE, 'utf8'));
  });

  test('the exporter: mode 0640, rewritten on a change with a new lastUpdate, removed on stop', async (t) => {
    const file = await tempFile(t);
    const agent = new FakeAgent(meshAtH2());
    let now = 1764664767_000;
    const exporter = new MemberlistExporter(agent as unknown as Agent, file, undefined, { format: 'original', now: () => now });

    // Step 1: the first write.
    exporter.start();
    await exporter.flush();
    assert.equal((await stat(file)).mode & 0o777, 0o640);
    assert.equal(await readFile(file, 'utf8'), await readFile(FIXTURE, 'utf8'));

    // Step 2: a change in the same second still gets a later serial.
    agent.netmap = netmapFromNodes('h2', 8, [...meshAtH2().nodes.values()].filter((n) => n.name !== 'h4'));
    agent.emit('change');
    await exporter.flush();
    const doc = JSON.parse(await readFile(file, 'utf8'));
    assert.deepEqual(Object.keys(doc.members), ['h1', 'h2', 'h3']);
    assert.equal(doc.lastUpdate, 1764664768);
    assert.deepEqual(Object.keys(doc.services), ['nginx']);

    // Step 3: no change, no rewrite.
    now += 60_000;
    agent.emit('change');
    await exporter.flush();
    assert.equal(JSON.parse(await readFile(file, 'utf8')).lastUpdate, 1764664768);

    // Step 4: stop removes it, as the original does on exit.
    await exporter.stop();
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });

  test('ours stays the default: mode 0644, kept on stop', async (t) => {
    const file = await tempFile(t);
    const exporter = new MemberlistExporter(new FakeAgent(meshAtH2()) as unknown as Agent, file);
    exporter.start();
    await exporter.flush();
    await exporter.stop();
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).nodes.length, 4);
  });
});

describe('memberlist export pacing', () => {
  /** The four-node mesh with `extra` more members, at revision 7 + extra. */
  const grown = (extra: number) =>
    netmapFromNodes('h2', 7 + extra, [...meshAtH2().nodes.values(), ...Array.from({ length: extra }, (_, i) => meshNode(`n${i}`, `10.232.2.${i + 1}`))]);
  const revisionIn = async (file: string) => JSON.parse(await readFile(file, 'utf8')).revision as number;

  test('a burst of changes costs two rewrites, the second with the latest revision; a quiet change is written at once', async (t) => {
    const file = await tempFile(t);
    const agent = new FakeAgent(meshAtH2());
    const timers = new SimTimers();
    const exporter = new MemberlistExporter(agent as unknown as Agent, file, undefined, { timers, minIntervalMs: 1000 });

    // Step 1: the first write goes out at once.
    exporter.start();
    await exporter.idle();
    assert.equal(await revisionIn(file), 7);

    // Step 2: 50 changes within the second: none rewrites the file (one would per change without pacing).
    for (let i = 1; i <= 50; i++) {
      agent.netmap = grown(i);
      agent.emit('change');
      await exporter.idle();
    }
    assert.equal(await revisionIn(file), 7);

    // Step 3: the second ends: one rewrite with the latest revision, and no timer left for more.
    timers.advance(1000);
    await exporter.idle();
    assert.equal(await revisionIn(file), 57);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).nodes.length, 54);
    timers.advance(1000);
    assert.equal(timers.pending, 0);

    // Step 4: after a quiet second a change is written at once.
    agent.netmap = grown(51);
    agent.emit('change');
    await exporter.idle();
    assert.equal(await revisionIn(file), 58);
    await exporter.stop();
  });

  test('stop writes what the pause held back: the file ends on the latest revision', async (t) => {
    const file = await tempFile(t);
    const agent = new FakeAgent(meshAtH2());
    const timers = new SimTimers();
    const exporter = new MemberlistExporter(agent as unknown as Agent, file, undefined, { timers });
    exporter.start();
    await exporter.idle();
    agent.netmap = grown(3);
    agent.emit('change');
    await exporter.idle();
    assert.equal(await revisionIn(file), 7);
    await exporter.stop();
    assert.equal(await revisionIn(file), 10);
    assert.equal(timers.pending, 0);
    agent.netmap = grown(4);
    agent.emit('change');
    await exporter.idle();
    assert.equal(await revisionIn(file), 10, 'no write after stop');
  });
});

test('"Mesh has N nodes" is logged when the count changes, not on every change', () => {
  const logger = recordingLogger();
  const agent = new FakeAgent(meshAtH2());
  const stop = logMeshSize(agent as never, logger);
  agent.emit('change');
  agent.netmap = netmapFromNodes('h2', 8, [...meshAtH2().nodes.values()].slice(1));
  agent.emit('change');
  agent.emit('change');
  stop();
  agent.netmap = netmapFromNodes('h2', 9, [...meshAtH2().nodes.values()].slice(2));
  agent.emit('change');
  assert.deepEqual(logger.lines.map((l) => [l.level, l.message, l.meta?.nodes]), [['info', 'Mesh has 4 nodes', 4], ['info', 'Mesh has 3 nodes', 3]]);
});
