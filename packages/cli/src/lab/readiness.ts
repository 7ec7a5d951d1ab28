/**
 * Readiness: waiting for a lab's nodes through their local API (the Info call `wgmesh info
 * -json` prints) until each sees the peers it should, failing fast, with its log's tail, when
 * a node exits.
 */
import { realpath } from 'node:fs/promises';
import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';
import { LAB_DEFAULTS } from './constants.js';
import { LabNotReady, NodeExited } from './errors.js';
import { labHost, resolveLab } from './hosts.js';
import { labPaths } from './plan.js';
import { nodeInfoOf, type NodeInfo } from './parse.js';
import { replaceHost, updateLabState, type LabHost, type LabState } from './state.js';
import { logTail } from './supervisor.js';
import { isRunning, sleep } from './sys.js';
import type { LabRef, NodeSupervisor, Progress, WaitForMeshOptions } from './types.js';

/**
 * A host's node status (the Info call `wgmesh info -json` prints, the same object), straight from
 * its local API socket: reached in the host's mount namespace through /proc/PID/root, it costs a
 * few milliseconds where starting the CLI in the host costs a Node process per poll (which, with
 * ten hosts polled five times a second, kept both cores busy while a lab came up). Undefined
 * while the node does not answer.
 */
export async function localNodeInfo(lab: LabState, host: string, timeoutMs = 2_000): Promise<InfoResponse__Output | undefined> {
  const pid = labHost(lab, host).process?.pid;
  if (pid === undefined) return undefined;
  // Loaded here: the other lab commands do not need gRPC.
  const { connectLocal, deadline, unary } = await import('../local-api/client.js');
  // Through /proc/PID/root an absolute symlink (/var/run -> /run) would resolve against our own
  // root, so the real directory is used.
  const runDir = await realpath('/var/run').catch(() => '/run');
  let client: ReturnType<typeof connectLocal>;
  try {
    client = connectLocal(`/proc/${pid}/root${runDir}/wgmesh.sock`);
  } catch {
    return undefined;
  }
  try {
    // Through JSON, exactly as `wgmesh info -json` prints it.
    return JSON.parse(JSON.stringify(await unary<InfoResponse__Output>((cb) => client.info({}, deadline(timeoutMs), cb)))) as InfoResponse__Output;
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/** The parts of a host's node status the lab reads; undefined while the node does not answer. */
async function nodeInfo(lab: LabState, host: string, timeoutMs: number): Promise<NodeInfo | undefined> {
  const info = await localNodeInfo(lab, host, timeoutMs);
  return info ? nodeInfoOf(info) : undefined;
}

export interface WaitForNodesOptions {
  readonly timeoutMs: number;
  readonly onProgress?: Progress | undefined;
  /** Who started the nodes, to say how one that exited ended; without it, only its log is quoted. */
  readonly supervisor?: NodeSupervisor | undefined;
}

/**
 * Polls the given hosts' local API until each lists `expected(host)` among its peers; fails
 * fast with the log's tail when a node exits. Returns the hosts with mesh IPs.
 */
export async function waitForNodes(lab: LabState, hosts: readonly LabHost[], expected: (host: LabHost) => readonly string[], options: WaitForNodesOptions): Promise<LabHost[]> {
  const deadline = Date.now() + options.timeoutMs;
  // Once one host fails, the others stop polling (a CLI must not linger until the deadline).
  let failed = false;
  return Promise.all(
    hosts.map(async (host) => {
      const want = expected(host);
      let last = 'no answer yet';
      for (;;) {
        if (failed) return host;
        if (host.process && !(await isRunning(host.process))) {
          failed = true;
          const exit = options.supervisor?.exitOf(host.process);
          const how = exit ? `\n(${exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`})` : '';
          throw new NodeExited(host.name, host.logFile, (await logTail(host.logFile)) + how);
        }
        const info = await nodeInfo(lab, host.name, Math.max(1_000, Math.min(2_000, deadline - Date.now())));
        if (info) {
          const seen = new Set(info.peers.map((p) => p.name));
          const missing = want.filter((name) => !seen.has(name));
          if (missing.length === 0 && info.meshIp) {
            options.onProgress?.(`${host.name}: ${info.meshIp}, ${info.peers.length} peer${info.peers.length === 1 ? '' : 's'}`);
            return { ...host, meshIp: info.meshIp };
          }
          last = `sees ${info.peers.length} peer(s), missing ${missing.join(', ') || 'its mesh IP'}`;
        }
        if (Date.now() >= deadline) {
          failed = true;
          // The log's tail in the error: a test's teardown removes the lab, log files included.
          throw new LabNotReady(`${host.name} not ready after ${options.timeoutMs} ms (${last}); last lines of ${host.logFile}:\n${(await logTail(host.logFile)) || '(empty)'}`);
        }
        await sleep(LAB_DEFAULTS.pollIntervalMs);
      }
    }),
  );
}

/** The hosts whose wgmesh (as the lab started it) is running now. */
export async function runningHosts(lab: LabState): Promise<LabHost[]> {
  const running: LabHost[] = [];
  for (const h of lab.hosts) if (h.process && (await isRunning(h.process))) running.push(h);
  return running;
}

/** Waits until every running node sees every other running node; records their mesh IPs. */
export async function waitForMesh(ref: LabRef, options: WaitForMeshOptions = {}): Promise<LabState> {
  const lab = await resolveLab(ref);
  const running = await runningHosts(lab);
  const names = running.map((h) => h.name);
  const ready = await waitForNodes(lab, running, (h) => names.filter((n) => n !== h.name), {
    timeoutMs: options.timeoutMs ?? LAB_DEFAULTS.readyTimeoutMs,
    onProgress: options.onProgress,
    supervisor: options.supervisor,
  });
  // Only the mesh IPs are this wait's to record; the rest of lab.json is as other commands left it.
  return updateLabState(labPaths(lab.name).stateFile, (current) =>
    ready.reduce((acc, h) => (acc.hosts.some((x) => x.name === h.name) && h.meshIp ? replaceHost(acc, { ...labHost(acc, h.name), meshIp: h.meshIp }) : acc), current));
}
