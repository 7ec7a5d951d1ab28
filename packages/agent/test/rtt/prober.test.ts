import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Timers } from '../../src/agent.js';
import { EchoResponder, decodeProbe, encodeProbe, type PacketAddress, type PacketSocket, type SocketFamily } from '../../src/rtt/echo.js';
import { RttConfigError } from '../../src/errors.js';
import { INITIATOR_GRACE_MS, RttProber, type RttClock, type RttProberInit } from '../../src/rtt/prober.js';
import { SimTimers } from '../sim-timers.js';

const PORT = 54541;

/** A clock and timers on one simulated time line, moved only by the test. */
class SimTime extends SimTimers implements RttClock {
  nowNs(): bigint {
    return BigInt(Math.round(this.nowMs * 1e6));
  }
}

/** Records what the prober sends; the test plays the network by delivering packets. */
class FakeSocket implements PacketSocket {
  readonly sent: { packet: Buffer; port: number; address: string }[] = [];
  closed = false;
  bound = false;
  private listener: ((packet: Buffer, from: PacketAddress) => void) | undefined;
  constructor(readonly family: SocketFamily, private readonly failBind = false) {}
  async bind(): Promise<void> {
    if (this.failBind) throw new Error('EAFNOSUPPORT');
    this.bound = true;
  }
  address(): PacketAddress {
    return { address: this.family === 'udp4' ? '0.0.0.0' : '::', port: 40000 };
  }
  send(packet: Uint8Array, port: number, address: string): void {
    this.sent.push({ packet: Buffer.from(packet), port, address });
  }
  onMessage(listener: (packet: Buffer, from: PacketAddress) => void): void {
    this.listener = listener;
  }
  onError(): void {}
  close(): void {
    this.closed = true;
  }
  deliver(packet: Buffer, from: PacketAddress): void {
    this.listener?.(packet, from);
  }
  /** The peer at `address` answers the last probe sent to it. */
  answerLast(address: string, from: PacketAddress = { address, port: PORT }): void {
    const probe = [...this.sent].reverse().find((s) => s.address === address);
    const decoded = probe && decodeProbe(probe.packet);
    assert.ok(decoded && decoded.type === 'probe', `a probe was sent to ${address}`);
    this.deliver(encodeProbe({ type: 'reply', seq: decoded.seq, timestamp: decoded.timestamp }), from);
  }
  /**
   * The peer at `address` answers a round's pair: the waking probe at once, which sends the
   * measured one; that one is answered `rttMs` later.
   */
  answerPair(time: SimTime, address: string, rttMs: number, from: PacketAddress = { address, port: PORT }): void {
    const before = this.sent.length;
    this.answerLast(address, from);
    assert.equal(this.sent.length, before + 1, `the reply to the waking probe sent the measured probe to ${address}`);
    time.advance(rttMs);
    this.answerLast(address, from);
  }
  /** As answerPair, for a burst: the waking probe at once, then each timed probe `rttMs[i]` after it went. */
  answerBurst(time: SimTime, address: string, rttMs: readonly number[]): void {
    this.answerLast(address);
    for (const ms of rttMs) {
      time.advance(ms);
      this.answerLast(address);
    }
  }
}

/** The samples without their measurement times (tests of the window math; rest-mode tests check the times). */
function figures(prober: RttProber): { peer: string; rttMs: number; loss: number }[] {
  return prober.samples().map(({ peer, rttMs, loss }) => ({ peer, rttMs, loss }));
}

const probers: RttProber[] = [];
const responders: EchoResponder[] = [];
afterEach(async () => {
  for (const p of probers.splice(0)) await p.stop();
  for (const r of responders.splice(0)) await r.stop();
});

async function simulated(init: RttProberInit = {}, failFamilies: SocketFamily[] = [], random = () => 0) {
  const time = new SimTime();
  const sockets: FakeSocket[] = [];
  const prober = new RttProber(
    {
      clock: time,
      timers: time,
      random,
      socketFactory: (family) => {
        const s = new FakeSocket(family, failFamilies.includes(family));
        sockets.push(s);
        return s;
      },
    },
    // Pairs (one waking probe, one timed) unless a test asks for longer bursts.
    { port: PORT, intervalMs: 1000, timeoutMs: 500, window: 10, timedProbes: 1, ...init },
  );
  probers.push(prober);
  let updates = 0;
  prober.on('updated', () => updates++);
  return { time, sockets, prober, updates: () => updates };
}

