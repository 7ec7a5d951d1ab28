import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Agent, Logger } from '@wgmesh/agent';
import { showJoinProgress } from '../../src/ui/progress.js';

function fakeAgent(handshakes: number[]): Agent {
  const agent = new EventEmitter() as unknown as Agent & EventEmitter;
  Object.assign(agent, { driver: { read: async () => ({ peers: handshakes.map((h, i) => ({ publicKey: `k${i}`, allowedIps: [], latestHandshakeMs: h, rxBytes: 0, txBytes: 0 })) }) } });
  return agent;
}

function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = { info: (m: string) => lines.push(m), warn() {}, error() {}, debug() {}, child: () => logger } as Logger;
  return { logger, lines };
}

function sink(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write(chunk: string) { s.text += chunk; return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

test('not a terminal: each step is a plain log line, no escape codes', async () => {
  const agent = fakeAgent([Date.now(), Date.now()]);
  const { logger, lines } = recorder();
  const out = sink(false);
  const progress = showJoinProgress(agent, logger, out);
  agent.emit('step', { name: 'joined', detail: 'mesh IP 198.18.0.5' });
  agent.emit('step', { name: 'peers', detail: '2 peers configured' });
  await progress.waitForHandshakes(1000);
  assert.deepEqual(lines, ['joined: mesh IP 198.18.0.5', 'peers: 2 peers configured', 'handshakes: 2 of 2 peers reached']);
  assert.equal(out.text, '');
});

test('a terminal: a line per finished step, and the handshake count when peers are slow', async () => {
  const agent = fakeAgent([Date.now(), 0]);
  const { logger, lines } = recorder();
  const out = sink(true);
  const progress = showJoinProgress(agent, logger, out);
  agent.emit('step', { name: 'interface', detail: 'wglab up (userspace)' });
  await progress.waitForHandshakes(300);
  assert.match(out.text, /✔ interface\s+wglab up \(userspace\)\n/);
  assert.match(out.text, /✔ handshakes\s+1 of 2 peers reached so far/);
  assert.equal(lines.length, 0, 'nothing logged: the terminal shows it');
});
