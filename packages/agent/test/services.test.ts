import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServiceTag, servicesOf, validateServiceTag } from '../src/services.js';
import { InvalidTag } from '../src/errors.js';

/** Services as the original wgmesh declares them: svc:NAME = "port=PORT,key=value,...". */

test('a service tag: port and the service\'s own tags', () => {
  assert.deepEqual(parseServiceTag('svc:nginx', 'port=80,proto=tcp'), { name: 'nginx', port: 80, tags: { proto: 'tcp' } });
  assert.deepEqual(parseServiceTag('svc:db', 'proto=tcp, port=5432 ,tier=gold'), { name: 'db', port: 5432, tags: { proto: 'tcp', tier: 'gold' } });
});

test('a bare port is short for port=PORT (the form this project documented first)', () => {
  assert.deepEqual(parseServiceTag('svc:http', '80'), { name: 'http', port: 80, tags: {} });
});

test('a pair without = is a tag with an empty value, as the original reads it', () => {
  assert.deepEqual(parseServiceTag('svc:web', 'port=443,tls'), { name: 'web', port: 443, tags: { tls: '' } });
});

test('other tags are not services', () => {
  assert.equal(parseServiceTag('role', 'port=80'), undefined);
  assert.equal(parseServiceTag('svcx:web', 'anything'), undefined);
});

const refused: [string, string, RegExp][] = [
  ['no port', 'proto=tcp', /needs port=PORT \(e\.g\. svc:web=port=80,proto=tcp\)/],
  ['a port that is not a number', 'port=http', /port "http" is not a port number \(1-65535/],
  ['port 0', 'port=0', /port "0" is not a port number/],
  ['a port above 65535', 'port=70000', /port "70000" is not a port number/],
  ['a bare number above 65535', '99999', /port "99999" is not a port number/],
  ['an empty port', 'port=', /port "" is not a port number/],
  ['port twice', 'port=80,port=81', /port is given twice/],
  ['a pair without a key', 'port=80,=tcp', /"=tcp" has no key/],
  ['an empty value', '', /needs port=PORT/],
];
for (const [name, value, reason] of refused) {
  test(`refused: ${name}`, () => {
    assert.throws(() => validateServiceTag('svc:web', value), (err: unknown) => err instanceof InvalidTag && err.field === 'tags["svc:web"]' && reason.test(err.reason));
  });
}

test('the services of a mesh: one entry per node offering one, by service then node; invalid declarations left out', () => {
  const nodes: { name: string; meshIp: string; tags: Record<string, string> }[] = [
    { name: 'h3', meshIp: '10.0.0.3', tags: { 'svc:web': 'port=8080,proto=tcp', role: 'x' } },
    { name: 'h1', meshIp: '10.0.0.1', tags: { 'svc:web': 'port=80', 'svc:dns': '53', 'svc:bad': 'port=x' } },
    { name: 'h2', meshIp: '10.0.0.2', tags: {} },
  ];
  assert.deepEqual(servicesOf(nodes), [
    { name: 'dns', port: 53, tags: {}, node: 'h1', meshIp: '10.0.0.1' },
    { name: 'web', port: 80, tags: {}, node: 'h1', meshIp: '10.0.0.1' },
    { name: 'web', port: 8080, tags: { proto: 'tcp' }, node: 'h3', meshIp: '10.0.0.3' },
  ]);
});
