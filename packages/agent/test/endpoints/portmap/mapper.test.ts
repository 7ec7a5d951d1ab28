/**
 * The port mapper against a fake router on 127.0.0.1 speaking PCP and NAT-PMP: it maps, advertises
 * the mapping, renews before the lease ends, deletes on stop, and ignores (and logs) every forged
 * or malformed answer. Short retransmission waits keep a silent router's cost small.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPortMapper, externalAddressProblem, type PortMapper, type PortMapperInit } from '../../../src/endpoints/portmap/mapper.js';
import { parseDefaultGateway } from '../../../src/endpoints/portmap/gateway.js';
import { FakePmpRouter, otherSocket, recordingLogger, until, type LogLine } from './fake-router.js';

const INTERNAL_PORT = 51820;
const NONE_MESSAGE = 'no port mapping: router answers neither NAT-PMP, PCP nor UPnP';

let router: FakePmpRouter;
let log: ReturnType<typeof recordingLogger>;
let mapper: PortMapper | undefined;
let changes = 0;

beforeEach(async () => {
  router = await FakePmpRouter.start();
  log = recordingLogger();
  changes = 0;
});

afterEach(async () => {
  await mapper?.stop();
  mapper = undefined;
  router.close();
});

function startMapper(init: Partial<PortMapperInit> = {}): PortMapper {
  mapper = createPortMapper({ logger: log }, {
    internalPort: INTERNAL_PORT,
    gateway: '127.0.0.1',
    serverPort: router.port,
    protocols: ['PCP', 'NAT-PMP'],
    retransmitMs: [60, 60, 60],
    onChange: () => changes++,
    ...init,
  });
  mapper.start();
  return mapper;
}

const logged = (message: string, level?: string) => log.lines.some((l) => l.message === message && (!level || l.level === level));
const ignoredReasons = (): string[] => log.lines.filter((l) => l.message === 'port mapping: answer ignored').map((l) => String(l.meta?.reason));

describe('mapping', () => {
  test('PCP answers: the mapped address becomes a MAPPED candidate at once, in the background', async () => {
    const m = startMapper();
    assert.equal(m.endpoint, undefined, 'start() does not wait for the router');
    await until('a mapping', () => m.endpoint !== undefined);
    assert.deepEqual(m.endpoint, { ip: '203.0.113.7', port: INTERNAL_PORT + 1000, kind: 'ENDPOINT_KIND_MAPPED' });
    assert.equal(m.protocol, 'PCP');
    assert.equal(changes, 1, 'the node is told, so it can heartbeat now');
    assert.ok(logged('port mapping made', 'info'));
    const request = router.mapRequests('PCP')[0]!.packet;
    assert.equal(request.readUInt16BE(40), INTERNAL_PORT, 'PCP asked for the WireGuard port');
    assert.deepEqual([...request.subarray(20, 24)], [127, 0, 0, 1], 'with this host\'s address toward the gateway as the client address');
  });

  test('a NAT-PMP-only router: PCP is refused at once with "unsupported version", NAT-PMP maps', async () => {
    router.pcp = false;
    const m = startMapper();
    await until('a mapping', () => m.endpoint !== undefined);
    assert.equal(m.protocol, 'NAT-PMP');
    assert.deepEqual(m.endpoint, { ip: '203.0.113.7', port: INTERNAL_PORT + 1000, kind: 'ENDPOINT_KIND_MAPPED' });
    assert.equal(router.mapRequests('PCP').length, 1, 'one PCP request, answered, not retransmitted');
  });

  test('renewed before the lease ends (2 s lease: renewed at about 1 s), with the same PCP nonce', async () => {
    router.lifetimeSec = 2;
    const m = startMapper();
    await until('a mapping', () => m.endpoint !== undefined);
    await until('a renewal', () => router.mapRequests('PCP').length >= 2, 3000);
    const [first, second] = router.mapRequests('PCP');
    const gap = second!.at - first!.at;
    assert.ok(gap >= 800 && gap < 2000, `renewed ${gap} ms after the mapping, before its 2 s lease ended`);
    assert.ok(second!.packet.subarray(24, 36).equals(first!.packet.subarray(24, 36)), 'a renewal keeps the nonce (RFC 6887 §11.2)');
    await until('the renewal logged', () => logged('port mapping renewed', 'info'));
    assert.equal(changes, 1, 'an unchanged renewal is no change');
  });

  test('NAT-PMP renewal too; a new external address is advertised and announced', async () => {
    router.pcp = false;
    const m = startMapper();
    await until('a mapping', () => m.endpoint !== undefined);
    router.externalIp = '198.51.100.44';
    await until('the new address', () => m.endpoint?.ip === '198.51.100.44', 3000);
    assert.ok(logged('port mapping changed', 'info'));
    assert.equal(changes, 2);
  });

  test('a router that forgot the mapping and now refuses it: the mapping is lost, the candidate withdrawn', async () => {
    const m = startMapper();
    await until('a mapping', () => m.endpoint !== undefined);
    router.pcp = false;
    router.natpmp = false;
    await until('the loss', () => m.endpoint === undefined, 4000);
    assert.ok(logged('port mapping lost', 'warn'));
    assert.equal(changes, 2, 'told when it appeared and when it went');
    await until('the retry given up', () => logged(NONE_MESSAGE, 'info'));
  });

  for (const protocol of ['PCP', 'NAT-PMP'] as const) {
    test(`stop() deletes the ${protocol} mapping (lifetime 0) and the router confirms it`, async () => {
      router.pcp = protocol === 'PCP';
      const m = startMapper();
      await until('a mapping', () => m.endpoint !== undefined);
      await m.stop();
      const last = router.mapRequests(protocol).at(-1)!;
      assert.equal(last.lifetimeSec, 0, 'the last request is a delete');
      if (protocol === 'NAT-PMP') assert.equal(last.packet.readUInt16BE(6), 0, 'with suggested external port 0 (RFC 6886 §3.4)');
      else assert.ok(last.packet.subarray(24, 36).equals(router.mapRequests('PCP')[0]!.packet.subarray(24, 36)), 'with the mapping\'s nonce');
      assert.ok(logged('port mapping deleted', 'info'));
      assert.equal(m.endpoint, undefined);
    });
  }

  test('a silent router: no candidate, one info line, and stop() is not held up', async () => {
    router.override = () => undefined;
    const m = startMapper();
    await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
    assert.equal(m.endpoint, undefined);
    assert.equal(log.lines.filter((l) => l.message === NONE_MESSAGE).length, 1);
    const line = log.lines.find((l) => l.message === NONE_MESSAGE)!;
    assert.match(String(line.meta?.reasons), /no answer from 127\.0\.0\.1/);
    const began = Date.now();
    await m.stop();
    assert.ok(Date.now() - began < 500, 'nothing to delete, nothing waited for');
  });

  test('stop() during an attempt ends it at once, without waiting for the retransmissions', async () => {
    router.override = () => undefined;
    const m = startMapper({ retransmitMs: [5000] });
    await until('the first request', () => router.requests.length > 0);
    const began = Date.now();
    await m.stop();
    assert.ok(Date.now() - began < 1000, `stopped in ${Date.now() - began} ms`);
    assert.equal(logged(NONE_MESSAGE), false, 'a stop is not "the router does not answer"');
  });
});

/** An answer made wrong in one way, and the reason the mapper must log for ignoring it. */
interface BadAnswer {
  readonly name: string;
  readonly protocol: 'PCP' | 'NAT-PMP';
  readonly forge: (request: Buffer, proper: Buffer) => Buffer | undefined;
  readonly reason: RegExp;
}