describe('RttProber window math (simulated network and time)', () => {
  test('10 probe pairs, 3 unanswered: loss 0.3 and the exact median of the answered RTTs', async () => {
    const { time, sockets, prober, updates } = await simulated();
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    const socket = sockets[0]!;
    assert.equal(socket.family, 'udp4');

    const lost = new Set([2, 5, 7]);
    const rtts = [2, 4, 0, 6, 8, 0, 10, 0, 12, 14];
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      assert.equal(socket.sent.length, sent + 1, `round ${i} opened with one probe`);
      assert.deepEqual({ port: socket.sent[sent]!.port, address: socket.sent[sent]!.address }, { port: PORT, address: '10.232.0.2' });
      if (!lost.has(i)) {
        socket.answerPair(time, '10.232.0.2', rtts[i]!);
        time.advance(1000 - rtts[i]!);
        sent += 2;
      } else {
        time.advance(1000); // the timeout passes at +500, the next round goes at +1000
        sent += 1;
      }
    }
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 8, loss: 0.3 }]);
    assert.equal(updates(), 10, 'one update per completed round');
  });

  test('only the second probe of a pair is timed: the first one\'s slow wake-up does not count', async () => {
    const { time, sockets, prober } = await simulated();
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    const socket = sockets[0]!;
    for (let i = 0; i < 3; i++) {
      time.advance(40); // the path was asleep: the waking probe takes 40 ms
      socket.answerPair(time, '10.232.0.2', 2); // the measured one, sent as it returns, 2 ms
      time.advance(958); // the next round opens at the end of this one
    }
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 2, loss: 0 }]);
    const seqs = socket.sent.map((p) => decodeProbe(p.packet)!.seq);
    assert.equal(seqs.length, 7, 'three pairs, and the fourth round\'s waking probe');
    assert.equal(new Set(seqs).size, 7, 'every probe has its own sequence number');
  });

  test('a burst: the waking probe is not timed, each timed one goes as the previous returns and is a sample', async () => {
    const { time, sockets, prober, updates } = await simulated({ timedProbes: 3, window: 6 });
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    const socket = sockets[0]!;
    time.advance(40); // the waking probe: slow, not counted
    socket.answerBurst(time, '10.232.0.2', [2, 9, 4]);
    assert.equal(socket.sent.length, 4, 'one waking probe and three timed ones, one at a time');
    assert.equal(prober.inFlight, 0, 'the third reply ends the burst');
    assert.equal(updates(), 1, 'and the round');
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 4, loss: 0 }], 'the median of 2, 9 and 4');
    time.advance(1000 - 55);
    socket.answerBurst(time, '10.232.0.2', [3, 5, 6]);
    assert.equal(prober.windowsFull(), true, 'two rounds of three fill a window of six');
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 4.5, loss: 0 }], 'the median of 2, 9, 4, 3, 5 and 6');
  });

  test('a burst cut short by the timeout loses the timed probes not answered yet, and only those', async () => {
    const { time, sockets, prober } = await simulated({ timedProbes: 3, window: 30 });
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    const socket = sockets[0]!;
    socket.answerBurst(time, '10.232.0.2', [2]); // the second timed probe is never answered
    time.advance(998); // the timeout at +500 ends the burst; the next round opens at +1000
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 2, loss: 2 / 3 }]);
    time.advance(999); // round 2: not even the waking probe is answered: three timed probes lost
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 2, loss: 5 / 6 }]);
    assert.equal(socket.sent.length, 4, 'nothing more went out for the unanswered bursts');
  });

  test('a round\'s bursts are spread over the interval; with many peers a round stretches to 100 bursts a second', async () => {
    // Step 1: four peers, 1 s interval. The first round opens the tunnels as fast as the cap
    // allows (10 ms apart: its probes start the handshakes); later rounds send one waking probe
    // every 250 ms.
    const few = await simulated({ timeoutMs: 200 });
    few.prober.setPeers(['2', '3', '4', '5'].map((n) => ({ name: `p${n}`, meshIp: `10.232.0.${n}` })));
    await few.prober.start();
    const socket = few.sockets[0]!;
    const sendTimes: number[] = socket.sent.map(() => 0);
    for (let t = 1; t < 2000; t++) {
      const before = socket.sent.length;
      few.time.advance(1);
      for (let i = before; i < socket.sent.length; i++) sendTimes.push(few.time.nowMs);
    }
    assert.deepEqual(sendTimes, [0, 10, 20, 30, 1000, 1250, 1500, 1750]);
    assert.equal(few.updates(), 2, 'each round completed once all four bursts were settled (lost here)');

    // Step 2: 1000 peers: a round takes 10 s, one burst every 10 ms; none is left out.
    const many = await simulated({ timeoutMs: 100 });
    const peers = Array.from({ length: 1000 }, (_, i) => ({ name: `n${i}`, meshIp: `10.232.${Math.floor(i / 250)}.${(i % 250) + 1}` }));
    many.prober.setPeers(peers);
    await many.prober.start();
    const wire = many.sockets[0]!;
    assert.equal(wire.sent.length, 1, 'the first burst');
    many.time.advance(10);
    assert.equal(wire.sent.length, 2, 'the second, 10 ms later');
    many.time.advance(1000);
    assert.equal(wire.sent.length, 102, 'a second later: 100 more, not the whole mesh');
    many.time.advance(8980);
    assert.equal(wire.sent.length, 1000, 'the round ends after 10 s');
    assert.equal(new Set(wire.sent.map((p) => p.address)).size, 1000, 'every peer once');
    many.time.advance(10);
    assert.equal(wire.sent.length, 1001, 'and the next begins');
  });

  test('rounds come up to 10 % early and start at a different peer, at random', async () => {
    const { time, sockets, prober } = await simulated({ timeoutMs: 100 }, [], () => 0.75);
    prober.setPeers(['2', '3', '4', '5'].map((n) => ({ name: `p${n}`, meshIp: `10.232.0.${n}` })));
    await prober.start();
    const socket = sockets[0]!;
    time.advance(924);
    assert.deepEqual(socket.sent.map((p) => p.address), ['10.232.0.5', '10.232.0.2', '10.232.0.3', '10.232.0.4'], 'the round starts 3/4 down the list');
    time.advance(1);
    assert.equal(socket.sent.length, 5, 'the next round came 7.5 % early, at 925 ms');
  });

  test('with its own mesh IP known, the node\'s own echo turnaround is taken off every peer\'s RTT', async () => {
    const { time, sockets, prober } = await simulated();
    prober.setSelf('10.232.0.1');
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    const socket = sockets[0]!;
    // Two to probe, so two slots a round, 500 ms apart: the peer first, then our own echo.
    for (let i = 0; i < 5; i++) {
      socket.answerPair(time, '10.232.0.2', 5); // 5 ms through the tunnel and back
      time.advance(495);
      assert.equal(socket.sent.filter((p) => p.address === '10.232.0.1').length, 2 * i + 1, 'our own echo is probed every round');
      socket.answerPair(time, '10.232.0.1', 1); // 1 ms: the measurement's own cost
      time.advance(499);
    }
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 4, loss: 0 }], 'only peers are reported, net of the 1 ms');
  });

  test('a reply after the timeout counts as lost, never twice', async () => {
    const { time, sockets, prober } = await simulated();
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    const socket = sockets[0]!;

    // Step 1: the timeout fires first; the reply arriving later is ignored (no measured probe follows).
    time.advance(700);
    socket.answerLast('10.232.0.2');
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 0, loss: 1 }]);
    assert.equal(socket.sent.length, 1);

    // Step 2: a reply measured past the timeout, arriving before the timer ran, is lost too.
    time.advance(300); // round 2 sent at 1000
    socket.answerLast('10.232.0.2'); // the waking probe, answered at once
    time.nowMs += 600; // time passes, the timer has not run yet
    socket.answerLast('10.232.0.2');
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 0, loss: 1 }]);
    assert.equal(prober.inFlight, 0);

    // Step 3: the round's timeout covers the pair: a measured probe still out at +500 is lost.
    time.advance(400); // round 3 sent at 2000
    time.advance(450);
    socket.answerLast('10.232.0.2'); // the waking probe's reply, 450 ms late: the measured one goes
    time.advance(100); // the round times out at +500 with the measured probe unanswered
    socket.answerLast('10.232.0.2');
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 0, loss: 1 }]);
    assert.equal(prober.inFlight, 0);
  });

  test('replies from elsewhere, with a wrong timestamp, or unknown are ignored', async () => {
    const { time, sockets, prober } = await simulated();
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    const socket = sockets[0]!;
    socket.answerLast('10.232.0.2');
    assert.equal(socket.sent.length, 2, 'the waking probe was answered: the measured one went');
    const probe = decodeProbe(socket.sent[1]!.packet)!;

    time.advance(1);
    socket.answerLast('10.232.0.2', { address: '10.232.0.9', port: PORT });
    socket.answerLast('10.232.0.2', { address: '10.232.0.2', port: 1234 });
    socket.deliver(encodeProbe({ type: 'reply', seq: probe.seq, timestamp: probe.timestamp + 1n }), { address: '10.232.0.2', port: PORT });
    socket.deliver(encodeProbe({ type: 'reply', seq: probe.seq + 1, timestamp: probe.timestamp }), { address: '10.232.0.2', port: PORT });
    socket.deliver(encodeProbe({ type: 'probe', seq: probe.seq, timestamp: probe.timestamp }), { address: '10.232.0.2', port: PORT });
    socket.deliver(Buffer.from('garbage'), { address: '10.232.0.2', port: PORT });
    assert.deepEqual(figures(prober), [], 'nothing settled yet');
    assert.equal(prober.inFlight, 1);

    time.advance(2);
    socket.answerLast('10.232.0.2');
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 3, loss: 0 }]);
  });

  test('the window slides: only the last `window` probes count', async () => {
    const { time, sockets, prober } = await simulated({ window: 3 });
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    const socket = sockets[0]!;

    time.advance(2000);
    assert.equal(prober.windowsFull(), false, 'two of three probes finished');
    time.advance(1000); // 3 lost
    assert.equal(prober.windowsFull(), true);
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 0, loss: 1 }]);
    for (let i = 0; i < 3; i++) {
      socket.answerPair(time, '10.232.0.2', 5);
      time.advance(995);
    }
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 5, loss: 0 }]);
  });

  test('setPeers: a new IP starts a new window, removed peers are forgotten, bad IPs skipped', async () => {
    const { time, sockets, prober } = await simulated();
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }, { name: 'c', meshIp: '10.232.0.3' }]);
    await prober.start();
    const socket = sockets[0]!;
    time.advance(1000); // both lost
    assert.deepEqual(prober.samples().map((s) => s.peer), ['b', 'c']);

    // c is gone while its probe is in flight; b moves to a new IP.
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.22' }, { name: 'x', meshIp: 'not-an-ip' }]);
    assert.deepEqual(figures(prober), [], 'b starts over, c and x are not there');
    assert.equal(prober.windowsFull(), false, 'a new window is not full');
    // Probes to the old peers are settled at once; the new IP gets its first probe at once.
    assert.equal(prober.inFlight, 1);
    assert.deepEqual(socket.sent.slice(-1).map((s) => s.address), ['10.232.0.22']);
    socket.answerPair(time, '10.232.0.22', 2);
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 2, loss: 0 }]);
  });

  test('updatePeers: only the named peers change; the others keep their windows and are not probed again', async () => {
    const { time, sockets, prober } = await simulated();
    prober.setSelf('10.232.0.1');
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }, { name: 'c', meshIp: '10.232.0.3' }, { name: 'd', meshIp: '10.232.0.4' }]);
    await prober.start();
    const socket = sockets[0]!;
    time.advance(1000); // every probe lost: one sample each
    assert.deepEqual(figures(prober).map((s) => s.peer), ['b', 'c', 'd']);

    // c is gone while its probe is in flight, b moves, e comes, x has no valid IP; d is not named.
    const before = socket.sent.length;
    prober.updatePeers([{ name: 'b', meshIp: '10.232.0.22' }, { name: 'e', meshIp: '10.232.0.5' }, { name: 'x', meshIp: 'not-an-ip' }], ['c', 'nobody']);
    assert.deepEqual(figures(prober).map((s) => s.peer), ['d'], 'd keeps its window; b starts over; c, x are not there');
    socket.answerPair(time, '10.232.0.22', 2);
    time.advance(50); // an opening round's bursts go 10 ms apart
    assert.deepEqual(socket.sent.slice(before).map((s) => s.address).sort(), ['10.232.0.22', '10.232.0.22', '10.232.0.5'], 'only the new ones are probed at once (b twice: its pair)');
    assert.deepEqual(figures(prober).find((s) => s.peer === 'b'), { peer: 'b', rttMs: 2, loss: 0 });

    // The same details again change nothing; the node's own echo stays (not a peer to update).
    const again = socket.sent.length;
    prober.updatePeers([{ name: 'd', meshIp: '10.232.0.4' }], ['\u0000self']);
    assert.equal(socket.sent.length, again, 'an unchanged peer is not probed again');
    time.advance(2000); // two rounds: each spreads its bursts over the interval
    assert.deepEqual(new Set(socket.sent.slice(again).map((s) => s.address)), new Set(['10.232.0.1', '10.232.0.22', '10.232.0.4', '10.232.0.5']), 'the rounds probe exactly the peers there now, the own echo too');
  });

  test('updatePeers and setPeers end in the same peers for the same changes (seeded random sequences)', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const a = await simulated();
    const b = await simulated();
    await a.prober.start();
    await b.prober.start();
    const current = new Map<string, string>();
    for (let step = 0; step < 200; step++) {
      const upserts: { name: string; meshIp: string }[] = [];
      const removed: string[] = [];
      for (let i = 0; i < 3; i++) {
        const name = `p${Math.floor(random() * 12)}`;
        if (random() < 0.3) {
          removed.push(name);
          current.delete(name);
          const at = upserts.findIndex((u) => u.name === name);
          if (at >= 0) upserts.splice(at, 1);
        } else {
          const meshIp = `10.232.0.${1 + Math.floor(random() * 4)}`;
          const at = upserts.findIndex((u) => u.name === name);
          if (at >= 0) upserts.splice(at, 1);
          upserts.push({ name, meshIp });
          current.set(name, meshIp);
          const gone = removed.indexOf(name);
          if (gone >= 0) removed.splice(gone, 1);
        }
      }
      a.prober.updatePeers(upserts, removed);
      b.prober.setPeers([...current].map(([name, meshIp]) => ({ name, meshIp })));
      a.time.advance(300);
      b.time.advance(300);
      const peersOf = (p: RttProber) => p.samples().map((s) => s.peer).sort();
      assert.deepEqual(peersOf(a.prober), peersOf(b.prober), `step ${step}`);
      assert.equal(a.prober.inFlight, b.prober.inFlight, `step ${step}: the same probes in flight`);
    }
    assert.ok(current.size > 0, 'the sequence left peers to compare');
  });

  test('memory stays bounded for a peer that never answers', async () => {
    const { time, prober } = await simulated({ intervalMs: 100, timeoutMs: 350, window: 10 });
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }, { name: 'c', meshIp: '10.232.0.3' }]);
    await prober.start();
    let maxInFlight = 0;
    for (let i = 0; i < 1000; i++) {
      time.advance(100);
      maxInFlight = Math.max(maxInFlight, prober.inFlight);
    }
    assert.ok(maxInFlight <= 2 * 4, `in flight at most peers × rounds per timeout, saw ${maxInFlight}`);
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 0, loss: 1 }, { peer: 'c', rttMs: 0, loss: 1 }]);
    // A timeout per slot in flight (2 slots a round, rounds within 350 ms), the next slot, the next round.
    assert.ok(time.pending <= 2 * 4 + 2, `timers stay few, saw ${time.pending}`);
  });

  test('IPv6 peers get their own socket; a family that cannot bind shows as lost', async () => {
    const { time, sockets, prober } = await simulated({}, ['udp6']);
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }, { name: 'v6', meshIp: 'FD00:0::0002' }]);
    await prober.start();
    assert.deepEqual(sockets.map((s) => s.family).sort(), ['udp4', 'udp6']);
    sockets.find((s) => s.family === 'udp4')!.answerPair(time, '10.232.0.2', 3);
    time.advance(997);
    assert.deepEqual(figures(prober), [{ peer: 'b', rttMs: 3, loss: 0 }, { peer: 'v6', rttMs: 0, loss: 1 }]);
  });

  test('an IPv6 reply is matched whatever spelling the peer list used', async () => {
    const { time, sockets, prober } = await simulated();
    prober.setPeers([{ name: 'v6', meshIp: 'FD00:0::0002' }]);
    await prober.start();
    const socket = sockets[0]!;
    assert.equal(socket.family, 'udp6');
    assert.equal(socket.sent[0]!.address, 'fd00::2');
    socket.answerPair(time, 'fd00::2', 4);
    assert.deepEqual(figures(prober), [{ peer: 'v6', rttMs: 4, loss: 0 }]);
  });

  test('stop closes the sockets and leaves no timer behind', async () => {
    const { time, sockets, prober } = await simulated();
    prober.setPeers([{ name: 'b', meshIp: '10.232.0.2' }]);
    await prober.start();
    assert.ok(time.pending > 0);
    await prober.stop();
    assert.equal(time.pending, 0);
    assert.ok(sockets.every((s) => s.closed));
  });

  test('settings are validated', () => {
    const make = (init: RttProberInit) => () => new RttProber({}, init);
    assert.throws(make({ port: 0 }), RttConfigError);
    assert.throws(make({ intervalMs: 0 }), RttConfigError);
    assert.throws(make({ timeoutMs: -1 }), RttConfigError);
    assert.throws(make({ window: 0 }), RttConfigError);
    assert.throws(make({ window: 2.5 }), RttConfigError);
    assert.throws(make({ timedProbes: 0 }), RttConfigError);
    assert.throws(make({ timedProbes: 11 }), RttConfigError);
    assert.throws(make({ timedProbes: 1.5 }), RttConfigError);
    assert.doesNotThrow(make({}));
  });
});

