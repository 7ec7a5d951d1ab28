import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHelp, resolveFlags, UsageError, type FlagSpec } from '../../src/flags/parse.js';
import { BOOTSTRAP_FLAGS } from '../../src/commands/bootstrap.js';
import { JOIN_FLAGS } from '../../src/commands/join.js';
import { INFO_FLAGS } from '../../src/commands/info.js';
import { TAGS_FLAGS } from '../../src/commands/tags.js';
import { RTT_FLAGS } from '../../src/commands/rtt.js';
import { ORIGINAL_FILE_KEYS } from '../../src/flags/original.js';

/**
 * Users of the original wgmesh bring their config files, environment and flags unchanged
 * (/work/shared/ORIGINAL.md): every name it has sets the flag of ours that means the same.
 */

const withFile = (specs: readonly FlagSpec[], yaml: string, compat: 'node' | 'client', argv: string[] = [], env: Record<string, string> = {}) =>
  resolveFlags(specs, [...argv, '-config', 'wgmesh.yaml'], env, { readFile: () => yaml, compat });

describe('the original\'s config file (nested YAML) loads as is', () => {
  test('its documented example', () => {
    const yaml = 'mesh-name: somemesh\nnode-name: mynodename\nbootstrap:\n  mesh-cidr-range: 10.233.0.0/16\n';
    const r = withFile(BOOTSTRAP_FLAGS, yaml, 'node');
    assert.equal(r.values.n, 'somemesh');
    assert.equal(r.values['node-name'], 'mynodename');
    assert.equal(r.values.cidr, '10.233.0.0/16');
    assert.deepEqual([r.sources.n, r.sources['node-name'], r.sources.cidr], ['file', 'file', 'file']);
    assert.deepEqual(r.warnings, []);
  });

  // Every key ORIGINAL.md's "Config file" section lists, written out here (not read from our table).
  const FULL = `
mesh-name: prod
node-name: n1
memberlist-file: /var/lib/wgmesh/members.json
bootstrap:
  mesh-cidr-range: 10.40.0.0/16
  mesh-ipam-cidr-range: 10.40.8.0/24
  node-ip: 10.40.0.1
  grpc-bind-addr: 192.0.2.10
  grpc-bind-port: 5555
  mesh-encryption-key: c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=
  serf-mode-lan: true
  grpc-tls:
    grpc-server-key: /etc/wgmesh/server-key.pem
    grpc-server-cert: /etc/wgmesh/server.pem
    grpc-ca-cert: /etc/wgmesh/ca.pem
    grpc-ca-path: /etc/wgmesh/cas
join:
  bootstrap-endpoint: 192.0.2.10:5555
  client-key: /etc/wgmesh/node-key.pem
  client-cert: /etc/wgmesh/node.pem
  ca-cert: /etc/wgmesh/ca.pem
wireguard:
  listen-addr: 192.0.2.20
  listen-port: 51000
agent:
  agent-grpc-bind-socket: /run/wgmesh/agent.sock
  agent-grpc-bind-socket-id: "0:120"
  agent-grpc-socket: /run/wgmesh/client.sock
ui:
  http-bind-addr: 127.0.0.1
  http-bind-port: 9095
`;

  test('every key, as bootstrap reads it (join:, agent-grpc-socket and ui: are other commands\' and left alone)', () => {
    const r = withFile(BOOTSTRAP_FLAGS, FULL, 'node');
    assert.deepEqual(
      { n: r.values.n, nodeName: r.values['node-name'], memberlist: r.values['memberlist-file'], cidr: r.values.cidr, ipam: r.values['cidr-ipam'], ip: r.values.ip,
        bindAddr: r.values['grpc-bind-addr'], bindPort: r.values['grpc-bind-port'], key: r.values['grpc-server-key'], cert: r.values['grpc-server-cert'],
        ca: r.values['grpc-ca-cert'], caPath: r.values['grpc-ca-path'], listenAddr: r.values['listen-addr'], listenPort: r.values['listen-port'],
        socket: r.values.socket, owner: r.values['socket-owner'] },
      { n: 'prod', nodeName: 'n1', memberlist: '/var/lib/wgmesh/members.json', cidr: '10.40.0.0/16', ipam: '10.40.8.0/24', ip: '10.40.0.1',
        bindAddr: '192.0.2.10', bindPort: 5555, key: '/etc/wgmesh/server-key.pem', cert: '/etc/wgmesh/server.pem',
        ca: '/etc/wgmesh/ca.pem', caPath: '/etc/wgmesh/cas', listenAddr: '192.0.2.20', listenPort: 51000,
        socket: '/run/wgmesh/agent.sock', owner: '0:120' },
    );
    assert.equal(r.warnings.length, 2, r.warnings.join('\n'));
    assert.match(r.warnings[0]!, /"bootstrap\.mesh-encryption-key" is ignored: .*WireGuard encrypts all mesh traffic/);
    assert.match(r.warnings[1]!, /"bootstrap\.serf-mode-lan" is ignored: .*-suspect-after and -failed-after/);
  });

  test('every key, as join reads it (bootstrap: is the bootstrap\'s)', () => {
    const r = withFile(JOIN_FLAGS, FULL, 'node');
    assert.deepEqual(
      { n: r.values.n, addrs: r.values['bootstrap-addr'], key: r.values['client-key'], cert: r.values['client-cert'], ca: r.values['ca-cert'],
        listenAddr: r.values['listen-addr'], listenPort: r.values['listen-port'], socket: r.values.socket, owner: r.values['socket-owner'], memberlist: r.values['memberlist-file'] },
      { n: 'prod', addrs: ['192.0.2.10:5555'], key: '/etc/wgmesh/node-key.pem', cert: '/etc/wgmesh/node.pem', ca: '/etc/wgmesh/ca.pem',
        listenAddr: '192.0.2.20', listenPort: 51000, socket: '/run/wgmesh/agent.sock', owner: '0:120', memberlist: '/var/lib/wgmesh/members.json' },
    );
  });

  test('every key, as info, tags and rtt read it: the client socket, the rest left alone', () => {
    for (const specs of [INFO_FLAGS, TAGS_FLAGS, RTT_FLAGS]) {
      const r = withFile(specs, FULL, 'client');
      assert.equal(r.values.socket, '/run/wgmesh/client.sock');
      assert.deepEqual(r.warnings, [], 'the bootstrap\'s ignored keys are not the client\'s business');
    }
  });

  test('the test file above holds every key our table knows (a key added there is tested here)', () => {
    for (const key of ORIGINAL_FILE_KEYS.keys()) {
      if (key === 'bootstrap.memberlist-file') continue; // the earlier releases' place, below
      const [section, ...rest] = key.split('.');
      const leaf = rest.at(-1) ?? section!;
      assert.match(FULL, new RegExp(`^\\s*${leaf}:`, 'm'), key);
    }
    assert.equal(withFile(JOIN_FLAGS, 'bootstrap:\n  memberlist-file: /m.json\n', 'node').values['memberlist-file'], '/m.json', 'memberlist-file under bootstrap: (releases before 29dbaa3)');
  });

  test('our own flat keys still load, and mix with the nested ones', () => {
    const r = withFile(BOOTSTRAP_FLAGS, 'n: flat\ngrpc-bind-port: 6000\nwireguard:\n  listen-port: 51001\n', 'node');
    assert.deepEqual([r.values.n, r.values['grpc-bind-port'], r.values['listen-port']], ['flat', 6000, 51001]);
  });

  test('the command line and the environment beat the file, as with flat keys', () => {
    const r = withFile(BOOTSTRAP_FLAGS, 'mesh-name: file\nwireguard:\n  listen-port: 51001\n', 'node', ['-name', 'flag'], { WGMESH_WIREGUARD_LISTEN_PORT: '51002' });
    assert.deepEqual([r.values.n, r.values['listen-port']], ['flag', 51002]);
  });

  test('empty sections are fine', () => {
    assert.equal(withFile(BOOTSTRAP_FLAGS, 'bootstrap:\nwireguard: {}\n', 'node').values.cidr, '10.232.0.0/16');
  });
});

