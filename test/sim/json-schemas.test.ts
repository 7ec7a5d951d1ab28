import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { LocalApiServer, MemberlistExporter, type Agent } from '@wgmesh/agent';
import type { Bootstrap } from '@wgmesh/bootstrap';
import { main } from '@wgmesh/cli';
import { makeAgent, startBootstrap, tempDir } from '../helpers/inprocess.js';
import { captureStdout } from '../helpers/capture.js';
import { waitFor } from '../helpers/wait.js';

const SCHEMAS = path.resolve(import.meta.dirname, '../../docs/schemas');
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

describe('JSON outputs match the schemas kept in docs/schemas', () => {
  let bootstrap: Bootstrap;
  let agents: Agent[];
  let api: LocalApiServer;
  let exporter: MemberlistExporter;
  let dir: string;
  let cleanup: () => Promise<void>;
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);

  const validate = async (schema: string, value: unknown) => {
    const check = ajv.compile(JSON.parse(await readFile(path.join(SCHEMAS, schema), 'utf8')));
    assert.ok(check(value), `${schema}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(value).slice(0, 500)}`);
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    ({ bootstrap } = await startBootstrap(path.join(dir, 'state.json')));
    agents = [makeAgent('alpha', bootstrap.port, 1).agent, makeAgent('bravo', bootstrap.port, 2).agent];
    await Promise.all(agents.map((a) => a.start()));
    await agents[0]!.setTag('role', 'db');
    await agents[1]!.setTag('svc:web', 'port=80,proto=tcp');
    await waitFor('alpha to see 3 nodes', () => agents[0]!.netmap.nodes.size === 3);
    await waitFor('alpha to see bravo\'s service', () => agents[0]!.netmap.nodes.get('bravo')?.tags['svc:web'] !== undefined);
    api = new LocalApiServer(agents[0]!, { socketPath: path.join(dir, 'agent.sock') });
    await api.start();
    exporter = new MemberlistExporter(agents[0]!, path.join(dir, 'members.json'));
    exporter.start();
  });

  after(async () => {
    await exporter?.stop();
    await api?.stop();
    await Promise.all((agents ?? []).map((a) => a.stop({ leave: false })));
    await bootstrap?.stop();
    await cleanup?.();
  });

  test('wgmesh info -json', async () => {
    const out = await captureStdout(() => main(['info', '-json', '-socket', path.join(dir, 'agent.sock')], {}));
    const doc = JSON.parse(out);
    await validate('info.schema.json', doc);
    assert.equal(doc.peers.length, 2);
    assert.equal(doc.tags.role, 'db');
    assert.deepEqual(doc.bootstrapAddrs, [], 'an agent given no bootstrap address lists none');
    assert.deepEqual(doc.services, [{ name: 'web', node: 'bravo', meshIp: agents[1]!.meshIp, port: 80, tags: { proto: 'tcp' } }]);
  });

  test('wgmesh rtt -json', async () => {
    const out = await captureStdout(() => main(['rtt', '-json', '-socket', path.join(dir, 'agent.sock')], {}));
    const doc = JSON.parse(out);
    await validate('rtt.schema.json', doc);
    assert.deepEqual(doc.nodes, ['alpha', 'bootstrap', 'bravo']);
  });

  test('the memberlist file', async () => {
    await exporter.flush();
    const doc = JSON.parse(await readFile(path.join(dir, 'members.json'), 'utf8'));
    await validate('memberlist.schema.json', doc);
    assert.equal(doc.nodes.length, 3);
    assert.equal(doc.revision, agents[0]!.netmap.revision);
  });

  test('the schemas reject what they should (a check that can fail)', async () => {
    const check = ajv.getSchema('wgmesh/memberlist.schema.json')!;
    assert.equal(check({ mesh: 'x', cidr: '198.18.0.0/16', revision: -1, updated: 'now', nodes: [] }), false);
  });
});
