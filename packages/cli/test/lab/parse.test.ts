import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { descendantsOf, etcdLeaderEndpoint, mountsUnder, parseEtcdStatus, parseMountPoints, parseNetnsList, parseNodeInfo, parseProcStat, type ProcStat } from '../../src/lab/parse.js';

describe('parsers of system output', () => {
  test('ip netns list, with and without ids', () => {
    assert.deepEqual(parseNetnsList('wgl-h2 (id: 2)\nwgl-h1 (id: 1)\nwgl-sw\n\n'), ['wgl-h2', 'wgl-h1', 'wgl-sw']);
    assert.deepEqual(parseNetnsList(''), []);
  });

  const mountinfo = [
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw',
    '60 27 254:0 /run/wgmesh-lab/wgl /run/wgmesh-lab/wgl rw,relatime - ext4 /dev/vda rw',
    '61 60 0:4 mnt:[4026532300] /run/wgmesh-lab/wgl/ns/h1.mnt rw - nsfs nsfs rw',
    '62 60 0:4 mnt:[4026532301] /run/wgmesh-lab/wgl/ns/h2.mnt rw - nsfs nsfs rw',
    '63 27 254:0 /run/wgmesh-lab/wgl2 /run/wgmesh-lab/wgl2 rw,relatime - ext4 /dev/vda rw',
    '64 27 254:0 /tmp/a\\040b /tmp/a\\040b rw - ext4 /dev/vda rw',
  ].join('\n');

  test('mount points, unescaped', () => {
    assert.ok(parseMountPoints(mountinfo).includes('/tmp/a b'));
  });

  test('mounts under a directory, deepest first, not those of a lab with a longer name', () => {
    assert.deepEqual(mountsUnder(mountinfo, '/run/wgmesh-lab/wgl'), [
      '/run/wgmesh-lab/wgl/ns/h2.mnt',
      '/run/wgmesh-lab/wgl/ns/h1.mnt',
      '/run/wgmesh-lab/wgl',
    ]);
    assert.deepEqual(mountsUnder(mountinfo, '/run/wgmesh-lab/none'), []);
  });

  test('/proc/PID/stat, with a command name holding spaces and parentheses', () => {
    const line = '4242 (node (lab) x) S 4000 4242 4242 0 -1 4194560 1234 0 0 0 10 5 0 0 20 0 11 0 987654 1000000 5000 18446744073709551615';
    assert.deepEqual(parseProcStat(line), { pid: 4242, comm: 'node (lab) x', state: 'S', ppid: 4000, startTicks: 987654 });
    assert.equal(parseProcStat('garbage'), undefined);
  });

  test('descendants follow parent links through every generation', () => {
    const p = (pid: number, ppid: number): ProcStat => ({ pid, ppid, comm: 'x', state: 'S', startTicks: pid });
    const table = [p(10, 1), p(11, 10), p(12, 11), p(13, 10), p(20, 1), p(21, 20)];
    assert.deepEqual(descendantsOf(10, table).map((d) => d.pid).sort(), [11, 12, 13]);
    assert.deepEqual(descendantsOf(12, table), []);
  });

  test('wgmesh info -json: the peers and the mesh IP', () => {
    const info = parseNodeInfo(
      JSON.stringify({
        nodeName: 'h2',
        meshIp: '198.18.0.2',
        publicKey: 'k2',
        peers: [{ node: { name: 'h1', meshIp: '198.18.0.1' }, latestHandshakeMs: '1700000000000', endpoint: '192.0.2.1:54540' }],
      }),
    );
    assert.deepEqual(info, { nodeName: 'h2', meshIp: '198.18.0.2', publicKey: 'k2', peers: [{ name: 'h1', meshIp: '198.18.0.1', latestHandshakeMs: 1700000000000 }] });
    assert.equal(parseNodeInfo('{"peers": []}')?.peers.length, 0);
    assert.equal(parseNodeInfo('not json'), undefined);
    assert.equal(parseNodeInfo('{"meshIp": "x"}'), undefined);
    assert.equal(parseNodeInfo('{"mesh_ip":"198.18.0.3","peers":[{"node":{"name":"h1","mesh_ip":"198.18.0.1"},"latest_handshake_ms":5}]}')?.peers[0]?.meshIp, '198.18.0.1');
  });
});

describe('etcdctl endpoint status -w json', () => {
  // As etcdctl 3.4 prints it (one line); 13195394291058371180 is more than a double holds exactly.
  const sample = '[{"Endpoint":"http://192.0.2.1:2379","Status":{"header":{"cluster_id":2037210783374497686,"member_id":13195394291058371180,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":13195394291058371181,"raftIndex":4}},' +
    '{"Endpoint":"http://192.0.2.2:2379","Status":{"header":{"cluster_id":2037210783374497686,"member_id":13195394291058371181,"revision":1,"raft_term":2},"leader":13195394291058371181}}]';

  test('member and leader IDs are read exactly, as text', () => {
    assert.deepEqual(parseEtcdStatus(sample), [
      { endpoint: 'http://192.0.2.1:2379', memberId: '13195394291058371180', leaderId: '13195394291058371181' },
      { endpoint: 'http://192.0.2.2:2379', memberId: '13195394291058371181', leaderId: '13195394291058371181' },
    ]);
  });

  test('the leader is the answering member whose ID the others name; none while it is 0 or did not answer', () => {
    assert.equal(etcdLeaderEndpoint(parseEtcdStatus(sample)), 'http://192.0.2.2:2379');
    assert.equal(etcdLeaderEndpoint([{ endpoint: 'a', memberId: '1', leaderId: '0' }]), undefined);
    assert.equal(etcdLeaderEndpoint([{ endpoint: 'a', memberId: '1', leaderId: '2' }]), undefined);
    assert.deepEqual(parseEtcdStatus(''), []);
    assert.deepEqual(parseEtcdStatus('{"not":"a list"}'), []);
  });
});
