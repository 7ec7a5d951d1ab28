/**
 * One test suite for both L2 drivers: the in-memory one (what MeshL2's unit tests use) and the
 * real one (`ip`/`bridge` in a network namespace made here, as root), so the memory driver cannot
 * drift from what the kernel does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { namespaceRunner, runCommand, commandExists, type CommandRunner } from '../../src/wg/exec.js';
import { IpL2Driver } from '../../src/l2/ip-driver.js';
import { MemoryL2Driver } from '../../src/l2/memory-driver.js';
import type { L2DeviceConfig, L2Driver } from '../../src/l2/types.js';

const CONFIG: L2DeviceConfig = {
  bridge: 'brcomp', vxlan: 'vxcomp', vni: 4242, port: 4789, local: '198.18.0.1', mtu: 1370, bridgeIfs: [], address: '10.99.0.1/24',
};

interface Harness {
  readonly driver: () => L2Driver;
  /** The underlying interface whose MTU the driver reads. */
  readonly underlay: string;
  readonly underlayMtu: number;
  /** Whether a device of that name exists (undefined: this driver has no devices to look at). */
  readonly exists?: (name: string) => Promise<boolean>;
  /** The MTU of a device. */
  readonly mtuOf?: (name: string) => Promise<number>;
  readonly setup?: () => Promise<void>;
  readonly teardown?: () => Promise<void>;
}

function memoryHarness(): Harness {
  return { driver: () => new MemoryL2Driver({ wgcomp: 1420 }), underlay: 'wgcomp', underlayMtu: 1420 };
}

function ipHarness(): Harness {
  const netns = `wgl2c-${randomBytes(3).toString('hex')}`;
  const runner: CommandRunner = namespaceRunner({ net: netns });
  return {
    driver: () => new IpL2Driver({ runner }),
    underlay: 'lo',
    underlayMtu: 65536,
    exists: async (name) => runner.run('ip', ['link', 'show', 'dev', name]).then(() => true, () => false),
    mtuOf: async (name) => (JSON.parse((await runner.run('ip', ['-j', 'link', 'show', 'dev', name])).stdout) as { mtu: number }[])[0]!.mtu,
    setup: async () => {
      await runCommand('ip', ['netns', 'add', netns]);
      await runner.run('ip', ['link', 'set', 'lo', 'up']);
      await runner.run('ip', ['link', 'add', 'lanp', 'type', 'veth', 'peer', 'name', 'lanc']);
    },
    teardown: () => runCommand('ip', ['netns', 'del', netns]).then(() => undefined),
  };
}

async function realDriverSkip(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (a network namespace)';
  for (const c of ['ip', 'bridge', 'nsenter']) if (!(await commandExists(c))) return `needs ${c}`;
  return false;
}

for (const [name, make, skip] of [['memory', memoryHarness, false], ['ip', ipHarness, await realDriverSkip()]] as const) {
  describe(`L2Driver compliance: ${name}`, { skip }, () => {
    const h = make();
    before(async () => h.setup?.());
    after(async () => h.teardown?.());

    test('the MTU of the underlying interface is read from it', async () => {
      assert.equal(await h.driver().mtuOf(h.underlay), h.underlayMtu);
    });

    test('up: both devices at the MTU, no flood entries; add and remove entries; read back as applied', async () => {
      const driver = h.driver();
      await driver.up(CONFIG);
      if (h.exists) for (const dev of [CONFIG.bridge, CONFIG.vxlan]) assert.equal(await h.exists(dev), true, `${dev} exists`);
      if (h.mtuOf) for (const dev of [CONFIG.bridge, CONFIG.vxlan]) assert.equal(await h.mtuOf(dev), CONFIG.mtu, `${dev} MTU`);
      assert.deepEqual(await driver.readFlood(), []);
      await driver.apply([{ op: 'add', dst: '198.18.0.2' }, { op: 'add', dst: '198.18.0.3' }, { op: 'add', dst: '198.18.0.4' }]);
      assert.deepEqual((await driver.readFlood()).sort(), ['198.18.0.2', '198.18.0.3', '198.18.0.4']);
      await driver.apply([{ op: 'del', dst: '198.18.0.3' }]);
      assert.deepEqual((await driver.readFlood()).sort(), ['198.18.0.2', '198.18.0.4']);
      await driver.close();
      if (h.exists) for (const dev of [CONFIG.bridge, CONFIG.vxlan]) assert.equal(await h.exists(dev), false, `${dev} removed`);
    });

    test('up again (a restart after -keep-interface or a crash) starts from no entries', async () => {
      const first = h.driver();
      await first.up(CONFIG);
      await first.apply([{ op: 'add', dst: '198.18.0.9' }]);
      await first.close({ keepInterface: true });
      if (h.exists) assert.equal(await h.exists(CONFIG.bridge), true, 'kept');
      const second = h.driver();
      await second.up(CONFIG);
      assert.deepEqual(await second.readFlood(), []);
      await second.close();
    });

    test('a local interface in the bridge is released, not deleted, on close', { skip: h.exists ? false : 'this driver has no interfaces' }, async () => {
      const driver = h.driver();
      await driver.up({ ...CONFIG, bridgeIfs: ['lanp'] });
      await driver.close();
      assert.equal(await h.exists!('lanp'), true);
    });
  });
}
