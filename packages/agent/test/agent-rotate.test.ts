import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, type KeyStore } from '../src/agent.js';
import type { ControlClient } from '../src/control/client.js';
import type { JoinResponse__Output, UpdateRequest } from '../src/proto/index.js';
import { generateKeyPair, nodeSecretFromPrivate, publicKeyFromPrivate } from '../src/wg/keys.js';
import { MemoryWgDriver } from '../src/wg/memory-driver.js';
import { KeyRotationFailed } from '../src/errors.js';
import { ControlCallError } from '../src/control/client.js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { meshNode } from './fixtures.js';
import { SimTimers } from './sim-timers.js';

/** A bootstrap stand-in that records Updates (and what the device's key was when each arrived), and refuses when told to. */
class FakeControl implements ControlClient {
  readonly updates: { req: UpdateRequest; deviceKey: string }[] = [];
  refuseNext = false;
  /** The next Update gets no answer (UNAVAILABLE), as when the bootstrap took it and the reply was lost. */
  dropNext = false;
  constructor(private readonly response: JoinResponse__Output, private readonly driver: MemoryWgDriver) {}
  async join(): Promise<JoinResponse__Output> {
    return this.response;
  }
  watch(_req: unknown, callbacks: { onOpen(): void }) {
    queueMicrotask(() => callbacks.onOpen());
    return { cancel() {} };
  }
  async update(req: UpdateRequest) {
    this.updates.push({ req, deviceKey: (await this.driver.read()).publicKey });
    if (this.refuseNext) {
      this.refuseNext = false;
      throw new Error('Update: PublicKeyTaken');
    }
    if (this.dropNext) {
      this.dropNext = false;
      throw new ControlCallError(grpcStatus.UNAVAILABLE, 'No connection established', 'Update');
    }
    return { revision: 7, relayPairs: 0 };
  }
  async leave(): Promise<void> {}
  async rtt() {
    return { nodes: [], rows: [], partial: false };
  }
  close(): void {}
}

/** A key store in memory, logging each step with the public key involved. */
class MemoryKeyStore implements KeyStore {
  readonly log: string[] = [];
  current: string;
  pending: string | undefined;
  constructor(key: string) {
    this.current = key;
  }
  async savePending(privateKey: string): Promise<void> {
    this.pending = privateKey;
    this.log.push(`pending ${publicKeyFromPrivate(privateKey)}`);
  }
  async commit(privateKey: string): Promise<void> {
    this.current = privateKey;
    this.pending = undefined;
    this.log.push(`commit ${publicKeyFromPrivate(privateKey)}`);
  }
  async discardPending(): Promise<void> {
    this.pending = undefined;
    this.log.push('discard');
  }
}

function setup() {
  const first = generateKeyPair();
  const driver = new MemoryWgDriver('wgrot', { record: false });
  const nodes = [meshNode('n0', '10.232.0.2', { publicKey: first.publicKey }), meshNode('n1', '10.232.0.3')];
  const control = new FakeControl({ nodeName: 'n0', meshIp: '10.232.0.2', meshCidr: '10.232.0.0/16', meshCreatedMs: 1, revision: 2, nodes, nodeSecret: '', presharedKeys: false, l2: null }, driver);
  const keyStore = new MemoryKeyStore(first.privateKey);
  const timers = new SimTimers();
  const agent = new Agent({ control, driver, timers, keyStore }, { meshName: 'm', nodeName: 'n0', privateKey: first.privateKey, heartbeatMs: 5000, wgOptions: {} });
  return { first, driver, control, keyStore, timers, agent };
}

