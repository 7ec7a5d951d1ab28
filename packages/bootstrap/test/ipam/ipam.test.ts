import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressPool, bigIntToIp, Ipam, parsePrefix } from '../../src/ipam/ipam.js';
import { ConfigError, RangeExhausted } from '../../src/errors.js';

/** Allocates until the range runs out, marking each address in use; returns them in order. */
function allocateAll(ipam: Ipam, inUse = new Set<string>(), max = 10_000): string[] {
  const out: string[] = [];
  for (let i = 0; i < max; i++) {
    let ip: string;
    try {
      ip = ipam.allocate(inUse);
    } catch (err) {
      if (err instanceof RangeExhausted) return out;
      throw err;
    }
    assert.ok(!inUse.has(ip), `${ip} was handed out twice`);
    inUse.add(ip);
    out.push(ip);
  }
  throw new Error(`range did not run out after ${max} allocations`);
}

describe('parsePrefix', () => {
  test('normalizes a prefix to its network address', () => {
    const p = parsePrefix('10.232.7.9/16');
    assert.equal(p.text, '10.232.0.0/16');
    assert.equal(p.family, 4);
    assert.equal(p.bits, 16);
    assert.equal(p.size, 65536n);

    const v6 = parsePrefix('fd00:232::17/120');
    assert.equal(v6.text, 'fd00:232::/120');
    assert.equal(v6.family, 6);
    assert.equal(v6.size, 256n);
  });

  for (const bad of ['', 'banana', '10.232.0.0', '10.232.0.0/33', '10.232.0.0/-1', '300.1.2.3/16', 'fd00::/129', ' 10.232.0.0/16',
    // Legacy inet_aton spellings: 10.232/16 would silently mean 10.0.0.232/16, 010.232.0.0/16 the public 8.232.0.0/16.
    '10.232/16', '010.232.0.0/16', '0x0a.232.0.0/16']) {
    test(`"${bad}" is refused with a ConfigError naming the flag and the text`, () => {
      assert.throws(() => parsePrefix(bad, '-cidr'), (err: unknown) => {
        assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
        assert.match(err.message, /-cidr/);
        assert.ok(err.message.includes(`"${bad}"`), err.message);
        return true;
      });
    });
  }
});

