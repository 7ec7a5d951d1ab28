/**
 * The bootstrap crashes (SIGKILL) while 10 hosts are joining at once, and is started again:
 * no two nodes share a mesh IP, every node that got a JoinResponse keeps the IP it was given,
 * and all nodes agree on the member list within 10 s of the restart. Four of the ten cannot reach
 * the bootstrap's join port until it has crashed (their connections reset by a rule in its
 * namespace, as behind a slow or broken path): the crash always lands before every join is
 * answered, however fast the machine answers the other six.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { FileStateStore, type MeshState } from '@wgmesh/bootstrap';
import { join } from 'node:path';
import { createNodeSupervisor, hostAddress, hostExec, isRunning, labAdd, labDown, labHost, labStartNode, labUp, loadLab, parseCidr, type LabState } from '@wgmesh/cli/lab';
import { agentInfo, cliInfo, e2eWgmeshCommand, hostLog, joinedIpFromLog, labSkipReason, leftovers, memberView } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgcrash';
const MESH = 'crash';
const JOINERS = 10;
/**
 * Members in the bootstrap's state file (itself included) when it is killed: two joiners. A join
 * is saved with one journal line now (about a millisecond), so the ten joins are answered as fast
 * as they arrive; the kill has to come early to land while most are still on the way.
 */
const KILL_AT_MEMBERS = 3;
/**
 * The last joiners (h8-h11) are held back until the crash: on a fast machine the six others were
 * all saved and answered before the kill could land (twice in five CI runs), and the test then had
 * no join left unanswered at the crash.
 */
const HELD_BACK = 4;
const CONVERGE_BUDGET_MS = 10_000;
const skip = await labSkipReason({ wireguard: true });

/** What the bootstrap has persisted: its snapshot plus its journal, read as a restart reads them. */
async function readBootstrapState(file: string): Promise<MeshState | undefined> {
  try {
    return await new FileStateStore(file).load();
  } catch {
    // Not written yet, or caught between a compaction's new snapshot and its emptied journal: read again.
    return undefined;
  }
}

