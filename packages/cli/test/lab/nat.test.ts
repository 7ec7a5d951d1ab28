import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab } from '../../src/commands/lab.js';
import { InvalidLabOptions } from '../../src/lab/errors.js';
import {
  cidrsOverlap,
  formatCidr,
  labNames,
  natHost,
  natSegment,
  parseCidr,
  parseNatGroups,
  planNat,
  miniupnpdConfig,
  parseNatStyle,
  reservedAddresses,
  routerIndex,
  routerIptables,
  routerNatCommands,
  routerUuid,
  routerWanAddress,
  stunAddresses,
  validateHostCount,
} from '../../src/lab/plan.js';
import { formatLabState, parseLabState, type LabState } from '../../src/lab/state.js';
import { captureStdout } from '../capture.js';

const UNDERLAY = parseCidr('203.0.113.0/24');
const NAT_LAN = parseCidr('198.51.100.0/24');
const MESH = parseCidr('198.18.0.0/16');
const plan = (groups: number[][], hosts = 5, underlay = UNDERLAY) => planNat(groups, { hosts, underlay, natLan: NAT_LAN, cidr: MESH });

describe('-nat values', () => {
  test('one router per value; "+" (or a list) puts several hosts behind one router', () => {
    assert.deepEqual(parseNatGroups(['h2', 'h3', 'h4+h5']), [[2], [3], [4, 5]]);
    assert.deepEqual(parseNatGroups(['h2', ['h4', 'h5']]), [[2], [4, 5]]);
    assert.deepEqual(parseNatGroups([' h2 + h3 ']), [[2, 3]]);
    assert.deepEqual(parseNatGroups([]), []);
  });

  test('anything but host names is refused, naming what was wrong', () => {
    assert.throws(() => parseNatGroups(['x2']), /"x2" is not a host name/);
    assert.throws(() => parseNatGroups(['h2+']), InvalidLabOptions);
    assert.throws(() => parseNatGroups(['']), InvalidLabOptions);
    assert.throws(() => parseNatGroups([[]]), InvalidLabOptions);
  });
});

