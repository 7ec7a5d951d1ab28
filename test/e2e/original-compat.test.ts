/**
 * A mesh set up the way a user of the original wgmesh sets one up, with the built CLI in two lab
 * hosts: the bootstrap from the original's nested config file, the join from its environment
 * variables and flag spellings. Then what its tools read: the memberlist export in its format
 * (-memberlist-format original: mode 0640, the members and a service set with `tags -set`,
 * removed on exit), `info`'s first two lines, and the "Mesh has N nodes" log line.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostCommand, hostExec, labDown, labEnv, labUp, type LabState } from '@wgmesh/cli/lab';
import { e2eWgmeshCommand, labSkipReason, ping } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgoc';
const MESH = 'oc';
const skip = await labSkipReason({ wireguard: true });

describe('users of the original wgmesh move over unchanged', { skip: skip ?? false }, () => {
  let lab: LabState;
  /** Under /tmp, which lab hosts share with this process. */
  let dir: string;
  const children: ChildProcess[] = [];
  let bootstrap: ChildProcess;
  const members = () => path.join(dir, 'members.json');
  const sock = (host: string) => path.join(dir, `${host}.sock`);

  function start(host: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const [file, ...rest] = hostCommand(lab, host, ['wgmesh', ...args]);
    const fd = openSync(path.join(dir, `${host}.log`), 'a');
    const child = spawn(file!, rest, { stdio: ['ignore', fd, fd], env: labEnv(process.env, { WGMESH_LOG_LEVEL: 'info', ...env }) });
    closeSync(fd);
    children.push(child);
    return child;
  }

  async function stop(child: ChildProcess): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    return exited;
  }

  const log = (host: string) => readFile(path.join(dir, `${host}.log`), 'utf8');
  const exported = async () => JSON.parse(await readFile(members(), 'utf8'));

  before(async () => {
    dir = await mkdtemp('/tmp/wgmesh-original-compat-');
    await labDown({ name: LAB });
    ({ lab } = await labUp({ name: LAB, hosts: 2, mesh: MESH, hostsOnly: true, wgmeshCommand: e2eWgmeshCommand() }));
    // Step 1: the bootstrap from the original's nested config file, with an obsolete serf setting.
    const config = path.join(dir, 'wgmesh.yaml');
    await writeFile(config, [
      `mesh-name: ${MESH}`,
      'node-name: h1',
      `memberlist-file: ${members()}`,
      'bootstrap:',
      '  mesh-cidr-range: 198.18.0.0/16',
      '  node-ip: 198.18.0.1',
      '  serf-mode-lan: true',
      'agent:',
      `  agent-grpc-bind-socket: ${sock('h1')}`,
      '',
    ].join('\n'));
    bootstrap = start('h1', ['bootstrap', '-dev', '-config', config, '-memberlist-format', 'original', '-state-dir', path.join(dir, 'h1-state')]);
    // Step 2: the join from the original's environment variables and flag spellings.
    start('h2', ['join', '-dev', '-name', MESH, '-agent-grpc-bind-socket', sock('h2'), '-state-dir', path.join(dir, 'h2-state')],
      { WGMESH_BOOTSTRAP_ADDR: '192.0.2.1:5000', WGMESH_NODE_NAME: 'h2' });
    await waitFor('h2 to reach h1 over the mesh', () => ping(lab, 'h2', '198.18.0.1'), 30_000, 100);
  });

  after(async () => {
    for (const child of children.reverse()) await stop(child);
    if (lab) await labDown({ name: LAB });
    await rm(dir, { recursive: true, force: true });
  });

  test('the bootstrap warned about the serf setting, and logs the mesh size as the original does', async () => {
    const text = await waitFor('h1 to log the second node', async () => {
      const t = await log('h1');
      return /Mesh has 2 nodes/.test(t) ? t : undefined;
    }, 10_000, 100);
    assert.match(text, /warning: config file .*"bootstrap\.serf-mode-lan" is ignored: .*-suspect-after/);
    assert.match(text, /Mesh has 1 nodes[\s\S]*Mesh has 2 nodes/);
  });

  test('the memberlist export in the original\'s format, mode 0640', async () => {
    const doc = await waitFor('the export to list both nodes', async () => {
      const d = await exported().catch(() => undefined);
      return d && Object.keys(d.members).length === 2 ? d : undefined;
    }, 10_000, 100);
    assert.deepEqual(Object.keys(doc), ['members', 'services', 'lastUpdate']);
    assert.deepEqual(Object.keys(doc.members), ['h1', 'h2']);
    assert.deepEqual(Object.keys(doc.members.h1), ['addr', 'st', 'rtt', 'tags']);
    assert.equal(doc.members.h1.addr, '198.18.0.1');
    assert.equal(doc.members.h2.st, 'alive');
    assert.equal(typeof doc.lastUpdate, 'number');
    assert.equal((await stat(members())).mode & 0o777, 0o640);
  });

  test('tags -set with a service (commas in the value) through the original\'s socket flag: exported as a service, shown by info', async () => {
    const set = await hostExec(lab, 'h2', ['wgmesh', 'tags', '-agent-grpc-socket', sock('h2'), '-set', 'svc:web=port=8080,proto=tcp'], { timeoutMs: 10_000 });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^svc:web=port=8080,proto=tcp$/m);
    const doc = await waitFor('the export to list the service', async () => {
      const d = await exported().catch(() => undefined);
      return d?.services?.web ? d : undefined;
    }, 10_000, 100);
    assert.deepEqual(doc.services.web, { nodes: ['h2'], port: 8080, tags: { proto: 'tcp' } });
    assert.equal(doc.members.h2.tags['svc:web'], 'port=8080,proto=tcp');

    const info = await hostExec(lab, 'h1', ['wgmesh', 'info'], { timeoutMs: 10_000, env: labEnv(process.env, { WGMESH_AGENT_SOCKET: sock('h1') }) });
    assert.equal(info.code, 0, info.stderr);
    const lines = info.stdout.split('\n');
    assert.match(lines[0]!, new RegExp(`^Mesh '${MESH}' has 2 nodes, started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d{4} \\S+$`));
    assert.match(lines[1]!, /^This node 'h1' joined \d{4}-\d\d-\d\d /);
    assert.match(info.stdout, /^services:\nSERVICE +NODE +ADDRESS +TAGS\nweb +h2 +198\.18\.\d+\.\d+:8080 +proto=tcp/m);

    const refused = await hostExec(lab, 'h2', ['wgmesh', 'tags', '-agent-grpc-socket', sock('h2'), '-set', '_origin=me'], { timeoutMs: 10_000 });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /tags starting with _ are internal/);
  });

  test('the export is removed when the bootstrap exits, as the original does', async () => {
    assert.equal(await stop(bootstrap), 0);
    await assert.rejects(stat(members()), { code: 'ENOENT' });
  });
});