function edit(proper: Buffer, change: (b: Buffer) => void): Buffer {
  const b = Buffer.from(proper);
  change(b);
  return b;
}

const isNatPmpMap = (req: Buffer) => req[0] === 0 && req[1] === 1;

const BAD_ANSWERS: BadAnswer[] = [
  { name: 'one byte too many', protocol: 'NAT-PMP', forge: (r, p) => (isNatPmpMap(r) ? Buffer.concat([p, Buffer.alloc(1)]) : p), reason: /17 bytes, a NAT-PMP answer to opcode 1 has 16/ },
  { name: 'wrong version', protocol: 'NAT-PMP', forge: (r, p) => edit(p, (b) => (b[0] = 1)), reason: /version 1, NAT-PMP is 0/ },
  { name: 'wrong opcode', protocol: 'NAT-PMP', forge: (r, p) => (isNatPmpMap(r) ? edit(p, (b) => (b[1] = 130)) : p), reason: /opcode 130, expected 129/ },
  { name: 'lifetime 0 on a map request', protocol: 'NAT-PMP', forge: (r, p) => (isNatPmpMap(r) ? edit(p, (b) => b.writeUInt32BE(0, 12)) : p), reason: /lifetime 0 in the answer to a map request/ },
  { name: 'external port 0', protocol: 'NAT-PMP', forge: (r, p) => (isNatPmpMap(r) ? edit(p, (b) => b.writeUInt16BE(0, 10)) : p), reason: /external port 0/ },
  { name: 'another internal port', protocol: 'NAT-PMP', forge: (r, p) => (isNatPmpMap(r) ? edit(p, (b) => b.writeUInt16BE(22, 8)) : p), reason: /internal port 22, the request was for 51820/ },
  { name: 'oversize', protocol: 'PCP', forge: (_r, p) => Buffer.concat([p, Buffer.alloc(1100)]), reason: /1160 bytes, more than 1100/ },
  { name: 'not a multiple of 4', protocol: 'PCP', forge: (_r, p) => Buffer.concat([p, Buffer.alloc(2)]), reason: /62 bytes, a PCP MAP answer has 60 to 1100/ },
  { name: 'truncated', protocol: 'PCP', forge: (_r, p) => p.subarray(0, 24), reason: /24 bytes/ },
  { name: 'wrong version', protocol: 'PCP', forge: (_r, p) => edit(p, (b) => (b[0] = 3)), reason: /version 3, PCP is 2/ },
  { name: 'not a response (R bit clear)', protocol: 'PCP', forge: (_r, p) => edit(p, (b) => (b[1] = 0x01)), reason: /opcode byte 0x1, expected 0x81/ },
  { name: 'another request\'s nonce', protocol: 'PCP', forge: (_r, p) => edit(p, (b) => b.fill(7, 24, 36)), reason: /another request's nonce/ },
  { name: 'TCP instead of UDP', protocol: 'PCP', forge: (_r, p) => edit(p, (b) => (b[36] = 6)), reason: /protocol 6/ },
  { name: 'lifetime 0 on a map request', protocol: 'PCP', forge: (_r, p) => edit(p, (b) => b.writeUInt32BE(0, 4)), reason: /lifetime 0 in the answer to a map request/ },
  { name: 'external port 0', protocol: 'PCP', forge: (_r, p) => edit(p, (b) => b.writeUInt16BE(0, 42)), reason: /external port 0/ },
  { name: 'an IPv6 external address', protocol: 'PCP', forge: (_r, p) => edit(p, (b) => b.fill(0x20, 44, 60)), reason: /not an IPv4-mapped address/ },
];

describe('forged and malformed answers are ignored and logged', () => {
  for (const bad of BAD_ANSWERS) {
    test(`${bad.protocol}: ${bad.name}`, async () => {
      router.pcp = bad.protocol === 'PCP';
      router.override = bad.forge;
      const m = startMapper({ protocols: [bad.protocol] });
      await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
      assert.equal(m.endpoint, undefined, 'nothing advertised');
      assert.ok(ignoredReasons().some((r) => bad.reason.test(r)), `logged: ${JSON.stringify(ignoredReasons())}`);
    });
  }

  test('an answer from another address than the gateway (a LAN host racing the router)', async () => {
    router.answerFrom = await otherSocket('127.0.0.2');
    const m = startMapper();
    await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
    assert.equal(m.endpoint, undefined);
    const line = log.lines.find((l) => l.message === 'port mapping: answer ignored')!;
    assert.match(String(line.meta?.reason), /not from the gateway 127\.0\.0\.1:\d+/);
    assert.match(String(line.meta?.from), /^127\.0\.0\.2:/);
  });

  test('an answer from the gateway\'s address but another port', async () => {
    router.answerFrom = await otherSocket('127.0.0.1');
    const m = startMapper({ protocols: ['NAT-PMP'] });
    await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
    assert.equal(m.endpoint, undefined);
    assert.ok(ignoredReasons().some((r) => /not from the gateway/.test(r)));
  });

  test('a flood of forged answers is logged five times, then counted', async () => {
    router.override = (_r, p) => edit(p, (b) => (b[0] = 9));
    router.pcp = true;
    const m = startMapper({ protocols: ['PCP'], retransmitMs: [40, 40, 40, 40, 40, 40, 40, 40] });
    await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
    assert.equal(m.endpoint, undefined);
    assert.equal(ignoredReasons().length, 5);
    assert.equal(log.lines.find((l) => l.message === 'port mapping: more answers ignored')?.meta?.count, 3);
  });

  test('a result code error: the router refused, logged with its name', async () => {
    router.override = (_r, p) => edit(p, (b) => (b[3] = 2));
    const m = startMapper({ protocols: ['PCP'] });
    await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
    assert.equal(m.endpoint, undefined);
    assert.match(String(log.lines.find((l) => l.message === NONE_MESSAGE)!.meta?.reasons), /PCP: the router answered result 2 \(NOT_AUTHORIZED\)/);
  });

  test('NAT-PMP result code error', async () => {
    router.pcp = false;
    router.override = (r, p) => (isNatPmpMap(r) ? edit(p, (b) => b.writeUInt16BE(3, 2)) : p);
    const m = startMapper({ protocols: ['NAT-PMP'] });
    await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
    assert.equal(m.endpoint, undefined);
    assert.match(String(log.lines.find((l) => l.message === NONE_MESSAGE)!.meta?.reasons), /NAT-PMP: the router answered result 3 \(network failure\)/);
  });

  for (const [ip, reason] of [
    ['0.0.0.0', /unspecified/], ['127.0.0.1', /loopback/], ['224.0.0.1', /multicast/], ['10.1.2.3', /private/], ['100.64.0.9', /carrier-grade NAT/], ['198.18.0.9', /inside the mesh/],
  ] as const) {
    test(`an unusable external address ${ip}: not advertised, logged, and the useless mapping deleted`, async () => {
      router.externalIp = ip;
      const m = startMapper({ exclude: (a) => a.startsWith('198.18.') });
      await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
      assert.equal(m.endpoint, undefined);
      const line: LogLine | undefined = log.lines.find((l) => l.message.startsWith('port mapping not advertised'));
      assert.match(String(line?.meta?.reason), reason);
      assert.equal(router.mapRequests('PCP').at(-1)?.lifetimeSec, 0, 'the mapping was deleted again');
    });
  }
});

test('external addresses: public and TEST-NET pass; what is no public unicast IPv4 does not', () => {
  for (const ok of ['8.8.8.8', '203.0.113.7', '198.51.100.1', '192.0.2.1']) assert.equal(externalAddressProblem(ok), undefined, ok);
  for (const bad of ['0.0.0.0', '255.255.255.255', '239.1.1.1', '127.0.0.2', '169.254.0.1', '192.168.1.1', '172.16.0.1', '100.127.0.1', '240.0.0.1', '::1', 'x']) {
    assert.notEqual(externalAddressProblem(bad), undefined, bad);
  }
});

test('the default gateway from /proc/net/route: the up gateway route to 0/0 with the lowest metric', () => {
  const table = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'eth1\t00000000\t0100000A\t0003\t0\t0\t600\t00000000\t0\t0\t0',
    'eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth2\t00000000\t0102A8C0\t0001\t0\t0\t0\t00000000\t0\t0\t0',
  ].join('\n');
  assert.equal(parseDefaultGateway(table), '192.168.1.1');
  assert.equal(parseDefaultGateway(table.split('\n').slice(0, 2).join('\n')), undefined, 'no default route');
  assert.equal(parseDefaultGateway(''), undefined);
});