describe('RttProber over loopback (real sockets)', () => {
  test('two answering peers: small RTT, no loss; a silent one: loss 1', { timeout: 10_000 }, async () => {
    // Step 1: echo responders on two loopback addresses, one port (as on every mesh node).
    const first = new EchoResponder({}, { bindAddr: '127.0.0.2', port: 0 });
    responders.push(first);
    await first.start();
    const port = first.port;
    const second = new EchoResponder({}, { bindAddr: '127.0.0.3', port });
    responders.push(second);
    await second.start();

    // Step 2: probe them and a third address where nothing answers.
    const prober = new RttProber({}, { port, intervalMs: 25, timeoutMs: 300, window: 5 });
    probers.push(prober);
    prober.setPeers([
      { name: 'two', meshIp: '127.0.0.2' },
      { name: 'three', meshIp: '127.0.0.3' },
      { name: 'four', meshIp: '127.0.0.4' },
    ]);
    let rounds = 0;
    const fiveRounds = new Promise<void>((resolve) => prober.on('updated', () => { if (++rounds === 5) resolve(); }));
    await prober.start();
    await fiveRounds;

    // Step 3: five finished probes each.
    const samples = prober.samples();
    assert.deepEqual(samples.map((s) => s.peer), ['four', 'three', 'two']);
    const byPeer = new Map(samples.map((s) => [s.peer, s]));
    for (const name of ['two', 'three']) {
      const s = byPeer.get(name)!;
      assert.equal(s.loss, 0, `${name} answered every probe`);
      assert.ok(s.rttMs > 0 && s.rttMs < 100, `${name} RTT ${s.rttMs} ms is positive and small`);
    }
    assert.deepEqual(byPeer.get('four'), { peer: 'four', rttMs: 0, loss: 1, measuredAtMs: 0 }, 'never answered: never measured');
    for (const name of ['two', 'three']) assert.ok(byPeer.get(name)!.measuredAtMs > 0, `${name}'s figure says when it was measured`);
    assert.ok(first.stats.echoed >= 5 && second.stats.echoed >= 5);
  });
});

