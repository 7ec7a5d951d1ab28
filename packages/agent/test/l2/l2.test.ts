import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveVni, diffFlood, floodOpsForPeer, l2InterfaceNames, l2Mtu, l2MtuProblem, l2SettingsProblem, VNI_MAX } from '../../src/l2/l2.js';
import { DEFAULT_MTU } from '../../src/wg/wg-tool.js';

describe('L2: names, VNI, MTU', () => {
  test('the devices are br<MESH> and vx<MESH>, within 15 characters for the longest mesh name (10)', () => {
    assert.deepEqual(l2InterfaceNames('lab'), { bridge: 'brlab', vxlan: 'vxlab' });
    const longest = l2InterfaceNames('a123456789');
    assert.ok(longest.bridge.length <= 15 && longest.vxlan.length <= 15);
  });

  test('the default VNI is derived from the mesh name: stable, in 1..16777215, different for different names', () => {
    assert.equal(deriveVni('lab'), deriveVni('lab'));
    const names = ['lab', 'prod', 'wgmesh', 'a', 'b', 'l2lab', 'a123456789'];
    const vnis = names.map(deriveVni);
    for (const vni of vnis) assert.ok(Number.isInteger(vni) && vni >= 1 && vni <= VNI_MAX, String(vni));
    assert.equal(new Set(vnis).size, names.length);
  });

  test('MTU: the wg MTU less 50 over an IPv4 mesh, 70 over IPv6', () => {
    assert.equal(l2Mtu(DEFAULT_MTU, '198.18.0.2'), 1370);
    assert.equal(l2Mtu(DEFAULT_MTU, 'fd00::2'), 1350);
    assert.equal(l2Mtu(1500, '198.18.0.2'), 1450);
    assert.equal(l2MtuProblem(1370), undefined);
    assert.match(l2MtuProblem(l2Mtu(600, '198.18.0.2'))!, /550.*below 576/);
  });

  test('settings outside VXLAN\'s ranges are refused', () => {
    assert.equal(l2SettingsProblem({ vni: 1, port: 4789 }), undefined);
    assert.equal(l2SettingsProblem({ vni: VNI_MAX, port: 65535 }), undefined);
    assert.match(l2SettingsProblem({ vni: 0, port: 4789 })!, /VNI 0/);
    assert.match(l2SettingsProblem({ vni: VNI_MAX + 1, port: 4789 })!, /outside 1\.\.16777215/);
    assert.match(l2SettingsProblem({ vni: 5, port: 0 })!, /port 0/);
    assert.match(l2SettingsProblem({ vni: 5, port: 70000 })!, /port 70000/);
  });
});

describe('L2: the flood list diff', () => {
  test('a full diff removes entries no peer has and adds the missing ones; equal lists need nothing', () => {
    assert.deepEqual(diffFlood(['198.18.0.2', '198.18.0.9'], ['198.18.0.2', '198.18.0.3']), [
      { op: 'del', dst: '198.18.0.9' },
      { op: 'add', dst: '198.18.0.3' },
    ]);
    assert.deepEqual(diffFlood(['198.18.0.2', '198.18.0.3'], ['198.18.0.3', '198.18.0.2']), []);
    assert.deepEqual(diffFlood([], []), []);
  });

  test('a duplicate read back (the same dst twice) is one entry', () => {
    assert.deepEqual(diffFlood(['198.18.0.2', '198.18.0.2'], ['198.18.0.2']), []);
  });

  test('one peer\'s change is at most two ops: join one add, leave one del, a move del and add, no change none', () => {
    assert.deepEqual(floodOpsForPeer(undefined, '198.18.0.4'), [{ op: 'add', dst: '198.18.0.4' }]);
    assert.deepEqual(floodOpsForPeer('198.18.0.4', undefined), [{ op: 'del', dst: '198.18.0.4' }]);
    assert.deepEqual(floodOpsForPeer('198.18.0.4', '198.18.0.5'), [{ op: 'del', dst: '198.18.0.4' }, { op: 'add', dst: '198.18.0.5' }]);
    assert.deepEqual(floodOpsForPeer('198.18.0.4', '198.18.0.4'), []);
  });
});
