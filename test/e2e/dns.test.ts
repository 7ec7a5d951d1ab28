/**
 * Names: every node answers DNS for the mesh on its mesh IP (UDP and TCP 53), from its own
 * netmap, checked with `dig` inside the lab's hosts: A, PTR, SRV for svc: tags, REFUSED for
 * anything else, the -hosts-file block, and answers that go on while the bootstrap is down.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostExec, labDown, labKillNode, labUp, type LabState } from '@wgmesh/cli/lab';
import { e2eWgmeshCommand, labSkipReason, meshIps, pingUntil } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgdn';
const MESH = 'names';
const ZONE = `${MESH}.internal`;
const HOSTS_FILE = '/var/lib/wgmesh/hosts';
const skip = await labSkipReason({ wireguard: true });

describe('the mesh\'s names over DNS', { skip: skip ?? false }, () => {
  let lab: LabState;
  let ips: Map<string, string>;

  /** `dig` in a host, asking `server`; its output with +short, or the whole answer. */
  async function dig(from: string, server: string, args: readonly string[]): Promise<string> {
    const result = await hostExec(lab, from, ['dig', `@${server}`, '+time=2', '+tries=2', ...args], { timeoutMs: 15_000 });
    assert.equal(result.code, 0, `dig ${args.join(' ')} in ${from}: exit ${result.code}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({
      name: LAB, hosts: 3, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000,
      joinArgs: ['-tags', 'svc:web=port=8080', '-hosts-file', HOSTS_FILE],
    })).lab;
    ips = meshIps(lab);
    // The names are asked over the tunnels: each pair's answers a ping first. (A pair's first
    // handshake can need a retry, HandshakeGuard's 0.5/1.5-s looks; what is tested here is DNS.
    // One CI run's first `dig` timed out once, 2 s, right after the lab was up.)
    for (const from of ['h1', 'h2', 'h3']) {
      for (const to of ['h1', 'h2', 'h3']) if (from !== to) await pingUntil(lab, from, ips.get(to)!, 15_000);
    }
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('NODE.ZONE answers the node\'s mesh IP, from any node, over UDP and TCP', async () => {
    for (const [asker, server] of [['h3', 'h2'], ['h1', 'h3'], ['h2', 'h1']] as const) {
      for (const target of ['h1', 'h2', 'h3']) {
        assert.equal((await dig(asker, ips.get(server)!, ['+short', `${target}.${ZONE}`, 'A'])).trim(), ips.get(target), `${asker} asks ${server} for ${target}`);
      }
    }
    assert.equal((await dig('h3', ips.get('h2')!, ['+tcp', '+short', `H1.${ZONE.toUpperCase()}`, 'A'])).trim(), ips.get('h1'));
    const missing = await dig('h3', ips.get('h2')!, [`nobody.${ZONE}`, 'A']);
    assert.match(missing, /status: NXDOMAIN/);
    assert.match(missing, /flags: qr aa/, 'authoritative');
  });

  test('PTR for mesh addresses, SRV for the svc: tags', async () => {
    assert.equal((await dig('h2', ips.get('h2')!, ['+short', '-x', ips.get('h3')!])).trim(), `h3.${ZONE}.`);
    const srv = (await dig('h1', ips.get('h1')!, ['+short', `_web._tcp.${ZONE}`, 'SRV'])).trim().split('\n').sort();
    assert.deepEqual(srv, [`0 1 8080 h2.${ZONE}.`, `0 1 8080 h3.${ZONE}.`]);
  });

  test('anything else is REFUSED, without recursion', async () => {
    const out = await dig('h2', ips.get('h3')!, ['example.com', 'A']);
    assert.match(out, /status: REFUSED/);
    assert.doesNotMatch(out, /flags:[^;]*\bra\b/, 'no recursion available');
    assert.match(await dig('h2', ips.get('h3')!, ['-x', '192.0.2.1']), /status: REFUSED/, 'reverse names outside the mesh are not ours');
  });

  test('-hosts-file keeps a block with every node\'s name', async () => {
    for (const host of ['h2', 'h3']) {
      const text = await waitFor(`${host}'s hosts file to list all three nodes`, async () => {
        const r = await hostExec(lab, host, ['cat', HOSTS_FILE]);
        return r.code === 0 && ['h1', 'h2', 'h3'].every((n) => r.stdout.includes(`${ips.get(n)}\t${n}.${ZONE} ${n}`)) ? r.stdout : undefined;
      }, 10_000, 100);
      assert.match(text, new RegExp(`^# BEGIN wgmesh ${MESH} `, 'm'));
      assert.match(text, new RegExp(`^# END wgmesh ${MESH}$`, 'm'));
    }
  });

  test('names keep working with the bootstrap down', async () => {
    await labKillNode(lab, 'h1', { signal: 'SIGKILL' });
    assert.equal((await dig('h3', ips.get('h2')!, ['+short', `h1.${ZONE}`, 'A'])).trim(), ips.get('h1'));
    assert.equal((await dig('h2', ips.get('h3')!, ['+short', `h2.${ZONE}`, 'A'])).trim(), ips.get('h2'));
  });
});
