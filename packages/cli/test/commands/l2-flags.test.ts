import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveVni } from '@wgmesh/agent/l2/l2';
import { BOOTSTRAP_FLAGS } from '../../src/commands/bootstrap.js';
import { JOIN_FLAGS } from '../../src/commands/join.js';
import { l2NodeFromFlags, meshL2FromFlags } from '../../src/commands/l2-flags.js';
import { resolveFlags, UsageError } from '../../src/flags/parse.js';

const bootstrapValues = (argv: string[]) => resolveFlags(BOOTSTRAP_FLAGS, argv, {}).values;

describe('-l2 flags', () => {
  const MESH_CASES: [string, string[], string, { vni: number; port: number } | undefined | RegExp][] = [
    ['no -l2: a mesh without layer 2', [], 'file', undefined],
    ['-l2: the VNI derived from the mesh name, port 4789', ['-l2'], 'file', { vni: deriveVni('lab'), port: 4789 }],
    ['-l2 with -l2-vni and -l2-port', ['-l2', '-l2-vni', '100', '-l2-port', '8472'], 'file', { vni: 100, port: 8472 }],
    ['-l2-vni without -l2: refused, saying to add -l2', ['-l2-vni', '100'], 'file', /-l2-vni set the mesh's layer 2: add -l2/],
    ['-l2-port without -l2: refused', ['-l2-port', '8472'], 'file', /-l2-port set the mesh's layer 2: add -l2/],
    ['a VNI of 0: refused', ['-l2', '-l2-vni', '0'], 'file', /-l2: VNI 0 is outside 1\.\.16777215/],
    ['a VNI past 24 bits: refused', ['-l2', '-l2-vni', '16777216'], 'file', /outside 1\.\.16777215/],
    ['port 0: refused', ['-l2', '-l2-port', '0'], 'file', /port 0 is not a UDP port/],
    ['-l2 with -store etcd: refused, saying what works', ['-l2'], 'etcd', /not supported with -store etcd yet.*-store file, or without -l2/],
  ];
  for (const [name, argv, store, expected] of MESH_CASES) {
    test(`bootstrap: ${name}`, () => {
      const run = () => meshL2FromFlags(bootstrapValues(argv), 'lab', store);
      if (expected instanceof RegExp) assert.throws(run, (err: unknown) => err instanceof UsageError && expected.test(err.message));
      else assert.deepEqual(run(), expected);
    });
  }

  const NODE_CASES: [string, string[], { bridgeIfs?: string[]; address?: string } | undefined | RegExp][] = [
    ['neither: nothing for the bridge', [], undefined],
    ['-l2-bridge-if twice and -l2-addr', ['-l2-bridge-if', 'eth1', '-l2-bridge-if', 'veth-lan', '-l2-addr', '10.99.0.1/24'], { bridgeIfs: ['eth1', 'veth-lan'], address: '10.99.0.1/24' }],
    ['an IPv6 -l2-addr', ['-l2-addr', 'fd99::1/64'], { address: 'fd99::1/64' }],
    ['-l2-addr without a prefix length: refused', ['-l2-addr', '10.99.0.1'], /-l2-addr 10\.99\.0\.1: give an address with its prefix length/],
    ['-l2-addr with /33: refused', ['-l2-addr', '10.99.0.1/33'], /prefix length/],
    ['-l2-addr not an address: refused', ['-l2-addr', 'lan/24'], /prefix length/],
    ['an interface name longer than 15: refused', ['-l2-bridge-if', 'a-very-long-iface-name'], /not an interface name/],
    ['an interface name with a slash: refused', ['-l2-bridge-if', 'eth0/1'], /not an interface name/],
  ];
  for (const [name, argv, expected] of NODE_CASES) {
    test(`join: ${name}`, () => {
      const run = () => l2NodeFromFlags(resolveFlags(JOIN_FLAGS, argv, {}).values);
      if (expected instanceof RegExp) assert.throws(run, (err: unknown) => err instanceof UsageError && expected.test(err.message));
      else assert.deepEqual(run(), expected);
    });
  }

  test('join has no -l2 of its own: layer 2 is the mesh\'s, said by its bootstrap', () => {
    assert.equal(JOIN_FLAGS.some((f) => f.name === 'l2' || f.name === 'l2-vni'), false);
    assert.ok(BOOTSTRAP_FLAGS.some((f) => f.name === 'l2-bridge-if'));
  });
});

describe('lab up -l2', () => {
  test('passes -l2 to the bootstrap, before the -bootstrap-args (which can still set -l2-vni)', async () => {
    const { labBootstrapArgs } = await import('../../src/commands/lab.js');
    assert.deepEqual(labBootstrapArgs(false, 1, ['-reap-after', '5s']), ['-reap-after', '5s']);
    assert.deepEqual(labBootstrapArgs(true, 1, ['-l2-vni', '9']), ['-l2', '-l2-vni', '9']);
    assert.throws(() => labBootstrapArgs(true, 3, []), (err: unknown) => err instanceof UsageError && /one bootstrap/.test(err.message));
  });
});