describe('Agent key rotation', () => {
  test('saves the next key, switches the interface, then announces it proved by the current key; later calls use the new key', async () => {
    const { first, driver, control, keyStore, agent } = setup();
    await agent.start();
    try {
      const next = generateKeyPair();
      const rotated = await agent.rotateKey(next.privateKey);

      assert.deepEqual(rotated, { previousPublicKey: first.publicKey, publicKey: next.publicKey, revision: 7 });
      // Step 1: the next key was on disk before anything else; step 3: it became the key after the bootstrap took it.
      assert.deepEqual(keyStore.log, [`pending ${next.publicKey}`, `commit ${next.publicKey}`]);
      // Step 2 before step 3: the device had the new key when the announcement arrived.
      const announce = control.updates.at(-1)!;
      assert.equal(announce.deviceKey, next.publicKey);
      assert.equal(announce.req.publicKey, first.publicKey, 'proved with the current key');
      assert.equal(announce.req.nodeSecret, nodeSecretFromPrivate(first.privateKey), 'and the current secret');
      assert.equal(announce.req.newPublicKey, next.publicKey);
      assert.equal(announce.req.newNodeSecret, nodeSecretFromPrivate(next.privateKey));
      assert.ok(Array.isArray(announce.req.endpoints) && announce.req.tags !== undefined, 'a whole heartbeat: endpoints and tags go too (an Update replaces them)');
      assert.equal(agent.publicKey, next.publicKey);
      assert.equal((await driver.read()).publicKey, next.publicKey);

      // The next heartbeat proves the node with the new key.
      agent.endpointsChanged();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      const beat = control.updates.at(-1)!;
      assert.equal(beat.req.publicKey, next.publicKey);
      assert.equal(beat.req.nodeSecret, nodeSecretFromPrivate(next.privateKey));
      assert.equal(beat.req.newPublicKey, undefined);
    } finally {
      await agent.stop({ leave: false });
    }
  });

  test('a refused announcement switches the interface back and discards the next key (KeyRotationFailed)', async () => {
    const { first, driver, control, keyStore, agent } = setup();
    await agent.start();
    try {
      const next = generateKeyPair();
      control.refuseNext = true;
      await assert.rejects(agent.rotateKey(next.privateKey), KeyRotationFailed);
      assert.deepEqual(keyStore.log, [`pending ${next.publicKey}`, 'discard']);
      assert.equal(keyStore.current, first.privateKey);
      assert.equal((await driver.read()).publicKey, first.publicKey);
      assert.equal(agent.publicKey, first.publicKey);
    } finally {
      await agent.stop({ leave: false });
    }
  });

  test('an announcement with no answer keeps the new key (the bootstrap may have it) and is made again until confirmed', async () => {
    const { first, driver, control, keyStore, timers, agent } = setup();
    await agent.start();
    try {
      const next = generateKeyPair();
      control.dropNext = true;
      await assert.rejects(agent.rotateKey(next.privateKey), (err: Error) => err instanceof KeyRotationFailed && /announced again/.test(err.message));
      assert.equal((await driver.read()).publicKey, next.publicKey, 'the interface keeps the new key');
      assert.equal(keyStore.pending, next.privateKey, 'still pending on disk');
      assert.equal(keyStore.current, first.privateKey);
      const before = control.updates.length;
      timers.advance(5_000);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      assert.ok(control.updates.slice(before).some((u) => u.req.newPublicKey === next.publicKey), 'announced again');
      assert.equal(keyStore.current, next.privateKey, 'committed once confirmed');
      assert.equal(agent.publicKey, next.publicKey);
    } finally {
      await agent.stop({ leave: false });
    }
  });

  test('-key-rotation: a new key every period', async () => {
    const first = generateKeyPair();
    const driver = new MemoryWgDriver('wgrot2', { record: false });
    const nodes = [meshNode('n0', '10.232.0.2', { publicKey: first.publicKey })];
    const control = new FakeControl({ nodeName: 'n0', meshIp: '10.232.0.2', meshCidr: '10.232.0.0/16', meshCreatedMs: 1, revision: 1, nodes, nodeSecret: '', presharedKeys: false, l2: null }, driver);
    const timers = new SimTimers();
    const agent = new Agent({ control, driver, timers }, { meshName: 'm', nodeName: 'n0', privateKey: first.privateKey, heartbeatMs: 1_000_000, keyRotationMs: 60_000, wgOptions: {} });
    await agent.start();
    try {
      const keys = [agent.publicKey];
      for (let i = 0; i < 2; i++) {
        timers.advance(60_000);
        for (let j = 0; j < 10; j++) await new Promise((r) => setImmediate(r));
        keys.push(agent.publicKey);
      }
      assert.equal(new Set(keys).size, 3, 'two rotations, two new keys');
      assert.equal((await driver.read()).publicKey, keys[2]);
    } finally {
      await agent.stop({ leave: false });
    }
  });

  test('refused before anything changes when the node has not joined', async () => {
    const { agent, keyStore } = setup();
    await assert.rejects(agent.rotateKey(), KeyRotationFailed);
    assert.deepEqual(keyStore.log, []);
  });
});
