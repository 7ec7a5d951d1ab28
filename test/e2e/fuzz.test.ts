/**
 * A seeded fuzz test of both gRPC services of a real 3-node lab (dev mode). From inside the lab's
 * hosts, test/tools/fuzz-services.ts sends 10,000 requests to each service, half random and half
 * mutated: to the bootstrap's join service (Mesh, from h3 over the underlay) and to h2's local API
 * (Agent, on its socket in h2's own mount namespace). Afterwards no process has crashed, every
 * call got a proper gRPC status, and the mesh is as it was: every node pings every other, lists
 * exactly the three real nodes (alive, with their tags as before), and has exactly the other two
 * as WireGuard peers.
 *
 * WGMESH_FUZZ_SEED picks another seed (the one used is printed), WGMESH_FUZZ_COUNT another number
 * of requests per service. A failing request is sent again, and printed, with
 *   node --conditions=source --import tsx test/tools/fuzz-services.ts --service … --seed S --only I
 * in the same host of a lab (`wgmesh lab up 3 -name wgfuzz -mesh fuzz -from-source`).
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { InfoResponse__Output } from '@wgmesh/agent';
import { REPO_ROOT, hostExec, isRunning, labDown, labEnv, labHost, labUp, type LabState, type ProcessIdentity } from '@wgmesh/cli/lab';
import { agentInfo, e2eWgmeshCommand, hostLog, labSkipReason, meshIps, pingUntil, wgDump } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';
import { FORGED_LOG_LINES, codecs, isTestNet, joinIsSafe, planDigest, planRequest, type FuzzContext, type Summary } from '../tools/fuzz-services.js';

const LAB = 'wgfuzz';
const MESH = 'fuzz';
const SEED = Number(process.env.WGMESH_FUZZ_SEED ?? 424242);
const COUNT = Number(process.env.WGMESH_FUZZ_COUNT ?? 10_000);
const HOSTS = ['h1', 'h2', 'h3'];
/** Outcomes that mean a call was never answered: a stuck or overloaded service. */
const UNANSWERED = ['DEADLINE_EXCEEDED', 'UNAVAILABLE', 'CANCELLED', 'NO_MESSAGE'];
const skip = await labSkipReason({ wireguard: true });

describe("the fuzzer's requests", () => {
  const ctx = (seed: number): FuzzContext => ({
    service: 'mesh',
    seed,
    mesh: MESH,
    meshCidr: '198.18.0.0/16',
    members: HOSTS.map((name, i) => ({ name, publicKey: Buffer.alloc(32, i + 1).toString('base64') })),
  });

  test('are a function of the seed (and what the target told the fuzzer), whatever answers come back', () => {
    assert.equal(planDigest(ctx(SEED), 2_000), planDigest(ctx(SEED), 2_000));
    assert.notEqual(planDigest(ctx(SEED), 2_000), planDigest(ctx(SEED + 1), 2_000));
    assert.equal(planDigest({ ...ctx(SEED), service: 'agent' }, 2_000), planDigest({ ...ctx(SEED), service: 'agent' }, 2_000));
  });

  test('carry endpoints off TEST-NET only in Joins that cannot be accepted, and in sessions none', () => {
    const all = codecs('mesh');
    const c = ctx(SEED);
    let joins = 0;
    for (let i = 0; i < 4_000; i++) {
      const plan = planRequest(c, all, i);
      if (plan.call?.method === 'Join') {
        joins++;
        assert.ok(joinIsSafe(c, all.Join!, plan.call.bytes), `request ${i}`);
      }
      // A session holds the right secret: everything it sends may be accepted.
      for (const request of plan.session ? [plan.session.join, ...plan.session.steps.map((s) => s.request)] : []) {
        for (const e of (request.endpoints ?? []) as { ip: string }[]) assert.ok(isTestNet(e.ip), `request ${i}: ${e.ip}`);
      }
    }
    assert.ok(joins > 500, `${joins} Joins among 4000 requests`);
  });
});

