import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { envName, resolveFlags, UsageError, type FlagSpec } from '../../src/flags/parse.js';

const SPECS: FlagSpec[] = [
  { name: 'dev', type: 'bool', default: false, help: '' },
  { name: 'n', type: 'string', default: 'wgmesh', help: '' },
  { name: 'grpc-bind-port', type: 'int', default: 5000, help: '' },
  { name: 'tags', type: 'list', default: [], help: '' },
  { name: 'config', type: 'string', help: '' },
];

const file = (text: string) => () => text;

describe('flag resolution: flag > env > file > default', () => {
  const cases: { name: string; argv: string[]; env?: Record<string, string>; yaml?: string; want: Record<string, unknown>; sources?: Record<string, string> }[] = [
    { name: 'defaults', argv: [], want: { dev: false, n: 'wgmesh', 'grpc-bind-port': 5000, tags: [] }, sources: { n: 'default' } },
    { name: '-flag value', argv: ['-n', 'lab'], want: { n: 'lab' }, sources: { n: 'flag' } },
    { name: '-flag=value', argv: ['-n=lab'], want: { n: 'lab' } },
    { name: '--flag value', argv: ['--n', 'lab'], want: { n: 'lab' } },
    { name: 'bool without value', argv: ['-dev'], want: { dev: true } },
    { name: 'bool =false', argv: ['-dev=false'], want: { dev: false }, sources: { dev: 'flag' } },
    { name: 'int', argv: ['-grpc-bind-port', '6000'], want: { 'grpc-bind-port': 6000 } },
    { name: 'repeatable list', argv: ['-tags', 'a=1', '-tags', 'b=2,c=3'], want: { tags: ['a=1', 'b=2', 'c=3'] } },
    { name: 'env fills in', argv: [], env: { WGMESH_N: 'fromenv', WGMESH_GRPC_BIND_PORT: '7000', WGMESH_DEV: 'true' }, want: { n: 'fromenv', 'grpc-bind-port': 7000, dev: true }, sources: { n: 'env' } },
    { name: 'flag beats env', argv: ['-n', 'flag'], env: { WGMESH_N: 'env' }, want: { n: 'flag' } },
    { name: 'file fills in', argv: ['-config', 'c.yaml'], yaml: 'n: fromfile\ngrpc-bind-port: 8000\ntags: [x=1]\n', want: { n: 'fromfile', 'grpc-bind-port': 8000, tags: ['x=1'] }, sources: { n: 'file' } },
    { name: 'env beats file', argv: ['-config', 'c.yaml'], env: { WGMESH_N: 'env' }, yaml: 'n: file\n', want: { n: 'env' } },
    { name: 'flag beats file', argv: ['-config', 'c.yaml', '-n', 'flag'], yaml: 'n: file\n', want: { n: 'flag' } },
    { name: 'config named by env', argv: [], env: { WGMESH_CONFIG: 'c.yaml' }, yaml: 'dev: true\n', want: { dev: true } },
    { name: 'positionals mix with flags', argv: ['issue', '-n', 'x', 'node1'], want: { n: 'x' } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = resolveFlags(SPECS, c.argv, c.env ?? {}, file(c.yaml ?? ''));
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(r.values[k], v, k);
      for (const [k, v] of Object.entries(c.sources ?? {})) assert.equal(r.sources[k], v, `source of ${k}`);
    });
  }

  test('positionals are kept in order, -- ends flags', () => {
    const r = resolveFlags(SPECS, ['issue', '-n', 'x', 'node1', '--', '-dev'], {});
    assert.deepEqual(r.positionals, ['issue', 'node1', '-dev']);
    assert.equal(r.values.dev, false);
  });

  test('--help and -h are noticed', () => {
    assert.equal(resolveFlags(SPECS, ['-h'], {}).help, true);
    assert.equal(resolveFlags(SPECS, ['--help'], {}).help, true);
  });

  const bad: [string, string[], Record<string, string>, string, RegExp][] = [
    ['unknown flag', ['-nope'], {}, '', /unknown flag -nope/],
    ['missing value', ['-n'], {}, '', /-n needs a value/],
    ['int not a number', ['-grpc-bind-port', 'abc'], {}, '', /whole number/],
    ['bad bool in env', [], { WGMESH_DEV: 'maybe' }, '', /environment WGMESH_DEV.*true or false/],
    ['unknown key in file, naming the nearest', ['-config', 'c.yaml'], {}, 'tag: [a=1]\n', /unknown key "tag"; did you mean "tags"\?/],
    ['file is not a mapping', ['-config', 'c.yaml'], {}, '- a\n- b\n', /must be a mapping/],
    ['file is not YAML', ['-config', 'c.yaml'], {}, 'a: [\n', /not valid YAML/],
  ];
  for (const [name, argv, env, yaml, message] of bad) {
    test(`refused: ${name}`, () => {
      assert.throws(() => resolveFlags(SPECS, argv, env, file(yaml)), (err: Error) => err instanceof UsageError && message.test(err.message));
    });
  }

  test('a config file that cannot be read names the file', () => {
    assert.throws(() => resolveFlags(SPECS, ['-config', '/nonexistent/wgmesh.yaml'], {}), /cannot read config file \/nonexistent\/wgmesh.yaml/);
  });

  test('env names follow WGMESH_<FLAG>', () => {
    assert.equal(envName('grpc-bind-port'), 'WGMESH_GRPC_BIND_PORT');
  });
});