describe(`the bootstrap killed while ${JOINERS} hosts join at once`, { skip: skip ?? false }, () => {
  let lab: LabState;
  let joiners: string[] = [];
  /** Mesh IPs of the nodes that had a JoinResponse before the crash, from their own logs. */
  const joinedBefore = new Map<string, string>();
  /** "name=ip" of the members the bootstrap had saved when it died. */
  let savedAtKill: string[] = [];
  /** Joiners whose process had exited by the time the bootstrap was started again: "h2 (exit status 13)". */
  let died: string[] = [];
  /** Starts every node of this lab, so it can tell how one that exited ended. */
  const supervisor = createNodeSupervisor();

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 1, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000, supervisor })).lab;
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  /** The iptables rule (without its -I/-D) that resets a held-back joiner's connections to the bootstrap's join port. */
  const holdRule = (k: number) => ['INPUT', '-s', hostAddress(parseCidr(lab.underlay), k), '-p', 'tcp', '--dport', String(lab.bootstrapPort), '-j', 'REJECT', '--reject-with', 'tcp-reset'];
  const heldBack = Array.from({ length: HELD_BACK }, (_, i) => JOINERS + 1 - i).reverse(); // h8…h11
  async function iptablesInH1(args: string[]): Promise<void> {
    const r = await hostExec(lab, 'h1', ['iptables', '-w', ...args], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`iptables ${args.join(' ')} in h1: ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  test(`SIGKILL once ${KILL_AT_MEMBERS - 1} joins are saved: every JoinResponse sent was saved first`, async (t) => {
    const stateFile = join(labHost(lab, 'h1').stateDir, MESH, 'bootstrap.json');
    for (const k of heldBack) await iptablesInH1(['-I', ...holdRule(k)]);
    const added = await labAdd({ name: LAB, count: JOINERS, wait: false, supervisor });
    lab = added.lab;
    joiners = added.hosts.map((h) => h.name);
    for (const k of heldBack) assert.equal(labHost(lab, `h${k}`).underlayIp, hostAddress(parseCidr(lab.underlay), k), `h${k} is at the address its rule holds back`);
    const spread = Math.max(...added.hosts.map((h) => h.process!.startedMs)) - Math.min(...added.hosts.map((h) => h.process!.startedMs));
    // The kill comes once a joiner has its answer (so the check below is never empty) and the
    // bootstrap has saved KILL_AT_MEMBERS members: an answer the bootstrap sent is not one the
    // joiner read (its socket may be reset under it), so "saved" alone could leave none answered.
    await waitFor(`${KILL_AT_MEMBERS} members in ${stateFile} and a joiner that logged its JoinResponse`, async () =>
      ((await readBootstrapState(stateFile))?.members.length ?? 0) >= KILL_AT_MEMBERS &&
      (await Promise.all(added.hosts.map((h) => hostLog(lab, h.name)))).some((log) => /joined the mesh/.test(log)), 60_000, 1);
    // SIGKILL at once, from here: `lab kill` first records the stop in the lab's state (an fsync),
    // and in those milliseconds the other joins are saved and answered too.
    const bootstrapProcess = labHost(lab, 'h1').process!;
    process.kill(bootstrapProcess.pid, 'SIGKILL');
    await waitFor('the killed bootstrap to be gone', async () => !(await isRunning(bootstrapProcess)), 10_000, 5);
    lab = await loadLab(LAB);
    // The held-back joiners reach the bootstrap's address again: a dead bootstrap now.
    for (const k of heldBack) await iptablesInH1(['-D', ...holdRule(k)]);
    savedAtKill = ((await readBootstrapState(stateFile))?.members ?? []).map((m) => `${m.name}=${m.meshIp}`).sort();

    // Each joiner either logged its JoinResponse or tried and failed to reach the bootstrap.
    await waitFor('every joiner to have joined or retried', async () => {
      const logs = await Promise.all(joiners.map((h) => hostLog(lab, h)));
      return logs.every((log) => /joined the mesh|bootstrap unreachable/.test(log));
    }, 60_000, 100);
    for (const host of joiners) {
      const ip = await joinedIpFromLog(lab, host);
      const saved = await access(join(labHost(lab, host).stateDir, MESH, 'agent.json')).then(() => true, () => false);
      if (ip) joinedBefore.set(host, ip);
      assert.equal(saved, ip !== undefined, `${host}: agent.json exists exactly when it logged a JoinResponse (logged IP: ${ip ?? 'none'})`);
    }
    t.diagnostic(`joins started within ${spread} ms of each other; the bootstrap had saved ${savedAtKill.join(', ')}; ` +
      `JoinResponses before the crash: ${[...joinedBefore].map(([h, ip]) => `${h}=${ip}`).join(', ') || 'none'}`);
    // The test below checks each answered join: the kill waited for one answered joiner, so it is
    // never empty; and no joiner has an answer the bootstrap had not saved.
    const saved = savedAtKill.length - 1; // the bootstrap is a member too
    assert.ok(joinedBefore.size >= 1 && joinedBefore.size <= saved,
      `JoinResponses before the crash: ${joinedBefore.size}, expected 1 to ${saved} (the joiners saved at the kill: ${savedAtKill.join(', ')})`);
    const answeredHeld = heldBack.map((k) => `h${k}`).filter((h) => joinedBefore.has(h));
    assert.deepEqual(answeredHeld, [], 'the held-back joiners had no answer before the crash (their connections were reset)');
    // "records the member, persists, and answers": nothing is answered that a restart would forget.
    for (const [host, ip] of joinedBefore) assert.ok(savedAtKill.includes(`${host}=${ip}`), `${host}=${ip} was answered, so it was saved before the crash`);
  });

  test('the joiners that were not answered keep retrying while the bootstrap is down', async () => {
    // A joiner that keeps retrying logs a second retry within a second; one that gave up (a bug
    // once: an unref()ed backoff timer let the process exit) would be gone.
    const waiting = joiners.filter((h) => !joinedBefore.has(h));
    await waitFor('every unanswered joiner to retry twice or exit', async () => {
      const states = await Promise.all(waiting.map(async (h) => !(await isRunning(labHost(lab, h).process!)) || ((await hostLog(lab, h)).match(/retrying in/g) ?? []).length >= 2));
      return states.every(Boolean);
    }, 20_000, 50);
    died = [];
    for (const host of joiners) {
      const proc = labHost(lab, host).process!;
      if (await isRunning(proc)) continue;
      const exit = supervisor.exitOf(proc);
      const lines = (await hostLog(lab, host)).trimEnd().split('\n');
      died.push(`${host} (${exit ? (exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`) : 'exited'}; last log line: ${lines.at(-1)})`);
    }
    assert.ok(died.length === 0, `joiners that exited while the bootstrap was down:\n${died.join('\n')}`);
  });

  test(`restarted, all ${JOINERS + 1} nodes agree on the member list within ${CONVERGE_BUDGET_MS / 1000} s`, async (t) => {
    assert.ok(joiners.length === JOINERS, 'the joins were started by the first test');
    const started = await labStartNode(LAB, 'h1', { wait: false, supervisor });
    lab = started.lab;
    const restartedMs = started.host.process!.startedMs;
    // Joiners that exited meanwhile (the test above fails then) are started again at the same
    // moment, as systemd's Restart=on-failure would: the subject here is the bootstrap's recovery.
    const restarted: string[] = [];
    for (const host of joiners) {
      if (await isRunning(labHost(lab, host).process!)) continue;
      lab = (await labStartNode(LAB, host, { wait: false, supervisor })).lab;
      restarted.push(host);
    }
    const hosts = ['h1', ...joiners];
    let views = new Map<string, string[]>();
    let convergedMs = Infinity;
    // Polled past the budget, so a miss reports how long it really took.
    await waitFor('every node to list the same members', async () => {
      const infos = await Promise.all(hosts.map(async (h) => [h, await agentInfo(lab, h)] as const));
      views = new Map(infos.map(([h, info]) => [h, info ? memberView(info) : []]));
      const first = views.get('h1')!;
      const agree = first.length === hosts.length && hosts.every((h) => views.get(h)!.join() === first.join());
      if (agree) convergedMs = Date.now() - restartedMs;
      return agree;
    }, CONVERGE_BUDGET_MS + 30_000, 100).catch(() => undefined);
    const detail = `after ${Date.now() - restartedMs} ms: ${hosts.map((h) => `${h} sees ${views.get(h)?.length ?? 0}`).join(', ')}; h1: ${views.get('h1')?.join(' ')}`;
    t.diagnostic(`${convergedMs < Infinity ? `converged ${convergedMs} ms after the restart` : `not converged ${detail}`}; ` +
      `joiners started again with the bootstrap because they had exited: ${restarted.join(', ') || 'none'}`);
    if (convergedMs > CONVERGE_BUDGET_MS) {
      // The evidence: the last lines of every node that does not see everyone.
      for (const h of hosts.filter((x) => (views.get(x)?.length ?? 0) !== hosts.length)) {
        t.diagnostic(`${h}'s log ends with:\n${(await hostLog(lab, h)).trimEnd().split('\n').slice(-6).join('\n')}`);
      }
    }
    assert.ok(convergedMs <= CONVERGE_BUDGET_MS, `converged after ${convergedMs} ms; ${detail}`);
  });

  test('no two nodes share a mesh IP, and every node answered before the crash kept its IP', async () => {
    const hosts = ['h1', ...joiners];
    // Every CLI finishes before anything is asserted: none may still run when the lab goes down.
    const results = await Promise.allSettled(hosts.map((h) => cliInfo(lab, h)));
    const infos = results.map((r, i) => {
      if (r.status === 'rejected') throw new Error(`${hosts[i]}: ${(r.reason as Error).message}`);
      return { host: hosts[i]!, info: r.value };
    });
    const owners = new Map<string, string[]>();
    for (const { host, info } of infos) owners.set(info.meshIp, [...(owners.get(info.meshIp) ?? []), host]);
    const shared = [...owners].filter(([, hs]) => hs.length > 1).map(([ip, hs]) => `${ip}: ${hs.join(', ')}`);
    assert.deepEqual(shared, [], 'each mesh IP has one owner');
    // Every node's own IP is the one the members list (h1's view) has for it.
    const listed = new Map(memberView(infos[0]!.info).map((entry) => entry.split('=') as [string, string]));
    for (const { host, info } of infos) assert.equal(listed.get(host), info.meshIp, `${host}'s own IP is the one the mesh lists`);
    for (const [host, ip] of joinedBefore) {
      assert.equal(infos.find((i) => i.host === host)!.info.meshIp, ip, `${host} keeps the IP of its JoinResponse`);
    }
    // What the bootstrap had saved before the crash survived it.
    for (const entry of savedAtKill) assert.ok(listed.get(entry.split('=')[0]!) === entry.split('=')[1], `${entry} was saved before the crash and is still a member with that IP`);
  });

  test('lab down leaves nothing behind', async () => {
    const current = await loadLab(LAB);
    const processes = current.hosts.flatMap((h) => (h.process ? [h.process] : []));
    const report = await labDown({ name: LAB });
    assert.deepEqual(report.strays, []);
    assert.deepEqual(await leftovers(current, processes), []);
  });
});