describe('a wrong config file names the key and what it should be', () => {
  const refused: [string, readonly FlagSpec[], 'node' | 'client', string, RegExp][] = [
    ['a misspelt nested key: the nearest in its section', BOOTSTRAP_FLAGS, 'node', 'bootstrap:\n  mesh-cidr: 10.1.0.0/16\n', /unknown key "bootstrap\.mesh-cidr"; did you mean "bootstrap\.mesh-cidr-range"\?/],
    ['a misspelt top-level key of the original', BOOTSTRAP_FLAGS, 'node', 'mesh-nme: x\n', /unknown key "mesh-nme"; did you mean "mesh-name"\?/],
    ['a misspelt flat key of ours', BOOTSTRAP_FLAGS, 'node', 'grpc-bind-prot: 5000\n', /unknown key "grpc-bind-prot"; did you mean "grpc-bind-port"\?/],
    ['a misspelt TLS key two levels down', BOOTSTRAP_FLAGS, 'node', 'bootstrap:\n  grpc-tls:\n    grpc-server-crt: x\n', /"bootstrap\.grpc-tls\.grpc-server-crt"; did you mean "bootstrap\.grpc-tls\.grpc-server-cert"\?/],
    ['a misspelt section', JOIN_FLAGS, 'node', 'wireguards:\n  listen-port: 1\n', /unknown key "wireguards"; did you mean "wireguard"\?/],
    ['a port that is text', BOOTSTRAP_FLAGS, 'node', 'wireguard:\n  listen-port: abc\n', /config file wgmesh\.yaml: "wireguard\.listen-port" takes a whole number, not "abc"/],
    ['a port that is a list', BOOTSTRAP_FLAGS, 'node', 'bootstrap:\n  grpc-bind-port: [1, 2]\n', /"bootstrap\.grpc-bind-port" takes a whole number, not a list/],
    ['a port that is true', BOOTSTRAP_FLAGS, 'node', 'bootstrap:\n  grpc-bind-port: true\n', /"bootstrap\.grpc-bind-port" takes a whole number, not the value true/],
    ['a name that is a mapping', BOOTSTRAP_FLAGS, 'node', 'mesh-name: { a: 1 }\n', /"mesh-name" takes a single value, not a mapping/],
    ['a section that is not a mapping', BOOTSTRAP_FLAGS, 'node', 'bootstrap: 10.1.0.0/16\n', /"bootstrap" must be a mapping of settings \(.*mesh-cidr-range.*\), not the text "10\.1\.0\.0\/16"/],
    ['a bool that is not one', BOOTSTRAP_FLAGS, 'node', 'dev: maybe\n', /"dev" takes true or false, not "maybe"/],
    ['one setting under two names', BOOTSTRAP_FLAGS, 'node', 'n: a\nmesh-name: b\n', /"n" and "mesh-name" both set -n; keep one of them/],
  ];
  for (const [name, specs, compat, yaml, message] of refused) {
    test(name, () => {
      assert.throws(() => withFile(specs, yaml, compat), (err: Error) => err instanceof UsageError && message.test(err.message));
    });
  }
});

