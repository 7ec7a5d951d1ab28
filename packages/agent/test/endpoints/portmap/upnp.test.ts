/**
 * The UPnP IGD client through the port mapper, against a fake IGD on 127.0.0.1: SSDP answer,
 * device description, SOAP. It maps and verifies, deletes and checks the router's table, and
 * ignores (and logs) what does not come from the gateway or is too big.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPortMapper, type PortMapper, type PortMapperInit } from '../../../src/endpoints/portmap/mapper.js';
import { elementText, parseDescription, parseSsdpAnswer, UPNP_XML_MAX } from '../../../src/endpoints/portmap/upnp.js';
import { PortMapAnswerInvalid } from '../../../src/errors.js';
import { FakeIgd, recordingLogger, until } from './fake-router.js';

const INTERNAL_PORT = 51820;
const NONE_MESSAGE = 'no port mapping: router answers neither NAT-PMP, PCP nor UPnP';

let igd: FakeIgd;
let log: ReturnType<typeof recordingLogger>;
let mapper: PortMapper | undefined;

beforeEach(async () => {
  igd = await FakeIgd.start();
  log = recordingLogger();
});

afterEach(async () => {
  await mapper?.stop();
  mapper = undefined;
  igd.close();
});

function startMapper(init: Partial<PortMapperInit> = {}): PortMapper {
  mapper = createPortMapper({ logger: log }, {
    internalPort: INTERNAL_PORT, gateway: '127.0.0.1', ssdp: igd.ssdpTarget, protocols: ['UPnP'], searchMs: 500, httpTimeoutMs: 1000, lifetimeSec: 2, ...init,
  });
  mapper.start();
  return mapper;
}

const logged = (message: string, level?: string) => log.lines.some((l) => l.message === message && (!level || l.level === level));
const ignoredReasons = (): string[] => log.lines.filter((l) => l.message === 'port mapping: answer ignored').map((l) => String(l.meta?.reason));

test('UPnP: search, description, AddPortMapping; the router\'s table is checked; the address advertised', async () => {
  const m = startMapper();
  await until('a mapping', () => m.endpoint !== undefined);
  assert.deepEqual(m.endpoint, { ip: '203.0.113.9', port: INTERNAL_PORT, kind: 'ENDPOINT_KIND_MAPPED' });
  assert.equal(m.protocol, 'UPnP');
  assert.deepEqual(igd.table.get(INTERNAL_PORT), { client: '127.0.0.1', internalPort: INTERNAL_PORT, lease: 2 });
  assert.deepEqual(igd.calls.map((c) => c.action), ['GetExternalIPAddress', 'AddPortMapping', 'GetSpecificPortMappingEntry']);
  assert.match(igd.actions('AddPortMapping')[0]!.body, /<NewProtocol>UDP<\/NewProtocol>/);
});

test('UPnP: renewed at half the lease by AddPortMapping again, without searching again', async () => {
  const m = startMapper();
  await until('a mapping', () => m.endpoint !== undefined);
  await until('a renewal', () => igd.actions('AddPortMapping').length >= 2, 3000);
  await until('the renewal logged', () => logged('port mapping renewed', 'info'));
  assert.equal(igd.searches, 2, 'one search (two M-SEARCH datagrams: IGD:1 and IGD:2), not repeated for the renewal');
});

test('UPnP: a router that forgot the mapping gets it again at the renewal', async () => {
  const m = startMapper();
  await until('a mapping', () => m.endpoint !== undefined);
  igd.table.clear();
  await until('the mapping re-made', () => igd.table.has(INTERNAL_PORT), 3000);
  assert.equal(m.endpoint?.port, INTERNAL_PORT);
});

test('UPnP: permanent leases only (725): mapped with lease 0', async () => {
  igd.addError = 725;
  const m = startMapper();
  await until('a mapping', () => m.endpoint !== undefined);
  assert.equal(igd.table.get(INTERNAL_PORT)?.lease, 0);
});

test('UPnP: a port taken by another host (718): another external port', async () => {
  igd.addError = 718;
  const m = startMapper();
  await until('a mapping', () => m.endpoint !== undefined);
  assert.notEqual(m.endpoint?.port, INTERNAL_PORT);
  assert.ok(igd.table.has(m.endpoint!.port!));
});

test('UPnP: stop() deletes the mapping and checks the router\'s table', async () => {
  const m = startMapper();
  await until('a mapping', () => m.endpoint !== undefined);
  await m.stop();
  assert.equal(igd.table.size, 0);
  assert.deepEqual(igd.calls.slice(-2).map((c) => c.action), ['DeletePortMapping', 'GetSpecificPortMappingEntry']);
  assert.ok(logged('port mapping deleted', 'info'));
});

test('UPnP: a delete the router answered OK but did not do is reported, not believed', async () => {
  const m = startMapper();
  await until('a mapping', () => m.endpoint !== undefined);
  igd.deleteLies = true;
  await m.stop();
  assert.equal(logged('port mapping deleted'), false);
  const line = log.lines.find((l) => l.message.startsWith('port mapping not deleted'))!;
  assert.match(String(line.meta?.err), /the router still holds UDP port 51820 after DeletePortMapping/);
});

test('UPnP: an SSDP answer from another address than the gateway is ignored', async () => {
  const m = startMapper({ gateway: '127.0.0.3' });
  await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
  assert.equal(m.endpoint, undefined);
  assert.ok(ignoredReasons().some((r) => /SSDP answer not from the gateway 127\.0\.0\.3/.test(r)), JSON.stringify(ignoredReasons()));
  assert.equal(igd.calls.length, 0, 'nothing was asked of the impostor');
});

test('UPnP: a LOCATION on another host is ignored', async () => {
  igd.location = `http://192.0.2.80:${igd.httpPort}/rootDesc.xml`;
  const m = startMapper();
  await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
  assert.equal(m.endpoint, undefined);
  assert.ok(ignoredReasons().some((r) => /SSDP LOCATION http:\/\/192\.0\.2\.80:\d+\/rootDesc\.xml is not on the gateway 127\.0\.0\.1/.test(r)));
});

test('UPnP: a description bigger than 64 KiB is not read', async () => {
  igd.description = `<root>${' '.repeat(UPNP_XML_MAX)}</root>`;
  const m = startMapper();
  await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
  assert.equal(m.endpoint, undefined);
  assert.ok(ignoredReasons().some((r) => /answer of (\d+ bytes, )?more than 65536/.test(r)), JSON.stringify(ignoredReasons()));
});

test('UPnP: a SOAP answer bigger than 64 KiB is not read', async () => {
  igd.oversize = UPNP_XML_MAX + 1;
  const m = startMapper();
  await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
  assert.equal(m.endpoint, undefined);
  assert.ok(ignoredReasons().some((r) => /more than 65536/.test(r)));
});

test('UPnP: an external address that is not IPv4, or not public, is not advertised', async () => {
  igd.externalIp = 'not-an-ip';
  const m = startMapper();
  await until('the attempt given up', () => logged(NONE_MESSAGE, 'info'));
  assert.equal(m.endpoint, undefined);
  assert.match(String(log.lines.find((l) => l.message === NONE_MESSAGE)!.meta?.reasons), /GetExternalIPAddress: "not-an-ip" is not an IPv4 address/);
});

test('UPnP: a control URL pointing away from the gateway is refused', () => {
  const xml = '<root><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>http://198.51.100.5/ctl</controlURL></service></root>';
  assert.throws(() => parseDescription(xml, 'http://192.0.2.1:5000/desc.xml', '192.0.2.1'), (err: Error) => err instanceof PortMapAnswerInvalid && /control URL .* is not on the gateway 192\.0\.2\.1/.test(err.message));
  const rel = parseDescription(xml.replace('http://198.51.100.5/ctl', '/ctl'), 'http://192.0.2.1:5000/desc.xml', '192.0.2.1');
  assert.equal(rel.controlUrl.href, 'http://192.0.2.1:5000/ctl');
});

test('UPnP codec: SSDP answers need 200 and a LOCATION; element text with any prefix, entities unescaped', () => {
  assert.equal(parseSsdpAnswer('HTTP/1.1 200 OK\r\nLocation: http://192.0.2.1:1/x\r\n\r\n').location, 'http://192.0.2.1:1/x');
  assert.throws(() => parseSsdpAnswer('NOTIFY * HTTP/1.1\r\nLOCATION: http://x/\r\n\r\n'), PortMapAnswerInvalid);
  assert.throws(() => parseSsdpAnswer('HTTP/1.1 200 OK\r\n\r\n'), /no LOCATION/);
  assert.equal(elementText('<m:NewExternalIPAddress>203.0.113.1</m:NewExternalIPAddress>', 'NewExternalIPAddress'), '203.0.113.1');
  assert.equal(elementText('<a>x &amp; y</a>', 'a'), 'x & y');
});