describe('Ipam, IPv4', () => {
  test('the first address handed out is the lowest after the network address', () => {
    const ipam = new Ipam('10.232.0.0/16');
    assert.equal(ipam.allocate(new Set()), '10.232.0.1');
    assert.equal(ipam.prefixLength, 16);
  });

  test('allocation takes the lowest free address, filling holes left by departed nodes', () => {
    const ipam = new Ipam('10.232.0.0/24');
    const inUse = new Set(['10.232.0.1', '10.232.0.2', '10.232.0.4']);
    assert.equal(ipam.allocate(inUse), '10.232.0.3', 'the hole at .3 first');
    inUse.add('10.232.0.3');
    assert.equal(ipam.allocate(inUse), '10.232.0.5', 'then past the in-use run');
  });

  test('addresses in use are skipped, however long the run', () => {
    const ipam = new Ipam('10.232.0.0/16');
    const inUse = new Set<string>();
    for (let i = 1; i <= 600; i++) inUse.add(`10.232.${i >> 8}.${i & 255}`);
    // .0.0 is the network, 1..600 are taken; 10.232.1.0 (=256) is an ordinary host address in a /16 and is taken too.
    assert.equal(ipam.allocate(inUse), '10.232.2.89');
  });

  test('a /30 has exactly two usable addresses, never its network or broadcast address', () => {
    const ipam = new Ipam('10.232.0.0/30');
    assert.deepEqual(allocateAll(ipam), ['10.232.0.1', '10.232.0.2']);
  });

  test('a mesh CIDR without room for two nodes is refused at once, saying what size to use', () => {
    for (const [cidr, use] of [['10.0.0.0/31', '/30'], ['10.0.0.1/32', '/30'], ['fd00::/127', '/126'], ['fd00::1/128', '/126']] as const) {
      assert.throws(() => new Ipam(cidr), (err: unknown) => err instanceof ConfigError && err.message.includes(`use ${use} or larger`), cidr);
    }
    assert.equal(allocateAll(new Ipam('fd00::/126')).length, 3);
    assert.equal(allocateAll(new Ipam('10.0.0.0/30')).length, 2);
  });

  test('a full range throws RangeExhausted naming the range', () => {
    const ipam = new Ipam('10.232.0.0/30');
    assert.throws(() => ipam.allocate(new Set(['10.232.0.1', '10.232.0.2'])), (err: unknown) => {
      assert.ok(err instanceof RangeExhausted);
      assert.match(err.message, /10\.232\.0\.0\/30/);
      return true;
    });
  });

  test('a whole /24 hands out .1 to .254, each once', () => {
    const ips = allocateAll(new Ipam('192.168.77.0/24'));
    assert.equal(ips.length, 254);
    assert.equal(ips[0], '192.168.77.1');
    assert.equal(ips.at(-1), '192.168.77.254');
    assert.ok(!ips.includes('192.168.77.0') && !ips.includes('192.168.77.255'));
  });

  test('a -cidr-ipam sub-range is respected: only its addresses are handed out', () => {
    const ipam = new Ipam('10.232.0.0/16', '10.232.8.0/29');
    // The bootstrap (10.232.1.1) is outside the sub-range and does not matter to it.
    const ips = allocateAll(ipam, new Set(['10.232.1.1']));
    // A /29 in the middle of the /16 holds no network or broadcast address of the mesh: all 8 are usable.
    assert.deepEqual(ips, ['10.232.8.0', '10.232.8.1', '10.232.8.2', '10.232.8.3', '10.232.8.4', '10.232.8.5', '10.232.8.6', '10.232.8.7']);
  });

  test('a sub-range at either edge of the CIDR still skips the mesh network and broadcast addresses', () => {
    const low = allocateAll(new Ipam('10.232.0.0/24', '10.232.0.0/29'));
    assert.deepEqual(low, ['10.232.0.1', '10.232.0.2', '10.232.0.3', '10.232.0.4', '10.232.0.5', '10.232.0.6', '10.232.0.7']);
    const high = allocateAll(new Ipam('10.232.0.0/24', '10.232.0.248/29'));
    assert.deepEqual(high, ['10.232.0.248', '10.232.0.249', '10.232.0.250', '10.232.0.251', '10.232.0.252', '10.232.0.253', '10.232.0.254']);
  });

  test('an exhausted /29 -cidr-ipam range throws RangeExhausted even though the CIDR has room', () => {
    const ipam = new Ipam('10.232.0.0/16', '10.232.8.0/29');
    const inUse = new Set(allocateAll(ipam));
    assert.equal(inUse.size, 8);
    assert.throws(() => ipam.allocate(inUse), RangeExhausted);
  });

  for (const [cidr, range] of [
    ['10.232.0.0/16', '10.233.0.0/24'],
    ['10.232.0.0/16', '10.0.0.0/8'],
    ['10.232.0.0/24', '10.232.0.128/23'],
    ['10.232.0.0/16', 'fd00::/120'],
  ] as const) {
    test(`-cidr-ipam ${range} outside -cidr ${cidr} is a ConfigError`, () => {
      assert.throws(() => new Ipam(cidr, range), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, /-cidr-ipam .* must lie inside -cidr/);
        return true;
      });
    });
  }

  test('a CIDR smaller than /30 is refused', () => {
    assert.throws(() => new Ipam('10.232.0.0/31'), ConfigError);
    assert.throws(() => new Ipam('10.232.0.1/32'), ConfigError);
  });

  test('isAssignable: inside the CIDR, not its network or broadcast address', () => {
    const ipam = new Ipam('10.232.0.0/16');
    assert.equal(ipam.isAssignable('10.232.1.1'), true);
    assert.equal(ipam.isAssignable('10.232.0.0'), false);
    assert.equal(ipam.isAssignable('10.232.255.255'), false);
    assert.equal(ipam.isAssignable('10.233.0.1'), false);
    assert.equal(ipam.isAssignable('fd00::1'), false);
    assert.equal(ipam.isAssignable('not-an-ip'), false);
  });
});

describe('Ipam, IPv6', () => {
  test('a /120 hands out ::1 to ::ff, never the subnet-router (network) address', () => {
    const ips = allocateAll(new Ipam('fd00:232::/120'));
    // IPv6 has no broadcast address: the last address is an ordinary host.
    assert.equal(ips.length, 255);
    assert.equal(ips[0], 'fd00:232::1');
    assert.equal(ips.at(-1), 'fd00:232::ff');
    assert.ok(!ips.includes('fd00:232::'));
  });

  test('lowest free address, skipping those in use', () => {
    const ipam = new Ipam('fd00:232::/64');
    assert.equal(ipam.allocate(new Set(['fd00:232::1', 'fd00:232::2', 'fd00:232::4'])), 'fd00:232::3');
    assert.equal(ipam.allocate(new Set(['fd00:232::1', 'fd00:232::2', 'fd00:232::3'])), 'fd00:232::4');
  });

  test('a -cidr-ipam sub-range inside an IPv6 CIDR is respected, and runs out', () => {
    const ipam = new Ipam('fd00:232::/64', 'fd00:232::1:0/126');
    assert.deepEqual(allocateAll(ipam), ['fd00:232::1:0', 'fd00:232::1:1', 'fd00:232::1:2', 'fd00:232::1:3']);
  });

  test('an IPv6 sub-range outside the CIDR is a ConfigError', () => {
    assert.throws(() => new Ipam('fd00:232::/64', 'fd00:233::/120'), ConfigError);
  });

  test('a full IPv6 range throws RangeExhausted', () => {
    const ipam = new Ipam('fd00:232::/126');
    assert.deepEqual(allocateAll(ipam), ['fd00:232::1', 'fd00:232::2', 'fd00:232::3']);
    assert.throws(() => ipam.allocate(new Set(['fd00:232::1', 'fd00:232::2', 'fd00:232::3'])), RangeExhausted);
  });
});

