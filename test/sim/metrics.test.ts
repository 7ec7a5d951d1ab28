import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { generateKeyPair, loadProtos, MetricsRegistry, MetricsServer, registerAgentMetrics, type Agent, type MeshClient } from '@wgmesh/agent';
import { registerBootstrapMetrics, type Bootstrap } from '@wgmesh/bootstrap';
import { makeAgent, startBootstrap, tempDir, MESH } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

interface Family { name: string; type: string; metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string }[] }

function scrape(port: number): Promise<Family[]> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(parsePrometheusTextFormat(body) as Family[]) : reject(new Error(`HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

const family = (families: Family[], name: string) => {
  const f = families.find((x) => x.name === name);
  assert.ok(f, `metric ${name} is exported`);
  return f;
};

let bootstrap: Bootstrap;
let agents: Agent[];
let server: MetricsServer;
let cleanup: () => Promise<void>;

before(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir());
  ({ bootstrap } = await startBootstrap(path.join(dir, 'state.json')));
  const registry = new MetricsRegistry();
  registerAgentMetrics(registry, bootstrap.agent!);
  registerBootstrapMetrics(registry, bootstrap);
  server = new MetricsServer(registry, '127.0.0.1:0');
  await server.start();
  agents = [makeAgent('alpha', bootstrap.port, 1).agent, makeAgent('bravo', bootstrap.port, 2).agent];
  await Promise.all(agents.map((a) => a.start()));
  // One refused join, for the rejection counter.
  const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
  const raw: MeshClient = new Mesh(`127.0.0.1:${bootstrap.port}`, grpc.credentials.createInsecure());
  await new Promise<void>((resolve) => raw.join({ meshName: MESH, nodeName: 'bad_name', publicKey: generateKeyPair().publicKey, listenPort: 1 }, () => resolve()));
  raw.close();
});

after(async () => {
  await server?.stop();
  await Promise.all((agents ?? []).map((a) => a.stop({ leave: false })));
  await bootstrap?.stop();
  await cleanup?.();
});

test('the metrics endpoint serves Prometheus text that a parser reads', async () => {
  await waitFor('the bootstrap node to configure both peers', async () => (await bootstrap.agent!.driver.read()).peers.length === 2);
  const families = await scrape(server.boundPort);

  const members = family(families, 'wgmesh_members');
  assert.equal(members.type, 'GAUGE');
  assert.equal(members.metrics.find((m) => m.labels?.status === 'alive')?.value, '3');
  assert.equal(members.metrics.find((m) => m.labels?.status === 'failed')?.value, '0');

  const joins = family(families, 'wgmesh_joins_total');
  assert.equal(joins.type, 'COUNTER');
  assert.equal(joins.metrics.find((m) => m.labels?.result === 'accepted')?.value, '2');
  assert.equal(joins.metrics.find((m) => m.labels?.result === 'rejected' && m.labels.reason === 'InvalidField')?.value, '1');

  const fanout = family(families, 'wgmesh_fanout_seconds');
  assert.equal(fanout.type, 'HISTOGRAM');
  assert.ok(Number(fanout.metrics[0]!.count) >= 2, 'each join was fanned out');

  assert.equal(family(families, 'wgmesh_peers_configured').metrics[0]!.value, '2');
  assert.equal(family(families, 'wgmesh_watchers').metrics[0]!.value, '2');
  const fellBehind = family(families, 'wgmesh_watchers_fell_behind_total');
  assert.equal(fellBehind.type, 'COUNTER');
  assert.equal(fellBehind.metrics[0]!.value, '0');
  assert.ok(Number(family(families, 'wgmesh_membership_revision').metrics[0]!.value) >= 3);
});

test('anything but /metrics is 404', async () => {
  const status = await new Promise<number>((resolve) => get({ host: '127.0.0.1', port: server.boundPort, path: '/' }, (res) => { res.resume(); resolve(res.statusCode!); }));
  assert.equal(status, 404);
});