describe(`${COUNT} fuzzed requests to each gRPC service of a 3-node lab (seed ${SEED})`, { skip: skip ?? false }, () => {
  let lab: LabState;
  let processes: ProcessIdentity[];
  /** Each node's tags as h1 listed them before the fuzz. */
  let tagsBefore: Map<string, string>;

  before(async () => {
    // A lab left over by an interrupted run is removed first.
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 3, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
    processes = lab.hosts.map((h) => h.process!);
    tagsBefore = tagsOf((await agentInfo(lab, 'h1'))!);
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  /**
   * Runs the fuzzer inside a lab host, in its network and mount namespaces. Entering a mount
   * namespace moves the working directory to its root, so the loader and script go by absolute path.
   */
  async function fuzz(t: TestContext, host: string, args: string[]): Promise<Summary> {
    const started = Date.now();
    const tsx = import.meta.resolve('tsx');
    const script = path.join(REPO_ROOT, 'test/tools/fuzz-services.ts');
    const result = await hostExec(lab, host, [process.execPath, '--conditions=source', '--import', tsx, script, '--seed', String(SEED), '--count', String(COUNT), ...args], {
      timeoutMs: 150_000,
      env: labEnv(process.env, { TSX_TSCONFIG_PATH: path.join(REPO_ROOT, 'tsconfig.test.json') }),
    });
    assert.equal(result.code, 0, `the fuzzer in ${host} exited ${result.code}: ${result.stderr.trim().split('\n').slice(-8).join('\n')}`);
    const summary = JSON.parse(result.stdout) as Summary;
    t.diagnostic(`${summary.service}: ${summary.count} requests, ${summary.calls} calls in ${((Date.now() - started) / 1000).toFixed(1)} s (fuzzing ${(summary.durationMs / 1000).toFixed(1)} s), seed ${SEED}: ${JSON.stringify(summary.byCode)}; slowest ${JSON.stringify(summary.slowest)}`);
    return summary;
  }

  /** What every run must show: each request answered, each answer a proper status, no INTERNAL but grpc-js's for bytes that do not parse. */
  function assertProperAnswers(summary: Summary, methods: readonly string[]): void {
    assert.equal(summary.count, COUNT);
    assert.deepEqual(summary.errors, [], 'errors that were no gRPC status');
    assert.equal(summary.unexpectedCount, 0, `answers that are no proper gRPC status (UNKNOWN, INTERNAL from a handler, a response that does not decode), with the request; resend with --seed ${SEED} --only INDEX:\n${JSON.stringify(summary.unexpected.slice(0, 5), null, 1)}`);
    assert.equal(summary.byCode.UNKNOWN ?? 0, 0);
    assert.equal(summary.byCode.INTERNAL ?? 0, summary.unparseable, "every INTERNAL is grpc-js's answer to bytes that are not the request message");
    for (const code of UNANSWERED) assert.equal(summary.byCode[code] ?? 0, 0, `${code}: calls left unanswered (a stuck service?): ${JSON.stringify(summary.byKind)}`);
    assert.ok((summary.byCode.OK ?? 0) > 0, 'some requests were valid and accepted');
    for (const method of methods) {
      for (const mode of ['random', 'mutated']) assert.ok(summary.byKind[`${mode}:${method}`], `${mode} ${method} requests were sent`);
    }
  }

  test('the join service (Mesh) of the bootstrap, from h3: every call answered with a status, every fuzz member gone again', async (t) => {
    const bootstrap = labHost(lab, 'h1');
    const summary = await fuzz(t, 'h3', ['--service', 'mesh', '--target', `${bootstrap.underlayIp}:${lab.bootstrapPort}`, '--mesh', MESH]);
    assertProperAnswers(summary, ['Join', 'Update', 'Heartbeat', 'Rtt', 'Leave', 'Watch']);
    const mesh = summary.mesh!;
    t.diagnostic(`mesh: ${mesh.joinsAccepted} Joins accepted (${mesh.sessions} sessions), ${mesh.leavesOk} left again`);
    assert.deepEqual(summary.members, HOSTS, 'the fuzzer saw the three real nodes');
    assert.ok(mesh.sessions > 0 && mesh.joinsAccepted >= mesh.sessions, 'fuzz members joined and made calls with their secret');
    assert.equal(mesh.joinsUnanswered, 0, 'no Join whose outcome is unknown');
    assert.deepEqual(mesh.leavesFailed, []);
    assert.equal(mesh.leavesOk, mesh.joinsAccepted, 'every accepted Join was followed by a Leave');
    assert.deepEqual(mesh.lingering, [], 'no fuzz member is left in the mesh');
  });

  test("the local API (Agent) of h2, on its socket: every call answered with a status, h2's tags as before", async (t) => {
    const summary = await fuzz(t, 'h2', ['--service', 'agent', '--target', '/var/run/wgmesh.sock']);
    assertProperAnswers(summary, ['Info', 'Nodes', 'Watch', 'SetTag', 'DeleteTag', 'Rtt']);
    assert.deepEqual(summary.members, HOSTS);
    const agent = summary.agent!;
    t.diagnostic(`agent: ${Object.keys(agent.tagsAfterFuzz).length} tags set by the fuzz, then removed; control error right after: ${JSON.stringify(agent.controlErrorAfterFuzz)}`);
    assert.ok(agent.tagsRestored, `h2's tags put back as they were: ${JSON.stringify(agent.tagsBefore)}`);
  });

  test('no process crashed: the bootstrap and both agents are the ones the lab started', async () => {
    for (const [i, p] of processes.entries()) assert.ok(await isRunning(p), `${HOSTS[i]}'s wgmesh (PID ${p.pid}) is still running`);
  });

  test('every node pings every other over the mesh', async () => {
    const ips = meshIps(lab);
    const pairs = HOSTS.flatMap((from) => HOSTS.filter((to) => to !== from).map((to) => ({ from, ip: ips.get(to)! })));
    await Promise.all(pairs.map((p) => pingUntil(lab, p.from, p.ip, 20_000)));
  });

  test('every node lists exactly the three real nodes, all alive with their tags as before, and the bootstrap accepts its calls', async () => {
    for (const host of HOSTS) {
      // Statuses and tags settle with the next heartbeats after the fuzz.
      const info = await waitFor(`${host} to list h1, h2 and h3, alive, with their tags as before and no refused call`, async () => {
        const i = await agentInfo(lab, host);
        if (!i) return undefined;
        const names = [i.nodeName, ...i.peers.map((p) => p.node?.name ?? '?')].sort();
        const alive = i.peers.every((p) => p.node?.status === 'NODE_STATUS_ALIVE');
        const sameTags = [...tagsOf(i)].every(([name, tags]) => tags === tagsBefore.get(name));
        return JSON.stringify(names) === JSON.stringify(HOSTS) && alive && sameTags && i.controlError === '' ? i : undefined;
      }, 20_000, 200).catch(async (err: Error) => assert.fail(`${err.message}; ${host} shows: ${describeInfo(await agentInfo(lab, host))}`));
      assert.equal(info.peers.length, 2);
    }
  });

  test('each WireGuard interface has exactly the two other nodes as peers', async () => {
    const keys = new Map<string, string>();
    for (const host of HOSTS) keys.set(host, (await wgDump(lab, host)).publicKey);
    for (const host of HOSTS) {
      const others = HOSTS.filter((h) => h !== host).map((h) => keys.get(h)!).sort();
      const peers = await waitFor(`${host} to have exactly the two other nodes as WireGuard peers`, async () => {
        const found = (await wgDump(lab, host)).peers.map((p) => p.publicKey).sort();
        return JSON.stringify(found) === JSON.stringify(others) ? found : undefined;
      }, 15_000, 200).catch(async (err: Error) => assert.fail(`${err.message}; wg show lists: ${(await wgDump(lab, host)).peers.map((p) => p.publicKey).join(', ')}`));
      assert.equal(peers.length, 2);
    }
  });

  // Requests carry values such as "\n2026-11-22T00:00:00.000Z error [bootstrap] node joined …"; the
  // bootstrap's "join refused" warning logs the node name as sent: escaped, it stays on its line.
  test('no request forged a line in a node log', async () => {
    const forged = FORGED_LOG_LINES.map((v) => v.split(/\r?\n/)[1]).filter((line): line is string => (line ?? '').length >= 10);
    for (const host of HOSTS) {
      const lines = (await hostLog(lab, host)).split(/\r?\n/);
      const found = lines.filter((l) => forged.some((f) => l.startsWith(f)));
      assert.equal(found.length, 0, `${host}.log has ${found.length} forged lines, e.g. ${JSON.stringify(found.slice(0, 2))}`);
    }
  });
});

/** node name → its tags (as JSON) as this node lists them. */
function tagsOf(info: InfoResponse__Output): Map<string, string> {
  const tags = new Map<string, string>();
  const sorted = (t: Record<string, string> | undefined) => JSON.stringify(Object.entries(t ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
  tags.set(info.nodeName, sorted(info.tags));
  for (const p of info.peers) tags.set(p.node?.name ?? '?', sorted(p.node?.tags));
  return tags;
}

function describeInfo(info: InfoResponse__Output | undefined): string {
  if (!info) return 'no answer';
  const peers = info.peers.map((p) => `${p.node?.name}=${p.node?.status}${Object.keys(p.node?.tags ?? {}).length ? ` tags ${JSON.stringify(p.node?.tags)}` : ''}`);
  return `${info.nodeName} (tags ${JSON.stringify(info.tags)}), peers ${peers.join(', ')}, control error ${JSON.stringify(info.controlError)}`;
}
