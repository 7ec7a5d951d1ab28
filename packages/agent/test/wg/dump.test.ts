import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWgDump } from '../../src/wg/dump.js';
import { WgDumpMalformed } from '../../src/errors.js';
import type { WgDeviceState } from '../../src/wg/types.js';

const PRIV = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PUB = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';
const PEER_A = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const PEER_B = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';
const PSK = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';

const row = (...fields: string[]): string => fields.join('\t');

const cases: { name: string; dump: string; want: WgDeviceState }[] = [
  {
    name: 'a fresh device: no keys, a random port, no peers',
    dump: row('(none)', '(none)', '34582', 'off') + '\n',
    want: { name: 'wg0', publicKey: '', listenPort: 34582, peers: [] },
  },
  {
    name: 'a configured device with no peers',
    dump: row(PRIV, PUB, '51820', 'off') + '\n',
    want: { name: 'wg0', publicKey: PUB, listenPort: 51820, peers: [] },
  },
  {
    name: 'a peer with everything set',
    dump: [
      row(PRIV, PUB, '51820', '0x1234'),
      row(PEER_A, PSK, '192.0.2.7:51820', '198.18.0.2/32,198.18.10.0/24', '1700000000', '1024', '2048', '25'),
    ].join('\n'),
    want: {
      name: 'wg0',
      publicKey: PUB,
      listenPort: 51820,
      peers: [
        {
          publicKey: PEER_A,
          presharedKey: PSK,
          endpoint: '192.0.2.7:51820',
          allowedIps: ['198.18.0.2/32', '198.18.10.0/24'],
          persistentKeepalive: 25,
          latestHandshakeMs: 1_700_000_000_000,
          rxBytes: 1024,
          txBytes: 2048,
        },
      ],
    },
  },
  {
    name: 'a peer with nothing set: "(none)" endpoint and allowed IPs, keepalive off',
    dump: [row(PRIV, PUB, '51820', 'off'), row(PEER_B, '(none)', '(none)', '(none)', '0', '0', '0', 'off')].join('\n') + '\n',
    want: {
      name: 'wg0',
      publicKey: PUB,
      listenPort: 51820,
      peers: [{ publicKey: PEER_B, allowedIps: [], latestHandshakeMs: 0, rxBytes: 0, txBytes: 0 }],
    },
  },
  {
    name: 'an IPv6 endpoint keeps its brackets; several peers keep their order',
    dump: [
      row(PRIV, PUB, '51820', 'off'),
      row(PEER_A, '(none)', '[2001:db8::1]:51820', '198.18.0.2/32', '0', '0', '0', 'off'),
      row(PEER_B, '(none)', '192.0.2.9:4500', '198.18.0.3/32', '0', '0', '0', '10'),
    ].join('\n'),
    want: {
      name: 'wg0',
      publicKey: PUB,
      listenPort: 51820,
      peers: [
        { publicKey: PEER_A, endpoint: '[2001:db8::1]:51820', allowedIps: ['198.18.0.2/32'], latestHandshakeMs: 0, rxBytes: 0, txBytes: 0 },
        {
          publicKey: PEER_B,
          endpoint: '192.0.2.9:4500',
          allowedIps: ['198.18.0.3/32'],
          persistentKeepalive: 10,
          latestHandshakeMs: 0,
          rxBytes: 0,
          txBytes: 0,
        },
      ],
    },
  },
];

describe('parseWgDump', () => {
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(parseWgDump('wg0', c.dump), c.want);
    });
  }

  const malformed: { name: string; dump: string }[] = [
    { name: 'empty output', dump: '' },
    { name: 'an interface line with too few fields', dump: row(PRIV, PUB, '51820') },
    { name: 'a `wg show all dump` line (interface name first)', dump: row('wg0', PRIV, PUB, '51820', 'off') },
    { name: 'a peer line with too few fields', dump: [row(PRIV, PUB, '1', 'off'), row(PEER_A, '(none)', '(none)')].join('\n') },
    { name: 'a non-numeric port', dump: row(PRIV, PUB, 'x', 'off') },
    {
      name: 'a non-numeric keepalive',
      dump: [row(PRIV, PUB, '1', 'off'), row(PEER_A, '(none)', '(none)', '(none)', '0', '0', '0', 'sometimes')].join('\n'),
    },
  ];
  for (const c of malformed) {
    test(`rejects ${c.name}`, () => {
      assert.throws(() => parseWgDump('wg0', c.dump), WgDumpMalformed);
    });
  }

  test('never puts the private key into an error message', () => {
    const dump = [row(PRIV, PUB, '51820', 'off'), row(PEER_A, '(none)', 'bad')].join('\n');
    assert.throws(
      () => parseWgDump('wg0', dump),
      (err: unknown) => err instanceof WgDumpMalformed && !err.message.includes(PRIV),
    );
  });
});