describe('the original\'s environment variables', () => {
  const cases: [string, readonly FlagSpec[], 'node' | 'client', Record<string, string>, string, unknown][] = [
    ['WGMESH_MESH_NAME', BOOTSTRAP_FLAGS, 'node', { WGMESH_MESH_NAME: 'prod' }, 'n', 'prod'],
    ['WGMESH_MESH_NAME (join)', JOIN_FLAGS, 'node', { WGMESH_MESH_NAME: 'prod' }, 'n', 'prod'],
    ['WGMESH_NODE_NAME', JOIN_FLAGS, 'node', { WGMESH_NODE_NAME: 'n7' }, 'node-name', 'n7'],
    ['WGMESH_CIDR_RANGE', BOOTSTRAP_FLAGS, 'node', { WGMESH_CIDR_RANGE: '10.9.0.0/16' }, 'cidr', '10.9.0.0/16'],
    ['WGMESH_CIDR_RANGE_IPAM', BOOTSTRAP_FLAGS, 'node', { WGMESH_CIDR_RANGE_IPAM: '10.9.1.0/24' }, 'cidr-ipam', '10.9.1.0/24'],
    ['WGMESH_MESH_IP', BOOTSTRAP_FLAGS, 'node', { WGMESH_MESH_IP: '10.9.0.1' }, 'ip', '10.9.0.1'],
    ['WGMESH_WIREGUARD_LISTEN_ADDR', JOIN_FLAGS, 'node', { WGMESH_WIREGUARD_LISTEN_ADDR: '192.0.2.3' }, 'listen-addr', '192.0.2.3'],
    ['WGMESH_WIREGUARD_LISTEN_PORT', JOIN_FLAGS, 'node', { WGMESH_WIREGUARD_LISTEN_PORT: '51005' }, 'listen-port', 51005],
    ['WGMESH_GRPC_BIND_ADDR and _PORT (the same as ours)', BOOTSTRAP_FLAGS, 'node', { WGMESH_GRPC_BIND_PORT: '5999' }, 'grpc-bind-port', 5999],
    ['WGMESH_SERVER_KEY', BOOTSTRAP_FLAGS, 'node', { WGMESH_SERVER_KEY: '/k.pem' }, 'grpc-server-key', '/k.pem'],
    ['WGMESH_SERVER_CERT', BOOTSTRAP_FLAGS, 'node', { WGMESH_SERVER_CERT: '/c.pem' }, 'grpc-server-cert', '/c.pem'],
    ['WGMESH_CA_CERT on bootstrap: -grpc-ca-cert', BOOTSTRAP_FLAGS, 'node', { WGMESH_CA_CERT: '/ca.pem' }, 'grpc-ca-cert', '/ca.pem'],
    ['WGMESH_CA_CERT on join: its own -ca-cert', JOIN_FLAGS, 'node', { WGMESH_CA_CERT: '/ca.pem' }, 'ca-cert', '/ca.pem'],
    ['WGMESH_CA_PATH', BOOTSTRAP_FLAGS, 'node', { WGMESH_CA_PATH: '/cas' }, 'grpc-ca-path', '/cas'],
    ['WGMESH_MEMBERLIST_FILE', JOIN_FLAGS, 'node', { WGMESH_MEMBERLIST_FILE: '/m.json' }, 'memberlist-file', '/m.json'],
    ['WGMESH_AGENT_BIND_SOCKET', JOIN_FLAGS, 'node', { WGMESH_AGENT_BIND_SOCKET: '/run/a.sock' }, 'socket', '/run/a.sock'],
    ['WGMESH_AGENT_BIND_SOCKET_ID', BOOTSTRAP_FLAGS, 'node', { WGMESH_AGENT_BIND_SOCKET_ID: '0:120' }, 'socket-owner', '0:120'],
    ['WGMESH_AGENT_SOCKET (info)', INFO_FLAGS, 'client', { WGMESH_AGENT_SOCKET: '/run/c.sock' }, 'socket', '/run/c.sock'],
    ['WGMESH_AGENT_SOCKET (tags)', TAGS_FLAGS, 'client', { WGMESH_AGENT_SOCKET: '/run/c.sock' }, 'socket', '/run/c.sock'],
    ['WGMESH_AGENT_SOCKET is the client\'s: a node keeps its default socket', JOIN_FLAGS, 'node', { WGMESH_AGENT_SOCKET: '/run/c.sock' }, 'socket', '/var/run/wgmesh.sock'],
    ['WGMESH_CONFIG (the same as ours)', INFO_FLAGS, 'client', { WGMESH_CONFIG: 'x.yaml' }, 'config', 'x.yaml'],
    ['ours wins over the original\'s when both are set', BOOTSTRAP_FLAGS, 'node', { WGMESH_N: 'ours', WGMESH_MESH_NAME: 'original' }, 'n', 'ours'],
  ];
  for (const [name, specs, compat, env, flag, want] of cases) {
    test(name, () => {
      const r = resolveFlags(specs, [], env, { readFile: () => '', compat });
      assert.deepEqual(r.values[flag], want);
    });
  }

  test('only for the commands that take the original\'s names (`ca` is not one)', () => {
    const r = resolveFlags(JOIN_FLAGS, [], { WGMESH_MESH_NAME: 'prod' });
    assert.equal(r.values.n, undefined);
  });
});

