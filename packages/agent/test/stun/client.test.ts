import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  codecTransport,
  discoverPublicEndpoint,
  STUN_DEFAULTS,
  transactionBudgetMs,
  type StunSession,
  type StunTransport,
  type StunTransportInit,
} from '../../src/stun/client.js';
import { StunFailed } from '../../src/errors.js';
import { recordingLogger } from '../fixtures.js';
import { decodeMessage, encodeBindingRequest, mappedAddressOf, newTransactionId } from '../../src/stun/codec.js';

/** A UDP port nothing listens on (bound, read, released). */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

/** One raw Binding request with the pure codec; resolves the mapped address or undefined on timeout. */
async function rawBinding(port: number, timeoutMs: number): Promise<{ ip: string; port: number } | undefined> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const transactionId = newTransactionId();
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      socket.on('message', (packet) => {
        try {
          const message = decodeMessage(packet);
          if (!message.transactionId.equals(transactionId)) return;
          clearTimeout(timer);
          const mapped = mappedAddressOf(message);
          resolve(mapped && { ip: mapped.ip, port: mapped.port });
        } catch {
          // not an answer to this request
        }
      });
      socket.send(encodeBindingRequest(transactionId), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** Debian's coturn as a STUN-only server on loopback: a server nobody here wrote. */
class Coturn {
  private child: ChildProcess | undefined;
  private output = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'wgmesh-coturn-'));
  port = 0;

  async start(): Promise<void> {
    this.port = await freeUdpPort();
    this.child = spawn(
      'turnserver',
      [
        '-n', '--stun-only', '-L', '127.0.0.1', '-p', String(this.port),
        '--no-cli', '--no-tls', '--no-dtls', '--no-tcp', '--log-file=stdout',
        '--pidfile', join(this.dir, 'turnserver.pid'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // Drain the pipes (a full pipe would stall coturn), keeping the text for failure messages.
    this.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      this.child?.once('exit', (code) => reject(new Error(`turnserver exited (${code}) before answering:\n${this.output.slice(-2000)}`))),
    );
    exited.catch(() => {});
    // Ready when it answers a Binding request: polled against a deadline, no fixed sleep.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const answer = await Promise.race([rawBinding(this.port, 200), exited]);
      if (answer) return;
      if (Date.now() > deadline) throw new Error(`turnserver did not answer on 127.0.0.1:${this.port} within 10 s:\n${this.output.slice(-2000)}`);
    }
  }

  /** Kills only the process this test started, and waits for it. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}


/** A transport with scripted answers per "host:port", recording what it was asked. */
function fakeTransport(answers: Record<string, { ip: string; port: number } | Error>) {
  const asked: string[] = [];
  const opened: StunTransportInit[] = [];
  let closed = 0;
  const transport: StunTransport = {
    name: 'fake',
    async open(init) {
      opened.push(init);
      const session: StunSession = {
        localPort: init.localPort || 40000,
        async bind(host, port) {
          const key = `${host}:${port}`;
          asked.push(key);
          const answer = answers[key];
          if (answer === undefined) throw new Error('no answer within 1400 ms (4 requests)');
          if (answer instanceof Error) throw answer;
          return answer;
        },
        close: () => void closed++,
      };
      return session;
    },
  };
  return { transport, asked, opened, closed: () => closed };
}

describe('discoverPublicEndpoint: fallback logic (fake transport)', () => {
  it('returns the first server that answers, after trying the dead ones in order', async () => {
    const fake = fakeTransport({ 'b.example:3478': new Error('error response 500 Server Error'), 'c.example:19302': { ip: '198.51.100.7', port: 40000 } });
    const logger = recordingLogger();
    const endpoint = await discoverPublicEndpoint(['a.example:3478', 'b.example', 'stun:c.example:19302', 'd.example:3478'], { transport: fake.transport, logger });
    assert.deepEqual(endpoint, { ip: '198.51.100.7', port: 40000, server: 'stun:c.example:19302', localPort: 40000 });
    assert.deepEqual(fake.asked, ['a.example:3478', 'b.example:3478', 'c.example:19302'], 'in order, stopping at the first answer');
    assert.equal(fake.closed(), 1, 'the socket is closed after success');
    assert.equal(logger.lines.filter((l) => l.level === 'warn').length, 2, 'one warning per dead server');
    assert.ok(logger.lines.some((l) => l.level === 'info' && l.meta?.endpoint === '198.51.100.7:40000'));
  });

  it('passes the short retransmission defaults and the local port to the transport', async () => {
    const fake = fakeTransport({ 'a.example:3478': { ip: '198.51.100.7', port: 5 } });
    await discoverPublicEndpoint(['a.example:3478'], { transport: fake.transport, localPort: 54541 });
    assert.deepEqual(fake.opened[0]?.retransmission, { timeoutMs: 200, maxTimeoutMs: 400, retries: 3 });
    assert.equal(fake.opened[0]?.localPort, 54541);
    assert.equal(transactionBudgetMs(fake.opened[0]!.retransmission), 1400);
    await discoverPublicEndpoint(['a.example:3478'], { transport: fake.transport, timeoutMs: 50, retries: 1 });
    assert.deepEqual(fake.opened[1]?.retransmission, { timeoutMs: 50, maxTimeoutMs: 100, retries: 1 });
  });

  it('throws StunFailed naming every server and why, malformed entries included', async () => {
    const fake = fakeTransport({ 'b.example:3478': new Error('getaddrinfo ENOTFOUND b.example') });
    await assert.rejects(discoverPublicEndpoint(['a.example:3478', 'b.example:3478', 'not a server'], { transport: fake.transport }), (err) => {
      assert.ok(err instanceof StunFailed);
      assert.equal(err.code, 'STUN_FAILED');
      assert.deepEqual(
        err.failures.map((f) => f.server),
        ['a.example:3478', 'b.example:3478', 'not a server'],
      );
      assert.match(err.message, /a\.example:3478 \(no answer within 1400 ms/);
      assert.match(err.message, /b\.example:3478 \(getaddrinfo ENOTFOUND/);
      assert.match(err.message, /not a server \(.*is not HOST:PORT/);
      return true;
    });
    assert.equal(fake.closed(), 1, 'the socket is closed after failure too');
  });

  it('throws StunFailed for an empty server list, and when the local port cannot be bound', async () => {
    await assert.rejects(discoverPublicEndpoint([]), (err) => err instanceof StunFailed && /no STUN servers are configured/.test(err.message));
    const failing: StunTransport = { name: 'failing', open: () => Promise.reject(new Error('bind EADDRINUSE 0.0.0.0:54540')) };
    await assert.rejects(discoverPublicEndpoint(['a.example'], { transport: failing, localPort: 54540 }), (err) => {
      assert.ok(err instanceof StunFailed);
      assert.match(err.message, /cannot open a UDP socket on 0\.0\.0\.0:54540: bind EADDRINUSE.*pick another local port/);
      assert.deepEqual(err.failures.map((f) => f.server), ['a.example']);
      return true;
    });
  });
});

describe('discoverPublicEndpoint against coturn on loopback', () => {
  const coturn = new Coturn();
  let deadPort = 0;

  before(async () => {
    await coturn.start();
    deadPort = await freeUdpPort();
  });
  after(async () => {
    await coturn.stop();
  });

  // The one wire (the codec over node:dgram; also the default), against a server nobody here wrote.
  const transport = codecTransport;

  it(`[${transport.name}] discovers 127.0.0.1 and its own source port`, async () => {
    const endpoint = await discoverPublicEndpoint([`127.0.0.1:${coturn.port}`], { transport });
    assert.equal(endpoint.ip, '127.0.0.1');
    assert.equal(endpoint.port, endpoint.localPort, 'no NAT on loopback: the mapped port is the source port');
    assert.equal(endpoint.server, `127.0.0.1:${coturn.port}`);
  });

  it(`[${transport.name}] sends from the local port it is given`, async () => {
    const localPort = await freeUdpPort();
    const endpoint = await discoverPublicEndpoint([`127.0.0.1:${coturn.port}`], { transport, localPort, localAddress: '127.0.0.1' });
    assert.deepEqual(endpoint, { ip: '127.0.0.1', port: localPort, server: `127.0.0.1:${coturn.port}`, localPort });
  });

  it(`[${transport.name}] falls back from a dead server to a live one`, async () => {
    const started = Date.now();
    const endpoint = await discoverPublicEndpoint([`127.0.0.1:${deadPort}`, `localhost:${coturn.port}`], { transport });
    assert.equal(endpoint.server, `localhost:${coturn.port}`);
    assert.equal(endpoint.ip, '127.0.0.1');
    assert.ok(Date.now() - started >= 1000, 'the dead server was given its retransmissions first');
  });

  it('reports every dead server within a bounded time (defaults: 1.4 s each)', async () => {
    const otherDead = await freeUdpPort();
    const servers = [`127.0.0.1:${deadPort}`, `127.0.0.1:${otherDead}`];
    const started = Date.now();
    await assert.rejects(discoverPublicEndpoint(servers), (err) => {
      assert.ok(err instanceof StunFailed);
      assert.deepEqual(err.failures.map((f) => f.server), servers);
      for (const f of err.failures) assert.match(f.reason, /no answer within 1400 ms \(4 requests\)/);
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    assert.ok(elapsed >= 2 * 1400 - 100, `took ${elapsed} ms: each server gets its full budget`);
  });

  it('[codec] reports every dead server within a bounded time too', async () => {
    const started = Date.now();
    await assert.rejects(
      discoverPublicEndpoint([`127.0.0.1:${deadPort}`, `127.0.0.1:${deadPort}`], { transport: codecTransport, timeoutMs: 100, retries: 2 }),
      (err) => err instanceof StunFailed && err.failures.length === 2 && err.failures.every((f) => /no answer within 500 ms \(3 requests\)/.test(f.reason)),
    );
    assert.ok(Date.now() - started < 5000);
  });

  it('gives up on a local port that is taken, naming it', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    try {
      const taken = holder.address().port;
      await assert.rejects(
        discoverPublicEndpoint([`127.0.0.1:${coturn.port}`], { localPort: taken, localAddress: '127.0.0.1' }),
        (err) => err instanceof StunFailed && err.message.includes(`127.0.0.1:${taken}`) && /EADDRINUSE/.test(err.message),
      );
    } finally {
      holder.close();
    }
  });

  it('uses the documented defaults', () => {
    assert.equal(transactionBudgetMs(STUN_DEFAULTS), 1400);
  });
});