describe('NAT router address planning', () => {
  test('router R: WAN at the top of the underlay counting down, LAN the R-th /28 of 198.51.100.0/24 (router .1, hosts .2, .3, …)', () => {
    const routers = plan([[2], [3], [5, 4]]);
    assert.deepEqual(
      routers.map((r) => ({ name: r.name, hosts: r.hosts, wan: r.wanIp, lan: formatCidr(r.lan), gw: r.lanIp, style: r.style })),
      [
        { name: 'r1', hosts: [2], wan: '203.0.113.254', lan: '198.51.100.0/28', gw: '198.51.100.1', style: 'home' },
        { name: 'r2', hosts: [3], wan: '203.0.113.253', lan: '198.51.100.16/28', gw: '198.51.100.17', style: 'home' },
        { name: 'r3', hosts: [4, 5], wan: '203.0.113.252', lan: '198.51.100.32/28', gw: '198.51.100.33', style: 'home' },
      ],
    );
    assert.equal(natHost(routers, 2)?.ip, '198.51.100.2');
    assert.equal(natHost(routers, 3)?.ip, '198.51.100.18');
    assert.equal(natHost(routers, 4)?.ip, '198.51.100.34');
    assert.equal(natHost(routers, 5)?.ip, '198.51.100.35');
    assert.equal(natHost(routers, 5)?.router.name, 'r3');
    assert.equal(natHost(routers, 1), undefined, 'h1 stays on the switch');
    assert.equal(planNat([[2]], { hosts: 2, underlay: UNDERLAY, natLan: NAT_LAN, style: 'bare' })[0]!.style, 'bare');
    assert.equal(routers[0]!.upnp, false);
  });

  test('-nat-style: home, bare or random; anything else is refused naming the choices', () => {
    assert.equal(parseNatStyle('home'), 'home');
    assert.equal(parseNatStyle(' Random '), 'random');
    assert.throws(() => parseNatStyle('full-cone'), /-nat-style full-cone: use home, bare, random/);
  });

  test('with UPnP the STUN server takes the two addresses below the routers\', and hosts must leave them free', () => {
    assert.deepEqual(stunAddresses(UNDERLAY, 2), ['203.0.113.252', '203.0.113.251']);
    assert.equal(reservedAddresses(2, true), 4);
    assert.equal(reservedAddresses(2, false), 2);
    assert.equal(reservedAddresses(0, true), 0);
    const small = parseCidr('203.0.113.0/28');
    // 14 addresses: one router + the STUN server's two leave 11 for hosts.
    assert.equal(planNat([[2]], { hosts: 11, underlay: small, natLan: NAT_LAN, upnp: true })[0]!.upnp, true);
    assert.throws(() => planNat([[2]], { hosts: 12, underlay: small, natLan: NAT_LAN, upnp: true }), /between 1 and 11/);
    assert.equal(planNat([[2]], { hosts: 12, underlay: small, natLan: NAT_LAN }).length, 1);
  });

  test('no NAT: no routers, and nothing else is checked', () => {
    assert.deepEqual(plan([], 3, parseCidr('198.51.100.0/24')), []);
  });

  test('WAN addresses and segments follow the networks given', () => {
    assert.equal(routerWanAddress(parseCidr('192.0.2.0/24'), 1), '192.0.2.254');
    assert.equal(routerWanAddress(parseCidr('10.0.0.0/16'), 2), '10.0.255.253');
    assert.equal(formatCidr(natSegment(NAT_LAN, 16)), '198.51.100.240/28');
    assert.throws(() => natSegment(NAT_LAN, 17), /does not fit in 198\.51\.100\.0\/24 \(16 segments of \/28\)/);
    assert.equal(formatCidr(natSegment(parseCidr('10.9.0.0/16'), 17)), '10.9.1.0/28');
  });

  test('the bootstrap is never behind NAT; a host is behind one router at most, and must exist', () => {
    assert.throws(() => plan([[1]]), /h1 runs the bootstrap/);
    assert.throws(() => plan([[2], [2]]), /h2 is given for two routers \(r1 and r2\)/);
    assert.throws(() => plan([[2, 2]]), /h2 is given twice for one router/);
    assert.throws(() => plan([[6]]), /the lab has no h6 \(it has h1…h5\)/);
  });

  test('at most 13 hosts behind one router and 16 routers in a /24', () => {
    const thirteen = Array.from({ length: 13 }, (_, i) => i + 2);
    assert.equal(natHost(plan([thirteen], 14), 14)?.ip, '198.51.100.14');
    assert.throws(() => plan([[...thirteen, 15]], 15), /at most 13 hosts fit behind one router/);
    const seventeen = Array.from({ length: 17 }, (_, i) => [i + 2]);
    assert.throws(() => plan(seventeen, 18), /NAT router 17 does not fit/);
  });

  test('hosts and routers share the underlay: routers take addresses from the hosts\' count', () => {
    const small = parseCidr('203.0.113.0/29'); // 6 addresses
    assert.equal(plan([[2], [3]], 4, small).length, 2);
    assert.throws(() => plan([[2], [3]], 5, small), /between 1 and 4, not 5 \(2 addresses of 203\.0\.113\.0\/29 go to NAT routers\)/);
    assert.equal(validateHostCount(250, UNDERLAY, 4), 250, 'the lab\'s own limit of 250 hosts still applies first');
    assert.equal(validateHostCount(249, UNDERLAY, 5), 249);
    assert.throws(() => validateHostCount(250, UNDERLAY, 5), /between 1 and 249/);
  });

  test('the private space must not overlap the underlay or the mesh, and must hold a /28', () => {
    assert.throws(() => planNat([[2]], { hosts: 2, underlay: parseCidr('198.51.100.0/24'), natLan: NAT_LAN }), /overlaps the underlay 198\.51\.100\.0\/24/);
    assert.throws(() => planNat([[2]], { hosts: 2, underlay: UNDERLAY, natLan: parseCidr('198.18.4.0/24'), cidr: MESH }), /overlaps the mesh 198\.18\.0\.0\/16/);
    assert.throws(() => planNat([[2]], { hosts: 2, underlay: UNDERLAY, natLan: parseCidr('198.51.100.0/29') }), /must be a \/28 or larger/);
    assert.equal(cidrsOverlap(parseCidr('10.0.0.0/8'), parseCidr('10.1.0.0/16')), true);
    assert.equal(cidrsOverlap(parseCidr('198.51.100.0/28'), parseCidr('198.51.100.16/28')), false);
  });
});

