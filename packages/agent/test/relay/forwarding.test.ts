import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelForwarding, relayChainName } from '../../src/relay/forwarding.js';
import { RelayUnavailable } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';

/**
 * A stand-in for iptables that keeps its rules the way the real one does (rules per chain, -C/-D
 * fail on a rule that is not there, -N on an existing chain fails), so the test sees the rule
 * set the forwarding leaves behind, not just the commands.
 */
function fakeIptables() {
  const chains = new Map<string, string[]>([['FORWARD', []], ['OUTPUT', []]]);
  const calls: string[] = [];
  const fail = (msg: string) => Promise.reject(new Error(msg));
  const run = async (cmd: string, args: readonly string[]) => {
    calls.push([cmd, ...args].join(' '));
    const [w, op, chain, ...rest] = args;
    assert.equal(w, '-w');
    const rule = rest.join(' ');
    const rules = chains.get(chain!);
    switch (op) {
      case '-N': if (rules) return fail('Chain already exists'); chains.set(chain!, []); break;
      case '-A': if (!rules) return fail('No chain'); rules.push(rule); break;
      case '-I': if (!rules) return fail('No chain'); rules.unshift(rest.slice(1).join(' ')); break;
      case '-D': {
        const i = rules?.indexOf(rule) ?? -1;
        if (i < 0) return fail('Bad rule'); rules!.splice(i, 1); break;
      }
      case '-F': if (!rules) return fail('No chain'); rules.length = 0; break;
      case '-X': if (!rules) return fail('No chain'); chains.delete(chain!); break;
      case '-L': if (!rules) return fail('No chain');
        return { stdout: `Chain ${chain} (1 references)\n    pkts      bytes target     prot opt in     out     source               destination\n      12     3456 ACCEPT     0    --  wgt    wgt     198.18.0.0/16        198.18.0.0/16        /* wgmesh relay */\n       1       60 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0\n`, stderr: '' };
      default: return fail(`unexpected ${op}`);
    }
    return { stdout: '', stderr: '' };
  };
  return { chains, calls, run };
}

async function procSys(iface: string, value = '0'): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'wgmesh-fwd-'));
  await mkdir(join(root, 'net/ipv4/conf', iface), { recursive: true });
  await writeFile(join(root, 'net/ipv4/conf', iface, 'forwarding'), value);
  return root;
}

describe('KernelForwarding', () => {
  test('enable: forwarding on the wg interface only, mesh-to-mesh in and out of it accepted, the rest of its traffic dropped; disable leaves nothing', async () => {
    const ipt = fakeIptables();
    const root = await procSys('wgt');
    try {
      const fwd = new KernelForwarding({ interfaceName: 'wgt', meshCidr: () => '198.18.0.0/16', logger: silentLogger(), run: ipt.run, procSys: root });
      await fwd.enable();
      const chain = relayChainName('wgt');
      assert.equal(await readFile(join(root, 'net/ipv4/conf/wgt/forwarding'), 'utf8'), '1');
      assert.deepEqual(ipt.chains.get('FORWARD'), [`-i wgt -j ${chain}`]);
      assert.deepEqual(ipt.chains.get(chain), [
        '-i wgt -o wgt -s 198.18.0.0/16 -d 198.18.0.0/16 -m comment --comment wgmesh relay -j ACCEPT',
        '-j DROP',
      ]);
      assert.deepEqual(ipt.chains.get('OUTPUT'), ['-o wgt -p icmp --icmp-type redirect -j DROP']);
      assert.equal(fwd.enabled, true);
      assert.equal(await fwd.forwardedBytes(), 3456);
      // Enabling again (a re-created interface) does not stack rules.
      await fwd.enable();
      assert.equal(ipt.chains.get('FORWARD')!.length, 1);
      assert.equal(ipt.chains.get('OUTPUT')!.length, 1);
      await fwd.disable();
      assert.deepEqual(ipt.chains.get('FORWARD'), []);
      assert.deepEqual(ipt.chains.get('OUTPUT'), []);
      assert.equal(ipt.chains.has(chain), false);
      assert.equal(await readFile(join(root, 'net/ipv4/conf/wgt/forwarding'), 'utf8'), '0', 'the interface\'s earlier value is put back');
      assert.equal(await fwd.forwardedBytes(), 0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('rules an earlier run left (it was killed) are removed before new ones are added', async () => {
    const ipt = fakeIptables();
    const chain = relayChainName('wgt');
    ipt.chains.set(chain, ['-j ACCEPT']);
    ipt.chains.get('FORWARD')!.push(`-i wgt -j ${chain}`, `-i wgt -j ${chain}`, '-i eth0 -j ACCEPT');
    const root = await procSys('wgt');
    try {
      const fwd = new KernelForwarding({ interfaceName: 'wgt', meshCidr: () => '198.18.0.0/16', logger: silentLogger(), run: ipt.run, procSys: root });
      await fwd.enable();
      assert.deepEqual(ipt.chains.get('FORWARD'), [`-i wgt -j ${chain}`, '-i eth0 -j ACCEPT'], 'one jump of ours; other rules untouched');
      assert.equal(ipt.chains.get(chain)!.at(-1), '-j DROP');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('no mesh CIDR yet, or iptables refusing: RelayUnavailable, and no half-made rule set left', async () => {
    const ipt = fakeIptables();
    const early = new KernelForwarding({ interfaceName: 'wgt', meshCidr: () => undefined, logger: silentLogger(), run: ipt.run });
    await assert.rejects(early.enable(), RelayUnavailable);
    const root = await procSys('wgt');
    try {
      const refusing = async (cmd: string, args: readonly string[]) => {
        if (args[1] === '-I' && args[2] === 'OUTPUT') throw new Error('iptables: Permission denied');
        return ipt.run(cmd, args);
      };
      const fwd = new KernelForwarding({ interfaceName: 'wgt', meshCidr: () => '198.18.0.0/16', logger: silentLogger(), run: refusing, procSys: root });
      await assert.rejects(fwd.enable(), (err: Error) => err instanceof RelayUnavailable && /cannot forward on wgt: .*Permission denied/.test(err.message));
      assert.deepEqual(ipt.chains.get('FORWARD'), []);
      assert.equal(ipt.chains.has(relayChainName('wgt')), false);
      assert.equal(fwd.enabled, false);
      assert.equal(await readFile(join(root, 'net/ipv4/conf/wgt/forwarding'), 'utf8'), '0');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('an IPv6 mesh uses ip6tables and the IPv6 sysctl', async () => {
    const ipt = fakeIptables();
    const root = await mkdtemp(join(tmpdir(), 'wgmesh-fwd-'));
    await mkdir(join(root, 'net/ipv6/conf/wgt'), { recursive: true });
    await writeFile(join(root, 'net/ipv6/conf/wgt/forwarding'), '0');
    try {
      const fwd = new KernelForwarding({ interfaceName: 'wgt', meshCidr: () => 'fd00:18::/64', logger: silentLogger(), run: ipt.run, procSys: root });
      await fwd.enable();
      assert.ok(ipt.calls.every((c) => c.startsWith('ip6tables ')));
      assert.deepEqual(ipt.chains.get('OUTPUT'), ['-o wgt -p icmpv6 --icmpv6-type redirect -j DROP']);
      assert.equal(await readFile(join(root, 'net/ipv6/conf/wgt/forwarding'), 'utf8'), '1');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
