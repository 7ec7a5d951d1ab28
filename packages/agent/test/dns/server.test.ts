import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { netmapFromNodes } from '../../src/netmap/netmap.js';
import { DnsServer } from '../../src/dns/server.js';
import { MeshZone } from '../../src/dns/zone.js';
import { meshNode } from '../fixtures.js';

/** The response code dns-packet decodes (its types leave it out). */
const rcodeOf = (packet: dnsPacket.Packet): string | undefined => (packet as { rcode?: string }).rcode;

const zone = new MeshZone({ netmap: () => netmapFromNodes('h1', 1, [meshNode('h1', '198.18.0.1'), meshNode('h2', '198.18.0.2')]), meshCidr: () => '198.18.0.0/16' }, 'lab.internal');

function query(name: string, id = 7): Buffer {
  return dnsPacket.encode({ type: 'query', id, questions: [{ name, type: 'A', class: 'IN' }] });
}

async function udpAsk(port: number, message: Buffer, timeoutMs = 2000): Promise<Buffer> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP answer')), timeoutMs);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(message, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

test('answers over UDP and TCP (two pipelined queries on one connection)', async (t) => {
  const server = new DnsServer(zone, 0);
  await server.start('127.0.0.1');
  t.after(() => server.stop());
  const port = server.boundPort();
  const udp = dnsPacket.decode(await udpAsk(port, query('h2.lab.internal')));
  assert.deepEqual(udp.answers!.map((a) => ('data' in a ? a.data : undefined)), ['198.18.0.2']);

  const framed = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
  const socket = connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  const answers: dnsPacket.Packet[] = [];
  await new Promise<void>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        answers.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (answers.length === 2) resolve();
    });
    // Both queries in one write, the second split across the boundary of nothing: pipelining.
    socket.write(Buffer.concat([framed(query('h1.lab.internal', 1)), framed(query('nope.example', 2))]));
  });
  assert.deepEqual(answers.map((a) => [a.id, rcodeOf(a)]), [[1, 'NOERROR'], [2, 'REFUSED']]);
});

test('a flood of 10,000 queries, a third of them garbage, leaves the server answering', async (t) => {
  const server = new DnsServer(zone, 0);
  await server.start('127.0.0.1');
  t.after(() => server.stop());
  const port = server.boundPort();
  const sender = createSocket('udp4');
  t.after(() => sender.close());
  let received = 0;
  sender.on('message', () => received++);
  const garbage = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  const good = query('h1.lab.internal');
  for (let i = 0; i < 10_000; i++) {
    sender.send(i % 3 === 0 ? garbage : good, port, '127.0.0.1');
    if (i % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  // Whatever the kernel dropped under the flood, the server is still there and answers. Like any
  // resolver, ask again when a query is lost (the socket's buffer may still be full of the flood).
  let reply: Buffer | undefined;
  for (const deadline = Date.now() + 10_000; !reply && Date.now() < deadline;) reply = await udpAsk(port, query('h2.lab.internal', 99), 500).catch(() => undefined);
  assert.ok(reply, 'the server answered within 10 s of the flood');
  const answer = dnsPacket.decode(reply);
  assert.equal(answer.id, 99);
  assert.equal(rcodeOf(answer), 'NOERROR');
  const { answered, formerr } = server.counters;
  assert.ok(answered > 0 && formerr > 0, `answered ${answered}, formerr ${formerr}`);
  assert.ok(received > 0);
});

test('a TCP connection that sends a length and then nothing is closed after the idle time, not held', async (t) => {
  const server = new DnsServer(zone, 0);
  await server.start('127.0.0.1');
  t.after(() => server.stop());
  const socket = connect(server.boundPort(), '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  // The server's own stop closes it at once: what matters is that nothing throws and the server answers on.
  const answer = dnsPacket.decode(await udpAsk(server.boundPort(), query('h1.lab.internal', 5)));
  assert.equal(answer.id, 5);
});

test('a taken port fails the start with a message that says what to do', async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => holder.close());
  const port = (holder.address() as { port: number }).port;
  // UDP on that port is free, TCP is not: the start fails on TCP and releases the UDP socket again.
  const server = new DnsServer(zone, port);
  await assert.rejects(server.start('127.0.0.1'), /TCP 127\.0\.0\.1:\d+ is in use .*-dns=false/);
  assert.equal(server.listening, undefined);
  const again = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.bind(port, '127.0.0.1', () => resolve());
  });
  again.close();
});

/** Whether UDP `address`:`port` can be bound now (nothing, such as a socket left open, holds it). */
async function udpFree(address: string, port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port, exclusive: true }, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

test('moves that overlap (two re-joins, or a stop during a move) leave one address served, and nothing after stop', async (t) => {
  // A port free for TCP and UDP on every address: the server's sockets are then told apart by address.
  const tcpProbe = createServer();
  await new Promise<void>((resolve) => tcpProbe.listen(0, '0.0.0.0', () => resolve()));
  const port = (tcpProbe.address() as { port: number }).port;
  assert.equal(await udpFree('0.0.0.0', port), true);
  await new Promise<void>((resolve) => tcpProbe.close(() => resolve()));

  const server = new DnsServer(zone, port);
  t.after(() => server.stop());
  await Promise.all([server.moveTo('127.0.0.1'), server.moveTo('127.0.0.2')]);
  assert.equal(server.listening, `127.0.0.2:${port}`, 'the last address asked for');
  assert.equal(await udpFree('127.0.0.1', port), true, 'nothing left on the address moved away from');
  const moving = server.moveTo('127.0.0.3');
  await server.stop();
  await moving;
  assert.equal(server.listening, undefined, 'a stop after a move is the last word');
  for (const address of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) assert.equal(await udpFree(address, port), true, `nothing left on ${address}`);
});

test('a TCP client that sends queries and reads no answers is not read further: the answers waiting are bounded', { timeout: 60_000 }, async (t) => {
  const nodes = Array.from({ length: 60 }, (_, i) => meshNode(`n${i}`, `198.18.1.${i + 1}`, { tags: { 'svc:web': 'port=80' } }));
  const big = new MeshZone({ netmap: () => netmapFromNodes('n0', 1, nodes), meshCidr: () => '198.18.0.0/16' }, 'lab.internal');
  const server = new DnsServer(big, 0);
  await server.start('127.0.0.1');
  t.after(() => server.stop());
  const srv = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: '_web._tcp.lab.internal', type: 'SRV', class: 'IN' }] });
  const framed = Buffer.concat([Buffer.from([srv.length >> 8, srv.length & 0xff]), srv]);
  const queries = 5_000;
  const client = connect(server.boundPort(), '127.0.0.1');
  t.after(() => client.destroy());
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  client.pause(); // reads nothing
  client.write(Buffer.concat(Array.from({ length: queries }, () => framed)));
  // The server's end of the connection, as it holds it.
  const held = () => [...(server as unknown as { connections: Set<import('node:net').Socket> }).connections][0];
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !(held()?.isPaused()) && server.counters.answered < queries) await new Promise((r) => setTimeout(r, 20));
  const connection = held()!;
  assert.ok(server.counters.answered < queries, `the server answered all ${queries} queries into its own memory (${connection.writableLength} bytes waiting)`);
  assert.ok(connection.writableLength < 1024 * 1024, `${connection.writableLength} bytes of answers waiting in the server`);
  // Once the client reads, every query is answered.
  let received = 0;
  let buf: Buffer = Buffer.alloc(0);
  const all = new Promise<void>((resolve) => {
    client.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        received++;
      }
      if (received === queries) resolve();
    });
  });
  client.resume();
  await all;
  assert.equal(server.counters.answered, queries);
});
