import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../src/proto/index.js';
import { claimSocketPath, LocalApiServer, type CertificateAdmin } from '../../src/localapi/server.js';
import type { Agent } from '../../src/agent.js';
import { NotASocket, SocketInUse } from '../../src/errors.js';

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

/** A socket at `path` that nobody answers on any more: what a crashed agent leaves. */
async function staleSocket(path: string): Promise<void> {
  const server = createServer().listen(path);
  await new Promise((r) => server.once('listening', r));
  // Closing a listener normally unlinks its socket: keep the file, as a crash would.
  const keep = path + '.keep';
  await rename(path, keep);
  await new Promise((r) => server.close(r));
  await rename(keep, path);
}

test('a stale socket is removed; a live one is refused with advice', async () => {
  const dir = await tmp();
  const stale = path.join(dir, 'stale.sock');
  await staleSocket(stale);
  assert.ok((await lstat(stale)).isSocket());
  await claimSocketPath(stale);
  await assert.rejects(lstat(stale), 'the stale socket was removed');

  const live = path.join(dir, 'live.sock');
  const other = createServer().listen(live);
  await new Promise((r) => other.once('listening', r));
  try {
    await assert.rejects(claimSocketPath(live), (err: Error) => err instanceof SocketInUse && /another wgmesh agent is already serving .*live\.sock; stop it first, or use another -socket/.test(err.message));
    assert.ok((await lstat(live)).isSocket(), 'the live socket is left alone');
  } finally {
    other.close();
  }
});

test('a path that is not a socket is never removed (the agent runs as root): it is refused, naming the path', async () => {
  const dir = await tmp();
  const file = path.join(dir, 'file.sock');
  await writeFile(file, 'precious');
  await assert.rejects(claimSocketPath(file), (err: Error) => err instanceof NotASocket && err.message === `${file} is a regular file, not a socket; wgmesh removes only a stale socket there: move it away yourself, or use another -socket`);
  assert.equal(await readFile(file, 'utf8'), 'precious', 'the file is untouched');

  const directory = path.join(dir, 'dir.sock');
  await mkdir(directory);
  await assert.rejects(claimSocketPath(directory), (err: Error) => err instanceof NotASocket && err.message.startsWith(`${directory} is a directory, not a socket`));
  assert.ok((await lstat(directory)).isDirectory(), 'the directory is still there');

  const target = path.join(dir, 'target');
  await writeFile(target, 'elsewhere');
  const link = path.join(dir, 'link.sock');
  await symlink(target, link);
  await assert.rejects(claimSocketPath(link), (err: Error) => err instanceof NotASocket && err.message.startsWith(`${link} is a symbolic link, not a socket`));
  assert.ok((await lstat(link)).isSymbolicLink(), 'the link is still there');
  assert.equal(await readFile(target, 'utf8'), 'elsewhere', 'and so is its target');

  // Even a link to a stale socket: removing the link is not ours to decide, nor following it.
  const staleTarget = path.join(dir, 'stale-target.sock');
  await staleSocket(staleTarget);
  const linkToSocket = path.join(dir, 'link-to-socket.sock');
  await symlink(staleTarget, linkToSocket);
  await assert.rejects(claimSocketPath(linkToSocket), NotASocket);
  assert.ok((await lstat(linkToSocket)).isSymbolicLink(), 'the link to a socket is still there');
  assert.ok((await lstat(staleTarget)).isSocket(), 'and so is the socket it points to');
});

test('a missing path is fine: there is nothing to claim', async () => {
  await claimSocketPath(path.join(await tmp(), 'none.sock'));
});

test('the local API refuses to start on a path that is not a socket, and leaves it alone', async () => {
  const file = path.join(await tmp(), 'agent.sock');
  await writeFile(file, 'precious');
  const server = new LocalApiServer({} as Agent, { socketPath: file });
  await assert.rejects(server.start(), NotASocket);
  assert.equal(await readFile(file, 'utf8'), 'precious');
});

test('token calls on a node that signs nothing: FAILED_PRECONDITION saying where to run them', async () => {
  const socketPath = path.join(await tmp(), 'agent.sock');
  const server = new LocalApiServer({} as Agent, { socketPath });
  await server.start();
  const Agent = loadProtos().agent.wgmesh.v1.Agent;
  const client = new Agent(`unix://${socketPath}`, grpc.credentials.createInsecure());
  try {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.listTokens({}, (e) => resolve(e)));
    assert.equal(err?.code, grpc.status.FAILED_PRECONDITION);
    assert.match(err!.details, /run `wgmesh token` on a bootstrap started with -ca-key/);
  } finally {
    client.close();
    await server.stop();
  }
});

test('revocation calls: FAILED_PRECONDITION saying what to do on a joined node and on a bootstrap without -ca-key; served by the injected admin otherwise', async () => {
  const Agent = loadProtos().agent.wgmesh.v1.Agent;
  const revoke = (client: InstanceType<typeof Agent>, name: string) =>
    new Promise<{ err: grpc.ServiceError | null; res: unknown }>((resolve) => client.revokeCertificate({ name, serial: '' }, (err: grpc.ServiceError | null, res: unknown) => resolve({ err, res })));
  const cases: { agent: object; certificates?: CertificateAdmin; expect: RegExp | string }[] = [
    { agent: { options: { isBootstrap: false } }, expect: /this node is not a bootstrap: run `wgmesh ca revoke` on the bootstrap's host/ },
    { agent: { options: { isBootstrap: true } }, expect: /this bootstrap keeps no revocation list.*-ca-key/ },
    {
      agent: { options: { isBootstrap: true } },
      certificates: {
        revoke: async (name) => {
          if (name !== 'alpha') throw Object.assign(new Error(`no certificate of "${name}"`), { grpcCode: grpc.status.NOT_FOUND });
          return { revoked: [{ name, serial: 'a1', issuedMs: 1, notAfterMs: 2, revokedMs: 3, source: 'enrolled' }], removedMembers: [name] };
        },
        list: async () => [],
      },
      expect: 'served',
    },
  ];
  for (const c of cases) {
    const socketPath = path.join(await tmp(), 'agent.sock');
    const server = new LocalApiServer(c.agent as Agent, { socketPath, ...(c.certificates ? { certificates: c.certificates } : {}) });
    await server.start();
    const client = new Agent(`unix://${socketPath}`, grpc.credentials.createInsecure());
    try {
      if (c.expect === 'served') {
        const ok = await revoke(client, 'alpha');
        assert.equal(ok.err, null);
        assert.deepEqual((ok.res as { removedMembers: string[] }).removedMembers, ['alpha']);
        const missing = await revoke(client, 'nosuch');
        assert.equal(missing.err?.code, grpc.status.NOT_FOUND, 'the admin\'s code is kept');
      } else {
        const { err } = await revoke(client, 'alpha');
        assert.equal(err?.code, grpc.status.FAILED_PRECONDITION);
        assert.match(err!.details, c.expect as RegExp);
      }
    } finally {
      client.close();
      await server.stop();
    }
  }
});