describe('RttProber: one side of a new pair opens the handshake', () => {
  test('a new peer the other side opens the handshake with is probed only after INITIATOR_GRACE_MS; the rest at once', async () => {
    const { time, sockets, prober } = await simulated({ timeoutMs: 100 });
    prober.setSelf('10.232.0.5');
    prober.setPeers([{ name: 'older', meshIp: '10.232.0.2', opensHandshake: true }, { name: 'newer', meshIp: '10.232.0.9', opensHandshake: false }]);
    await prober.start();
    const socket = sockets[0]!;
    const sentTo = () => new Set(socket.sent.map((s) => s.address));
    time.advance(999);
    // Our own echo (the measurement's cost) and the peer we open the handshake with; not the other.
    assert.deepEqual([...sentTo()].sort(), ['10.232.0.2', '10.232.0.5']);
    time.advance(INITIATOR_GRACE_MS);
    assert.ok(sentTo().has('10.232.0.9'), 'the held peer is probed once the grace has passed');
    // Added while running: a peer we open with is probed at once, the other when its grace ends.
    const before = socket.sent.length;
    prober.setPeers([
      { name: 'older', meshIp: '10.232.0.2', opensHandshake: true }, { name: 'newer', meshIp: '10.232.0.9', opensHandshake: false },
      { name: 'held', meshIp: '10.232.0.3', opensHandshake: false }, { name: 'ours', meshIp: '10.232.0.7' },
    ]);
    assert.deepEqual(socket.sent.slice(before).map((s) => s.address), ['10.232.0.7']);
    time.advance(INITIATOR_GRACE_MS - 1);
    assert.ok(!socket.sent.slice(before).some((s) => s.address === '10.232.0.3'), 'still held');
    time.advance(1);
    assert.ok(socket.sent.slice(before).some((s) => s.address === '10.232.0.3'), 'probed when the grace ends');
  });
});