describe('the original\'s flag spellings', () => {
  test('-name is -n; -agent-grpc-bind-socket and -agent-grpc-bind-socket-id are -socket and -socket-owner', () => {
    for (const specs of [BOOTSTRAP_FLAGS, JOIN_FLAGS]) {
      const r = resolveFlags(specs, ['-name', 'prod', '-agent-grpc-bind-socket', '/run/a.sock', '-agent-grpc-bind-socket-id=0:120'], {}, { compat: 'node' });
      assert.deepEqual([r.values.n, r.values.socket, r.values['socket-owner']], ['prod', '/run/a.sock', '0:120']);
      assert.equal(r.sources.n, 'flag');
    }
  });

  test('-agent-grpc-socket on info, tags and rtt; -v, -d and -config there too', () => {
    for (const specs of [INFO_FLAGS, TAGS_FLAGS, RTT_FLAGS]) {
      const r = resolveFlags(specs, ['-agent-grpc-socket', '/run/c.sock', '-v', '-d', '-config', 'c.yaml'], {}, { readFile: () => 'node-name: x\n', compat: 'client' });
      assert.deepEqual([r.values.socket, r.values.v, r.values.d, r.values.config], ['/run/c.sock', true, true, 'c.yaml']);
    }
  });

  test('a node does not take the client\'s -agent-grpc-socket, nor a client the node\'s -agent-grpc-bind-socket', () => {
    assert.throws(() => resolveFlags(JOIN_FLAGS, ['-agent-grpc-socket', '/x'], {}, { compat: 'node' }), /unknown flag -agent-grpc-socket/);
    assert.throws(() => resolveFlags(INFO_FLAGS, ['-agent-grpc-bind-socket', '/x'], {}, { compat: 'client' }), /unknown flag -agent-grpc-bind-socket/);
  });

  test('a command\'s own flag of the same name wins (as `ca init -name` or `token create -name`)', () => {
    const specs: FlagSpec[] = [{ name: 'name', type: 'string', help: '' }, { name: 'n', type: 'string', help: '' }];
    const r = resolveFlags(specs, ['-name', 'prod'], {}, { compat: 'node' });
    assert.deepEqual([r.values.name, r.values.n], ['prod', undefined]);
  });

  test('-mesh-encryption-key and -serf-mode-lan are accepted with a warning saying what replaces them', () => {
    const r = resolveFlags(BOOTSTRAP_FLAGS, ['-mesh-encryption-key', 'c2VjcmV0', '-serf-mode-lan', '-n', 'prod'], { WGMESH_ENCRYPTION_KEY: 'x' }, { compat: 'node' });
    assert.equal(r.values.n, 'prod', 'the key was taken as the flag\'s value, not as a positional');
    assert.deepEqual(r.positionals, []);
    assert.equal(r.warnings.length, 3);
    assert.match(r.warnings[0]!, /^-mesh-encryption-key is ignored: .*WireGuard encrypts all mesh traffic/);
    assert.match(r.warnings[1]!, /^-serf-mode-lan is ignored: .*-suspect-after and -failed-after/);
    assert.match(r.warnings[2]!, /^WGMESH_ENCRYPTION_KEY is ignored/);
  });

  test('--help names the original\'s spellings beside ours', () => {
    const help = formatHelp('wgmesh bootstrap', '', BOOTSTRAP_FLAGS, 'node');
    assert.match(help.split('\n').find((l) => l.startsWith('  -n '))!, /original wgmesh: -name, WGMESH_MESH_NAME/);
    assert.match(help.split('\n').find((l) => l.startsWith('  -socket '))!, /-agent-grpc-bind-socket, WGMESH_AGENT_BIND_SOCKET/);
    assert.match(help, /accepted from the original wgmesh and ignored, with a warning: -mesh-encryption-key, -serf-mode-lan/);
  });
});

describe('list flags: split at commas, except one value per flag where a value holds commas', () => {
  test('tags -set takes each value whole; -tags still splits', () => {
    assert.deepEqual(resolveFlags(TAGS_FLAGS, ['-set', 'svc:web=port=80,proto=tcp', '-set', 'a=b'], {}).values.set, ['svc:web=port=80,proto=tcp', 'a=b']);
    assert.deepEqual(resolveFlags(JOIN_FLAGS, ['-tags', 'a=1,b=2'], {}).values.tags, ['a=1', 'b=2']);
    assert.deepEqual(resolveFlags(JOIN_FLAGS, ['-bootstrap-addr', 'a:1,b:2'], {}).values['bootstrap-addr'], ['a:1', 'b:2']);
  });
});