describe('NAT router names and rules', () => {
  test('router namespaces are the lab\'s (so teardown finds them) and fit the 15-character limit', () => {
    const names = labNames('abcdefgh');
    assert.equal(names.routerNetns(3), 'abcdefgh-r3');
    assert.ok(names.routerNetns(999).length <= 15);
    assert.ok(names.routerPort(999).length <= 15);
    assert.equal(names.owns('abcdefgh-r3'), true);
    assert.equal(names.owns('abcdefgh-r0'), false);
    assert.equal(names.owns('abcdefgh-rx'), false);
    assert.equal(names.owns('other-r1'), false);
    assert.equal(names.stunNetns, 'abcdefgh-stun');
    assert.equal(names.owns('abcdefgh-stun'), true);
    assert.equal(routerIndex('r12'), 12);
    assert.equal(routerIndex('h12'), undefined);
  });

  test('a router forwards and masquerades out of its WAN leg; home drops what comes in unasked, bare only what would be forwarded', () => {
    const forwardFilter = [
      'iptables -w -A FORWARD -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
      'iptables -w -A FORWARD -i wan -j DROP',
    ];
    const bare = routerNatCommands('bare').map((c) => c.join(' '));
    assert.deepEqual(bare, ['sysctl -q -w net.ipv4.ip_forward=1', 'iptables -w -t nat -A POSTROUTING -o wan -j MASQUERADE', ...forwardFilter]);
    const home = routerNatCommands().map((c) => c.join(' '));
    assert.deepEqual(home, [
      ...bare.slice(0, 2),
      'iptables -w -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
      'iptables -w -A INPUT -i wan -j DROP',
      ...forwardFilter,
    ]);
    // random: a new port per connection from the LAN (the router's own keep theirs), with the home firewall.
    const random = routerNatCommands('random', false, parseCidr('198.51.100.16/28')).map((c) => c.join(' '));
    assert.deepEqual(random, home.map((c) => (c.endsWith('-j MASQUERADE') ? 'iptables -w -t nat -A POSTROUTING -s 198.51.100.16/28 -o wan -j MASQUERADE --random-fully' : c)));
    assert.throws(() => routerNatCommands('random'), InvalidLabOptions);
  });

  test('with UPnP: iptables-legacy throughout, miniupnpd\'s chains jumped to before the MASQUERADE and the firewall', () => {
    assert.equal(routerIptables(true), 'iptables-legacy');
    assert.equal(routerIptables(false), 'iptables');
    const upnp = routerNatCommands('home', true).map((c) => c.join(' '));
    assert.ok(upnp.slice(1).every((c) => c.startsWith('iptables-legacy -w ')), upnp.join('\n'));
    assert.deepEqual(upnp.slice(1, 8), [
      'iptables-legacy -w -t nat -N MINIUPNPD',
      'iptables-legacy -w -t nat -A PREROUTING -i wan -j MINIUPNPD',
      'iptables-legacy -w -t nat -N MINIUPNPD-POSTROUTING',
      'iptables-legacy -w -t nat -A POSTROUTING -o wan -j MINIUPNPD-POSTROUTING',
      'iptables-legacy -w -N MINIUPNPD',
      'iptables-legacy -w -A FORWARD -i wan ! -o wan -j MINIUPNPD',
      'iptables-legacy -w -A INPUT -i wan -j MINIUPNPD',
    ]);
    assert.deepEqual(upnp.slice(8), routerNatCommands('home').slice(1).map((c) => c.join(' ').replace(/^iptables /, 'iptables-legacy ')));
  });

  test('miniupnpd.conf: WAN wan, LAN lan, UPnP and NAT-PMP, the STUN check, only the LAN\'s own hosts may map', () => {
    const conf = miniupnpdConfig({ lan: parseCidr('198.51.100.16/28'), stunHost: '203.0.113.252', stunPort: 3478, leaseFile: '/s/r2.leases', uuid: routerUuid('wgl', 2) });
    for (const line of ['ext_ifname=wan', 'listening_ip=lan', 'enable_natpmp=yes', 'enable_upnp=yes', 'ext_perform_stun=yes', 'ext_stun_host=203.0.113.252', 'ext_stun_port=3478', 'secure_mode=yes', 'lease_file=/s/r2.leases', 'allow 1024-65535 198.51.100.16/28 1024-65535']) {
      assert.ok(conf.split('\n').includes(line), line);
    }
    assert.match(conf, /\ndeny 0-65535 0\.0\.0\.0\/0 0-65535\n$/);
    assert.match(routerUuid('wgl', 2), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(routerUuid('wgl', 1), routerUuid('wgl', 2));
    assert.equal(routerUuid('wgl', 1), routerUuid('wgl', 1));
  });
});

describe('lab.json with NAT routers', () => {
  const lab: LabState = {
    version: 1,
    name: 'wgl',
    mesh: 'lab',
    underlay: '203.0.113.0/24',
    cidr: '198.18.0.0/16',
    bootstrapPort: 5000,
    wgmeshCommand: ['node', 'wgmesh.js'],
    logLevel: 'info',
    hostsOnly: true,
    createdMs: 1_700_000_000_000,
    routers: [{ name: 'r1', index: 1, netns: 'wgl-r1', wanIp: '203.0.113.254', lan: '198.51.100.0/28', lanIp: '198.51.100.1', hosts: ['h2'], style: 'home', iptables: 'iptables' }],
    hosts: [
      { name: 'h1', index: 1, netns: 'wgl-h1', underlayIp: '203.0.113.1', mountFile: '/m/h1', stateDir: '/s/h1', logFile: '/s/h1.log', role: 'bootstrap' },
      {
        name: 'h2',
        index: 2,
        netns: 'wgl-h2',
        underlayIp: '198.51.100.2',
        nat: { router: 'r1', publicIp: '203.0.113.254', gateway: '198.51.100.1' },
        mountFile: '/m/h2',
        stateDir: '/s/h2',
        logFile: '/s/h2.log',
        role: 'join',
      },
    ],
  };

  test('routers and a host\'s NAT round-trip; a damaged router entry names its field', () => {
    assert.deepEqual(parseLabState(formatLabState(lab)), lab);
    const broken = JSON.parse(formatLabState(lab)) as { routers: { style?: unknown }[] };
    broken.routers[0]!.style = 'cone';
    assert.throws(() => parseLabState(JSON.stringify(broken)), /routers\[0\]\.style must be one of home, bare, random/);
  });

  test('a UPnP lab\'s miniupnpd and STUN server round-trip', () => {
    const proc = { pid: 42, startTicks: 7, startedMs: 1_700_000_000_001, argv: ['miniupnpd', '-d'] };
    const upnp: LabState = {
      ...lab,
      routers: [{ ...lab.routers![0]!, iptables: 'iptables-legacy', style: 'random', miniupnpd: { configFile: '/s/r1-miniupnpd.conf', pidFile: '/s/r1-miniupnpd.pid', logFile: '/s/r1-miniupnpd.log', process: proc } }],
      stun: { netns: 'wgl-stun', ips: ['203.0.113.253', '203.0.113.252'], port: 3478, pidFile: '/s/stun.pid', logFile: '/s/stun.log', process: { ...proc, pid: 43 } },
    };
    assert.deepEqual(parseLabState(formatLabState(upnp)), upnp);
  });

  test('a lab.json from before styles (firewall true/false) reads as home/bare', () => {
    const old = JSON.parse(formatLabState(lab)) as { routers: Record<string, unknown>[] };
    delete old.routers[0]!.style;
    delete old.routers[0]!.iptables;
    old.routers[0]!.firewall = false;
    assert.equal(parseLabState(JSON.stringify(old)).routers![0]!.style, 'bare');
    old.routers[0]!.firewall = true;
    assert.equal(parseLabState(JSON.stringify(old)).routers![0]!.style, 'home');
  });
});

describe('wgmesh lab up --help', () => {
  test('documents -nat, -nat-lan, -nat-style and -upnp', async () => {
    const text = await captureStdout(() => runLab(['up', '--help'], {}));
    assert.match(text, /-nat HOST\[\+HOST…\],…/);
    assert.match(text, /h4\+h5 puts both behind one/);
    assert.match(text, /-nat-lan CIDR/);
    assert.match(text, /-nat-style home\|bare\|random/);
    assert.match(text, /-upnp/);
    assert.match(text, /miniupnpd/);
    assert.doesNotMatch(text, /-nat-firewall/);
    assert.match(text, /MASQUERADE/);
  });
});
