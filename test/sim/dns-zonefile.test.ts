import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MemberlistExporter, type Agent } from '@wgmesh/agent';
import type { Bootstrap } from '@wgmesh/bootstrap';
import { makeAgent, startBootstrap, tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The original wgmesh's DNS example turns its memberlist export into a zone: with
 * -memberlist-format original our export feeds it unchanged (the script is a fixture with the
 * same logic: lastUpdate as the SOA serial, nodes and services as records).
 */

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const SCRIPT = path.join(FIXTURES, 'dns-zonefile.mjs');

/** The zone the script prints for the memberlist file `file`. */
async function zoneOf(file: string, origin = 'samplemesh.local'): Promise<string> {
  const input = await open(file, 'r');
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = execFile(process.execPath, [SCRIPT, origin], (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
      input.createReadStream().pipe(child.stdin!);
    });
  } finally {
    await input.close();
  }
}

describe('the original\'s DNS zone-file example reads our export', () => {
  let bootstrap: Bootstrap;
  let agents: Agent[];
  let exporter: MemberlistExporter;
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    ({ bootstrap } = await startBootstrap(path.join(dir, 'state.json')));
    agents = [makeAgent('alpha', bootstrap.port, 1).agent, makeAgent('bravo', bootstrap.port, 2).agent];
    await Promise.all(agents.map((a) => a.start()));
    await agents[1]!.setTag('svc:web', 'port=8080,proto=tcp');
    await waitFor('alpha to see bravo\'s service', () => agents[0]!.netmap.nodes.size === 3 && agents[0]!.netmap.nodes.get('bravo')?.tags['svc:web'] !== undefined);
    exporter = new MemberlistExporter(agents[0]!, path.join(dir, 'members.json'), undefined, { format: 'original' });
    exporter.start();
  });

  after(async () => {
    await exporter?.stop();
    await Promise.all((agents ?? []).map((a) => a.stop({ leave: false })));
    await bootstrap?.stop();
    await cleanup?.();
  });

  test('a zone of a running mesh: the serial, every node, the service', async () => {
    await exporter.flush();
    const file = path.join(dir, 'members.json');
    const doc = JSON.parse(await readFile(file, 'utf8'));
    const zone = await zoneOf(file);
    const ip = (name: string) => agents[0]!.netmap.nodes.get(name)!.meshIp;

    assert.match(zone, new RegExp(`^@ 1800 IN SOA ns1 none \\( ${doc.lastUpdate} 7200`, 'm'), 'lastUpdate is the serial');
    assert.ok(Math.abs(doc.lastUpdate - Date.now() / 1000) < 60, 'a Unix time in seconds');
    for (const name of ['alpha', 'bootstrap', 'bravo']) {
      assert.match(zone, new RegExp(`^${name} IN A ${ip(name).replace(/\./g, '\\.')}$`, 'm'), name);
      assert.match(zone, new RegExp(`^all IN A ${ip(name).replace(/\./g, '\\.')}$`, 'm'));
    }
    assert.match(zone, new RegExp(`^web IN A ${ip('bravo').replace(/\./g, '\\.')}$`, 'm'));
    assert.match(zone, /^_web\._tcp IN SRV 0 0 8080 bravo$/m);
    assert.match(zone, /^web IN TXT "port=8080"$/m);
  });

  test('the whole zone of the fixture export (test/fixtures/memberlist-original.json)', async () => {
    assert.equal(await zoneOf(path.join(FIXTURES, 'memberlist-original.json')), [
      '$ORIGIN samplemesh.local.',
      '$TTL 60',
      '@ 1800 IN SOA ns1 none ( 1764664767 7200 3600 1209600 3600 )',
      '@ 1800 IN NS ns1',
      '',
      '; A records: every node by its mesh IP, and all of them as "all"',
      'h1 IN A 10.232.1.1',
      'h2 IN A 10.232.1.2',
      'h3 IN A 10.232.1.3',
      'h4 IN A 10.232.1.4',
      'all IN A 10.232.1.1',
      'all IN A 10.232.1.2',
      'all IN A 10.232.1.3',
      'all IN A 10.232.1.4',
      '',
      '; services: the nodes offering each, its port',
      'dns IN A 10.232.1.4',
      '_dns._udp IN SRV 0 0 53 h4',
      'dns IN TXT "port=53"',
      'nginx IN A 10.232.1.2',
      '_nginx._tcp IN SRV 0 0 8080 h2',
      'nginx IN A 10.232.1.3',
      '_nginx._tcp IN SRV 0 0 8080 h3',
      'nginx IN TXT "port=8080"',
      '',
    ].join('\n'));
  });
});