describe('RttProber.probeNow', () => {
  test('one burst to that peer at once, held or not; nothing for an unknown name or a stopped prober', async () => {
    const { time, sockets, prober } = await simulated({ timeoutMs: 100, intervalMs: 60_000 });
    prober.setPeers([{ name: 'held', meshIp: '10.232.0.3', opensHandshake: false }, { name: 'other', meshIp: '10.232.0.4' }]);
    await prober.start();
    time.advance(5_000);
    const socket = sockets[0]!;
    const before = socket.sent.length;
    prober.probeNow('held');
    prober.probeNow('nobody');
    const sent = socket.sent.slice(before).map((s) => s.address);
    assert.ok(sent.length > 0 && sent.every((a) => a === '10.232.0.3'), `sent: ${sent.join(', ')}`);
    await prober.stop();
    const after = socket.sent.length;
    prober.probeNow('held');
    assert.equal(socket.sent.length, after);
  });
});

describe('RttProber rest mode (simulated network and time)', () => {
  const B = '10.232.0.2';
  const C = '10.232.0.3';

  /** Rest mode on a simulated time line; `answering` peers reply at once (wall clock = the time line). */
  async function atRest(init: RttProberInit = {}, answering = new Set([B, C])) {
    const time = new SimTime();
    time.nowMs = 1_000_000;
    const sockets: FakeSocket[] = [];
    const prober = new RttProber(
      {
        clock: time,
        timers: time,
        random: () => 0,
        now: () => time.nowMs,
        socketFactory: (family) => {
          const s = new FakeSocket(family);
          const send = s.send.bind(s);
          s.send = (packet, port, address) => {
            send(packet, port, address);
            const probe = decodeProbe(Buffer.from(packet));
            if (probe && answering.has(address)) s.deliver(encodeProbe({ type: 'reply', seq: probe.seq, timestamp: probe.timestamp }), { address, port: PORT });
          };
          sockets.push(s);
          return s;
        },
      },
      { port: PORT, intervalMs: 1000, timeoutMs: 500, window: 10, timedProbes: 3, restIntervalMs: 30_000, warmupMs: 20_000, ...init },
    );
    probers.push(prober);
    prober.setPeers([{ name: 'b', meshIp: B }, { name: 'c', meshIp: C }]);
    await prober.start();
    const sentTo = (address: string) => sockets[0]!.sent.filter((s) => s.address === address).length;
    return { time, prober, sentTo, answering };
  }

  test('a new peer is probed in bursts every second through its warm-up, then once every rest interval, alone, with no timer in between', async () => {
    const { time, prober, sentTo } = await atRest();
    // Step 1: the warm-up, 20 s of 1 s rounds of 4 probes (one waking, three timed).
    time.advance(19_500);
    assert.ok(sentTo(B) >= 4 * 19, `${sentTo(B)} probes to b in the warm-up`);
    assert.equal(prober.cadenceOf('b')?.fast, true);
    // Step 2: after it, a peer costs one probe per rest interval; the prober wakes only for those.
    time.advance(5_000);
    assert.equal(prober.cadenceOf('b')?.fast, false, 'b is at rest');
    assert.equal(prober.cadenceOf('b')?.roundMs, 30_000);
    const [b0, c0, wakeups0] = [sentTo(B), sentTo(C), prober.wakeups];
    time.advance(120_000);
    assert.equal(sentTo(B) - b0, 4, 'four single probes to b in 120 s');
    assert.equal(sentTo(C) - c0, 4, 'and to c');
    assert.ok(prober.wakeups - wakeups0 <= 8, `${prober.wakeups - wakeups0} wake-ups in 120 s: only for probes due`);
    const b = prober.samples().find((s) => s.peer === 'b')!;
    assert.ok(time.nowMs - b.measuredAtMs <= 30_000, 'the figure says when it was measured: within the rest interval');
  });

  test('wantFresh: a round of full bursts at once, resolved when it finished; every peer every second until then, then back to rest', async () => {
    const { time, prober, sentTo } = await atRest();
    time.advance(60_000);
    const before = sentTo(B);
    let done = false;
    const fresh = prober.wantFresh(time.nowMs + 5_000).then(() => (done = true));
    time.advance(50);
    await fresh;
    assert.ok(done);
    assert.equal(sentTo(B) - before, 4, 'one burst to b at once');
    assert.equal(prober.cadenceOf('b')?.fast, true);
    const b = prober.samples().find((s) => s.peer === 'b')!;
    assert.equal(b.measuredAtMs, time.nowMs - 50, 'measured by that burst');
    time.advance(4_900);
    assert.ok(sentTo(B) - before >= 4 * 5, 'a burst every second while fresh figures are wanted');
    time.advance(2_000);
    const after = sentTo(B);
    time.advance(20_000);
    assert.ok(sentTo(B) - after <= 1, 'back at rest');
  });

  test('traffic beyond the probes\' own makes a peer probed every second for a while; the probes alone do not', async () => {
    const { time, prober, sentTo } = await atRest();
    time.advance(60_000);
    // The probes' packets alone (80 bytes each on the wire) do not count as traffic.
    let bytes = 0;
    prober.observeTraffic(new Map([['b', bytes]]));
    time.advance(5_000);
    bytes += 2 * 80 * (sentTo(B) > 0 ? 1 : 0);
    prober.observeTraffic(new Map([['b', bytes]]));
    assert.equal(prober.cadenceOf('b')?.fast, false, 'a probe\'s worth of bytes: still at rest');
    // A ping a second for 5 s: 10 x 116 bytes, plus a keepalive.
    bytes += 10 * 116 + 32;
    prober.observeTraffic(new Map([['b', bytes]]));
    const since = time.nowMs;
    time.advance(10);
    assert.equal(prober.cadenceOf('b')?.fast, true, 'b carries traffic: probed every second');
    assert.equal(prober.cadenceOf('b')?.sinceMs, since, 'its cadence began now');
    assert.equal(prober.cadenceOf('c')?.fast, false, 'c stays at rest');
    // Its own fast probes (4 out, 4 back a second, 80 bytes each) do not keep it busy.
    for (let i = 0, sent = sentTo(B); i < 12; i++) {
      time.advance(5_000);
      bytes += (sentTo(B) - sent) * 2 * 80;
      sent = sentTo(B);
      prober.observeTraffic(new Map([['b', bytes]]));
    }
    assert.equal(prober.cadenceOf('b')?.fast, false, 'back at rest once the traffic stopped');
  });

  test('a peer whose rest probe goes unanswered is probed every second until it answers again', async () => {
    const { time, prober, sentTo, answering } = await atRest();
    time.advance(60_000);
    answering.delete(B);
    time.advance(31_000);
    assert.equal(prober.cadenceOf('b')?.fast, true, 'silent: probed every round');
    const before = sentTo(B);
    time.advance(3_000);
    assert.ok(sentTo(B) - before >= 2, 'bursts every second');
    answering.add(B);
    time.advance(2_000);
    assert.equal(prober.cadenceOf('b')?.fast, false, 'answered: at rest again');
  });

  test('without a rest interval every peer is probed every round, as before', async () => {
    const { time, prober } = await simulated();
    prober.setPeers([{ name: 'b', meshIp: B }]);
    await prober.start();
    time.advance(100_000);
    assert.deepEqual(prober.cadenceOf('b'), { fast: true, roundMs: 1000, sinceMs: prober.cadenceOf('b')!.sinceMs });
  });

  test('the rest interval is validated', () => {
    assert.throws(() => new RttProber({}, { restIntervalMs: 500 }), RttConfigError);
  });
});
