import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { InfoResponse__Output } from '@wgmesh/agent';
import { UiListenFailed } from '../../src/errors.js';
import { isLoopback, MAX_CLIENT_BACKLOG_BYTES, UiServer, type Asset, type UiData } from '../../src/web/server.js';
import type { SourceEvent } from '../../src/web/source.js';
import { decodeFrame, OPCODE } from '../../src/web/websocket.js';
import { sampleRtt, sampleStatus } from './sample.js';
import { clientFrame, openRaw } from './ws-client.js';

/** A stand-in for the status source: its status is set by the test, which pushes events. */
class FakeData implements UiData {
  status: InfoResponse__Output | undefined = sampleStatus();
  error: string | undefined;
  rttCalls = 0;
  private readonly listeners = new Set<(e: SourceEvent) => void>();
  latest() {
    return this.status;
  }
  lastError() {
    return this.error;
  }
  async info() {
    return this.status!;
  }
  async rtt() {
    this.rttCalls++;
    return sampleRtt();
  }
  subscribe(l: (e: SourceEvent) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  push(status: InfoResponse__Output) {
    this.status = status;
    for (const l of this.listeners) l({ kind: 'status', status });
  }
}

const ASSETS = new Map<string, Asset>([
  ['/', { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html><title>wgmesh</title>') }],
  ['/app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from('console.log(1)') }],
]);

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls `check` until it holds, for at most 10 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads a server-sent-events stream until `until` holds of what came so far. */
function readEvents(port: number, until: (text: string) => boolean, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/events', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (until(text)) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    req.end();
  });
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const WS_HEADERS = { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': KEY, 'Sec-WebSocket-Version': '13' };

describe('wgmesh ui server on loopback, no token', () => {
  const data = new FakeData();
  const server = new UiServer({ data, assets: ASSETS }, { host: '127.0.0.1', port: 0, rttIntervalMs: 50 });
  let port = 0;
  before(async () => {
    await server.start();
    port = server.port();
  });
  after(() => server.stop());

  test('the page and its files, with a content security policy and no CORS header', async () => {
    const page = await get(port, '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    assert.equal(page.headers['access-control-allow-origin'], undefined);
    assert.equal((await get(port, '/app.js')).body, 'console.log(1)');
    assert.equal((await get(port, '/nothing')).status, 404);
  });

  test("the original's /api/nodes and /api/mesh; /api/v1/status and /api/v1/rtt as info -json and rtt -json", async () => {
    const nodes = JSON.parse((await get(port, '/api/nodes')).body) as { nodes: { name: string }[] };
    assert.deepEqual(nodes.nodes.map((n) => n.name), ['h1', 'h2', 'h3']);
    assert.deepEqual(JSON.parse((await get(port, '/api/mesh')).body), { name: 'lab', thisNodeName: 'h1', nodeCount: 3 });
    assert.deepEqual(JSON.parse((await get(port, '/api/v1/status')).body), JSON.parse(JSON.stringify(sampleStatus())));
    assert.deepEqual(JSON.parse((await get(port, '/api/v1/rtt')).body), sampleRtt());
  });

  test('read-only: every method but GET is 405 with Allow: GET', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const reply = await get(port, '/api/nodes', { method });
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers.allow, 'GET');
      assert.equal(reply.headers['access-control-allow-origin'], undefined);
    }
  });

  test('a request addressed to another name (DNS rebinding) is refused; localhost and 127.x are fine', async () => {
    assert.equal((await get(port, '/api/nodes', { headers: { Host: 'evil.example:9095' } })).status, 403);
    assert.equal((await get(port, '/api/nodes', { headers: { Host: `localhost:${port}` } })).status, 200);
    assert.equal((await get(port, '/api/nodes', { headers: { Host: '[::1]:9095' } })).status, 200);
  });

  test('server-sent events: the status at once, then each change, and the RTT matrix', async () => {
    const text = await readEvents(port, (t) => t.includes('event: status') && t.includes('event: rtt'));
    assert.match(text, /^retry: 1000\n\n/);
    const changed = readEvents(port, (t) => t.includes('"role":"cache"'));
    data.push(sampleStatus({ tags: { role: 'cache' } }));
    assert.match(await changed, /event: status\ndata: \{.*"role":"cache"/);
    assert.ok(data.rttCalls > 0);
  });

  test('websocket /api/updates: {"a":"nodes","ts"} when the node list changes, not when only RTT does; ping answered, close honoured', async () => {
    const ws = await openRaw(port, WS_HEADERS);
    assert.match(ws.head, /^HTTP\/1\.1 101 /);
    assert.match(ws.head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
    const peers = data.status!.peers;
    data.push({ ...data.status!, peers: peers.map((p) => ({ ...p, rttMs: p.rttMs + 1 })) });
    data.push({ ...data.status!, peers: peers.slice(0, 1) });
    const deadline = Date.now() + 2000;
    while (ws.frames.length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(ws.frames.length, 1, 'one message: the RTT change alone sent none');
    assert.equal(ws.frames[0]!.opcode, OPCODE.text);
    const message = JSON.parse(ws.frames[0]!.payload.toString()) as { a: string; ts: string };
    assert.equal(message.a, 'nodes');
    assert.ok(!Number.isNaN(Date.parse(message.ts)));
    ws.socket.write(clientFrame(OPCODE.ping, Buffer.from('p')));
    while (ws.frames.length < 2 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(ws.frames[1]!.opcode, OPCODE.pong);
    assert.equal(ws.frames[1]!.payload.toString(), 'p');
    ws.socket.write(clientFrame(OPCODE.close, Buffer.from([0x03, 0xe8])));
    await ws.closed;
    assert.equal(ws.frames.at(-1)!.opcode, OPCODE.close);
  });

  test('websocket: another site\'s page (Origin) and a bad handshake are refused; a plain GET is 426', async () => {
    const foreign = await openRaw(port, { ...WS_HEADERS, Origin: 'http://evil.example' });
    assert.match(foreign.head, /^HTTP\/1\.1 403 /);
    const own = await openRaw(port, { ...WS_HEADERS, Origin: `http://127.0.0.1:${port}` });
    assert.match(own.head, /^HTTP\/1\.1 101 /);
    own.socket.destroy();
    const bad = await openRaw(port, { ...WS_HEADERS, 'Sec-WebSocket-Version': '8' });
    assert.match(bad.head, /^HTTP\/1\.1 400 /);
    assert.equal((await get(port, '/api/updates')).status, 426);
  });

  test('websocket: a frame sent right behind the handshake (in the same packet) is read, not dropped', { timeout: 10_000 }, async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const handshake = ['GET /api/updates HTTP/1.1', `Host: 127.0.0.1:${port}`, ...Object.entries(WS_HEADERS).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    socket.write(Buffer.concat([Buffer.from(handshake), clientFrame(OPCODE.ping, Buffer.from('early'))]));
    let buf = Buffer.alloc(0);
    const pong = await new Promise<Buffer>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const frame = decodeFrame(buf.subarray(end + 4));
        if (frame?.frame.opcode === OPCODE.pong) resolve(frame.frame.payload);
      });
    });
    socket.destroy();
    assert.equal(pong.toString(), 'early');

    // An unmasked (bad) frame in that place closes that connection (1002), and only that.
    const bad = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => bad.once('connect', resolve).once('error', reject));
    const closed = new Promise<void>((resolve) => bad.once('close', () => resolve()));
    bad.resume();
    bad.write(Buffer.concat([Buffer.from(handshake), Buffer.from([0x89, 0x01, 0x78])]));
    await closed;
    assert.equal((await get(port, '/api/mesh')).status, 200);
  });

  test('a request target that is no URL path ("//", "/\\") is a 400, and the server answers on', { timeout: 10_000 }, async () => {
    for (const target of ['//', '/\\', '//[', '//x:99999']) {
      const reply = await get(port, target);
      assert.equal(reply.status, 400, target);
      assert.match(reply.body, /request target/);
    }
    // The same target on the websocket path's upgrade: refused, not thrown.
    const ws = await openRaw(port, WS_HEADERS, '//');
    assert.match(ws.head, /^HTTP\/1\.1 400 /);
    assert.equal((await get(port, '/api/mesh')).status, 200);
  });

  test('a page that stops reading is dropped once its backlog passes MAX_CLIENT_BACKLOG_BYTES; one that reads stays', { timeout: 30_000 }, async () => {
    const before = data.status!;
    let stuckBytes = 0;
    let stuckClosed = false;
    let stuckResponse: import('node:http').IncomingMessage | undefined;
    // This client reads the first chunk and then nothing, until the test lets it.
    const stuck = request({ host: '127.0.0.1', port, path: '/api/v1/events' }, (res) => {
      stuckResponse = res;
      res.on('data', (d: Buffer) => {
        stuckBytes += d.length;
        if (stuckBytes === d.length) res.pause();
      });
    });
    stuck.on('error', () => undefined);
    // A paused connection does not see the server hang up until it reads again.
    stuck.on('socket', (socket) => socket.on('close', () => (stuckClosed = true)));
    stuck.end();
    let readBytes = 0;
    let readerClosed = false;
    const reader = request({ host: '127.0.0.1', port, path: '/api/v1/events' }, (res) => {
      res.on('data', (d: Buffer) => (readBytes += d.length));
    });
    reader.on('error', () => undefined);
    reader.on('socket', (socket) => socket.on('close', () => (readerClosed = true)));
    reader.end();
    await waitUntil(() => stuckBytes > 0 && readBytes > 0);
    const start = { stuck: stuckBytes, read: readBytes };
    // 64 statuses of 512 KiB: far more than the kernel's socket buffers and the backlog limit.
    assert.ok(64 * 512 * 1024 > 2 * MAX_CLIENT_BACKLOG_BYTES);
    let pushed = 0;
    for (let i = 0; i < 64; i++) {
      const big = { ...before, nodeName: `${i}`.padEnd(512 * 1024, 'x') };
      data.push(big);
      pushed += big.nodeName.length;
      await new Promise((r) => setTimeout(r, 2));
    }
    await waitUntil(() => readBytes - start.read >= pushed);
    stuckResponse!.resume();
    await waitUntil(() => stuckClosed);
    assert.ok(stuckBytes - start.stuck < pushed, `the client that stopped reading got all ${pushed} bytes: it was not dropped`);
    assert.equal(readerClosed, false, 'the client that reads was dropped too');
    reader.destroy();
    data.push(before);
  });

  test('the same port again: UiListenFailed saying what to do', async () => {
    const second = new UiServer({ data, assets: ASSETS }, { host: '127.0.0.1', port });
    await assert.rejects(second.start(), (err: unknown) => err instanceof UiListenFailed && /127\.0\.0\.1:\d+ is already in use .*-http-bind-port/.test(err.message));
  });
});

describe('wgmesh ui server with a token', () => {
  const data = new FakeData();
  const server = new UiServer({ data, assets: ASSETS }, { host: '127.0.0.1', port: 0, token: 's3cret' });
  let port = 0;
  before(async () => {
    await server.start();
    port = server.port();
  });
  after(() => server.stop());

  test('without it: 401 asking for basic auth; with it as a bearer token or a basic-auth password: 200', async () => {
    const none = await get(port, '/api/nodes');
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Basic realm="wgmesh ui"/);
    assert.equal((await get(port, '/api/nodes', { headers: { Authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await get(port, '/api/nodes', { headers: { Authorization: 'Bearer s3cret' } })).status, 200);
    const basic = Buffer.from('anyone:s3cret').toString('base64');
    assert.equal((await get(port, '/', { headers: { Authorization: `Basic ${basic}` } })).status, 200);
    assert.equal((await get(port, '/', { headers: { Authorization: `Basic ${Buffer.from('s3cret:wrong').toString('base64')}` } })).status, 401);
  });

  test('the websocket too', async () => {
    const refused = await openRaw(port, WS_HEADERS);
    assert.match(refused.head, /^HTTP\/1\.1 401 /);
    const ok = await openRaw(port, { ...WS_HEADERS, Authorization: 'Bearer s3cret' });
    assert.match(ok.head, /^HTTP\/1\.1 101 /);
    ok.socket.destroy();
  });
});

test('loopback: 127.0.0.0/8, ::1, localhost; nothing else', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '192.0.2.1', '198.18.0.1', 'example.com', '128.0.0.1']) assert.equal(isLoopback(h), false, h);
});