/** What Ipam.allocate answers for the pool's addresses in use, or the error's class. */
function allocateAnswer(ipam: Ipam, inUse: ReadonlySet<string>): string {
  try {
    return ipam.allocate(inUse);
  } catch (err) {
    if (err instanceof RangeExhausted) return 'RangeExhausted';
    throw err;
  }
}

function poolAnswer(pool: AddressPool): string {
  try {
    return pool.lowestFree();
  } catch (err) {
    if (err instanceof RangeExhausted) return 'RangeExhausted';
    throw err;
  }
}

describe('AddressPool: the lowest free address without a scan', () => {
  test('fills from the bottom, then the holes departed nodes leave, lowest first', () => {
    const pool = new AddressPool(new Ipam('10.232.0.0/24'));
    for (let i = 1; i <= 10; i++) {
      assert.equal(pool.lowestFree(), `10.232.0.${i}`);
      pool.take(`10.232.0.${i}`, `n${i}`);
    }
    pool.release('10.232.0.7', 'n7');
    pool.release('10.232.0.3', 'n3');
    assert.equal(pool.lowestFree(), '10.232.0.3');
    pool.take('10.232.0.3', 'again');
    assert.equal(pool.lowestFree(), '10.232.0.7');
    pool.take('10.232.0.7', 'again-too');
    assert.equal(pool.lowestFree(), '10.232.0.11');
    assert.equal(pool.holder('10.232.0.3'), 'again');
  });

  test('an address is released only by the name holding it', () => {
    const pool = new AddressPool(new Ipam('10.232.0.0/24'));
    pool.take('10.232.0.1', 'alpha');
    pool.release('10.232.0.1', 'beta');
    assert.equal(pool.holder('10.232.0.1'), 'alpha');
    assert.equal(pool.lowestFree(), '10.232.0.2');
  });

  for (const [cidr, range] of [['10.232.0.0/26', undefined], ['10.232.0.0/24', '10.232.0.0/27'], ['10.232.0.0/16', '10.232.8.0/27'], ['fd00:232::/122', undefined]] as const) {
    test(`answers what Ipam.allocate answers, through random joins, fixed IPs and leaves (${cidr}${range ? ` ipam ${range}` : ''})`, () => {
      const ipam = new Ipam(cidr, range);
      const pool = new AddressPool(ipam);
      const held = new Map<string, string>();
      const family = ipam.cidr.family;
      // A fixed seed: the same sequence every run.
      let seed = 19;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let step = 0; step < 3_000; step++) {
        const inUse = new Set(held.keys());
        const want = allocateAnswer(ipam, inUse);
        assert.equal(poolAnswer(pool), want, `step ${step}`);
        const roll = random(10);
        if (roll < 5 && want !== 'RangeExhausted') {
          held.set(want, `n${step}`);
          pool.take(want, `n${step}`);
        } else if (roll < 6) {
          // A fixed address (the bootstrap's -ip) anywhere in the CIDR, inside the range or not.
          const n = ipam.cidr.network + BigInt(random(Number(ipam.cidr.size)));
          const ip = bigIntToIp(n, family);
          if (ipam.isAssignable(ip) && !held.has(ip)) {
            held.set(ip, `f${step}`);
            pool.take(ip, `f${step}`);
          }
        } else if (held.size > 0) {
          const [ip, name] = [...held][random(held.size)]!;
          held.delete(ip);
          pool.release(ip, name);
        }
      }
    });
  }
});

describe('Ipam.allocatable: an address a node asks for again', () => {
  test('inside the range and not reserved: in its canonical form; anything else: undefined', () => {
    const ipam = new Ipam('10.232.0.0/16', '10.232.1.0/24');
    assert.equal(ipam.allocatable('10.232.1.7'), '10.232.1.7');
    assert.equal(ipam.allocatable('10.232.2.7'), undefined, 'in the CIDR, outside the range');
    assert.equal(ipam.allocatable('10.233.1.7'), undefined, 'outside the CIDR');
    assert.equal(ipam.allocatable('010.232.1.7'), undefined, 'a legacy spelling of another network');
    assert.equal(ipam.allocatable('not an address'), undefined);
    assert.equal(ipam.allocatable(''), undefined);
    assert.equal(ipam.allocatable(`10.232.1.7${' '.repeat(40)}`), undefined, 'longer than any address');
    const whole = new Ipam('10.232.0.0/24');
    assert.equal(whole.allocatable('10.232.0.0'), undefined, 'the network address');
    assert.equal(whole.allocatable('10.232.0.255'), undefined, 'the broadcast address');
    const v6 = new Ipam('fd00:232::/120');
    assert.equal(v6.allocatable('fd00:232:0:0::5'), 'fd00:232::5', 'IPv6 written another way: the canonical text');
    assert.equal(v6.allocatable('10.232.0.5'), undefined, 'the other family');
  });
});
