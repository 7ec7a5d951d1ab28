/**
 * Watch message → one deferred batch → one reconcile pass: the messages of one turn of the event
 * loop reach the device together, one turn later, in one driver call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from '../../src/agent.js';
import type { ControlClient, WatchCallbacks } from '../../src/control/client.js';
import type { JoinResponse__Output, WgOp } from '../../src/index.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import { MemoryWgDriver } from '../../src/wg/memory-driver.js';
import { MemoryAgentStateStore } from '../../src/state/agent-state.js';
import { meshNode } from '../fixtures.js';
import { SimTimers } from '../sim-timers.js';

/** Counts driver calls, not only operations. */
class CountingDriver extends MemoryWgDriver {
  applyCalls = 0;
  override async apply(ops: readonly WgOp[]): Promise<void> {
    this.applyCalls++;
    await super.apply(ops);
  }
}

/** A bootstrap stand-in whose Watch stream the test writes to. */
function fakeControl(response: JoinResponse__Output): ControlClient & { stream: () => WatchCallbacks } {
  let stream: WatchCallbacks | undefined;
  return {
    stream: () => stream!,
    join: async () => response,
    watch(_req, callbacks) {
      stream = callbacks;
      queueMicrotask(() => callbacks.onOpen());
      return { cancel() {} };
    },
    update: async () => ({ revision: 1, relayPairs: 0 }),
    leave: async () => {},
    rtt: async () => ({ nodes: [], rows: [], partial: false }),
    close() {},
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('two Watch messages in one turn are applied one turn later, in one pass and one driver call', async () => {
  const self = meshNode('n0', '198.18.0.2');
  const control = fakeControl({ nodeName: 'n0', meshIp: self.meshIp, meshCidr: '198.18.0.0/16', meshCreatedMs: 1, revision: 1, nodes: [self], nodeSecret: '', presharedKeys: false, l2: null });
  const driver = new CountingDriver('wgapply');
  const agent = new Agent({ control, driver, timers: new SimTimers() }, { meshName: 'm', nodeName: 'n0', privateKey: generateKeyPair().privateKey, wgOptions: {} });
  await agent.start();
  try {
    await turn();
    const callsBefore = driver.applyCalls;

    // Step 1: two members join; both messages arrive in the same turn.
    const a = meshNode('a', '198.18.0.3', { endpoints: [{ ip: '192.0.2.3', port: 51820, kind: 'ENDPOINT_KIND_LAN' }] });
    const b = meshNode('b', '198.18.0.4', { endpoints: [{ ip: '192.0.2.4', port: 51820, kind: 'ENDPOINT_KIND_LAN' }] });
    control.stream().onEvent({ revision: 2, upsert: a, event: 'upsert' } as never);
    control.stream().onEvent({ revision: 3, upsert: b, event: 'upsert' } as never);
    assert.equal(agent.netmap.revision, 1, 'nothing is applied within the turn the messages came in');

    // Step 2: one turn later both peers are on the device, from one driver call.
    await turn();
    assert.equal(agent.netmap.revision, 3);
    const peers = (await driver.read()).peers.map((p) => p.publicKey).sort();
    assert.deepEqual(peers, [a.publicKey, b.publicKey].sort());
    assert.equal(driver.applyCalls - callsBefore, 1, 'one pass, one driver call');
  } finally {
    await agent.stop({ leave: false });
  }
});

test('the join saves the whole state; a Watch change appends what it changed; a snapshot saves the whole state again', async () => {
  const self = meshNode('n0', '198.18.0.2');
  const others = Array.from({ length: 200 }, (_, i) => meshNode(`m${i}`, `198.18.1.${i + 1}`));
  const control = fakeControl({ nodeName: 'n0', meshIp: self.meshIp, meshCidr: '198.18.0.0/16', meshCreatedMs: 1, revision: 1, nodes: [self, ...others], nodeSecret: '', presharedKeys: false, l2: null });
  const stateStore = new MemoryAgentStateStore();
  const agent = new Agent({ control, driver: new MemoryWgDriver('wgsave'), stateStore, timers: new SimTimers() }, { meshName: 'm', nodeName: 'n0', privateKey: generateKeyPair().privateKey, wgOptions: {} });
  /** Saves run behind the changes: a few turns, until the store has what is asked. */
  const settle = async (done: () => boolean) => {
    for (let i = 0; i < 50 && !done(); i++) await turn();
  };
  await agent.start();
  try {
    await settle(() => stateStore.saves >= 1);
    assert.equal(stateStore.saves, 1, 'the join: one whole save');
    assert.equal(stateStore.appends, 0);

    control.stream().onEvent({ revision: 2, upsert: meshNode('newcomer', '198.18.2.1'), event: 'upsert' } as never);
    control.stream().onEvent({ revision: 3, remove: { name: 'm5' }, event: 'remove' } as never);
    await settle(() => stateStore.state?.revision === 3);
    assert.equal(stateStore.saves, 1, 'no whole save for a change');
    assert.equal(stateStore.appends, 1, 'one append for the batch');
    assert.equal(stateStore.state?.revision, 3);
    assert.deepEqual(stateStore.state?.nodes.map((n) => n.name).filter((n) => n === 'newcomer' || n === 'm5'), ['newcomer'], 'the saved membership has the change');

    control.stream().onEvent({ revision: 9, snapshot: { nodes: [self, meshNode('only', '198.18.3.1')] }, event: 'snapshot' } as never);
    await settle(() => stateStore.saves >= 2);
    assert.equal(stateStore.saves, 2, 'a snapshot: a whole save');
    assert.deepEqual(stateStore.state?.nodes.map((n) => n.name).sort(), ['n0', 'only']);
  } finally {
    await agent.stop({ leave: false });
  }
});
