import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { claimSocketPath, LocalApiServer } from '../../src/localapi/server.js';
import type { Agent } from '../../src/agent.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'wgmesh-sock-'));
  dirs.push(d);
  return d;
}

test('the local API socket is created with mode 0660', async () => {
  const socketPath = path.join(await tmp(), 'agent.sock');
  const server = new LocalApiServer({} as Agent, { socketPath });
  await server.start();
  try {
    assert.equal((await stat(socketPath)).mode & 0o777, 0o660);
  } finally {
    await server.stop();
  }
});

test('a stale socket file is removed; a live one is refused with advice', async () => {
  const dir = await tmp();
  const stale = path.join(dir, 'stale.sock');
  await writeFile(stale, '');
  await claimSocketPath(stale);
  await assert.rejects(stat(stale), 'the stale file was removed');

  const live = path.join(dir, 'live.sock');
  const other = createServer().listen(live);
  await new Promise((r) => other.once('listening', r));
  try {
    await assert.rejects(claimSocketPath(live), /another wgmesh agent is already serving .*live\.sock; stop it first, or use another -socket/);
  } finally {
    other.close();
  }
});
