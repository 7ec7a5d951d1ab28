import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../src/proto/index.js';
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

test('DeleteTag of a tag the node does not have is NOT_FOUND, naming the key shortened, and the connection goes on', async () => {
  const socketPath = path.join(await tmp(), 'agent.sock');
  const deleted: string[] = [];
  const agent = { currentTags: { role: 'web' }, deleteTag: async (key: string) => (deleted.push(key), {}) } as unknown as Agent;
  const server = new LocalApiServer(agent, { socketPath });
  await server.start();
  const Client = loadProtos().agent.wgmesh.v1.Agent;
  const client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
  const deleteTag = (key: string) => new Promise<grpc.ServiceError | null>((resolve) => client.deleteTag({ key }, { deadline: Date.now() + 5_000 }, (err) => resolve(err)));
  try {
    // Inherited names are no tags of the node.
    for (const key of ['toString', 'constructor', '__proto__']) assert.equal((await deleteTag(key))?.code, grpc.status.NOT_FOUND, key);
    // A 200 KB key once made a 200 KB status message: the reply never came, nor any other on that connection.
    const huge = await deleteTag('é'.repeat(100_000));
    assert.equal(huge?.code, grpc.status.NOT_FOUND);
    assert.ok(huge.details.length < 200, `a short message: ${huge.details.length} characters`);
    assert.equal(await deleteTag('role'), null, 'the same connection still answers');
    assert.deepEqual(deleted, ['role']);
  } finally {
    client.close();
    await server.stop();
  }
});
