/**
 * A `wgmesh join` whose start fails, at each step in turn, stops everything it had started: the
 * real CLI in a lab host, with real WireGuard (wireguard-go) and a real bootstrap in another host.
 * After each failing start the host must hold no wgmesh or wireguard-go process, no WireGuard
 * interface, and its socket path as it was; the command must exit non-zero saying what went wrong
 * and what to do.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadProtos, type InfoResponse__Output } from '@wgmesh/agent';
import { hostCommand, hostExec, labDown, labEnv, labHost, labUp, runCapture, type LabState } from '@wgmesh/cli/lab';
import { e2eWgmeshCommand, labSkipReason } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgstart';
const MESH = 'sf';
/** Where h1's bootstrap serves; nothing listens on UNREACHABLE. */
const BOOTSTRAP = '192.0.2.1:5000';
const UNREACHABLE = '192.0.2.1:5999';
/** Ports the helper in h2 holds, as "another program" would. */
const METRICS_PORT = 9586;
const WG_PORT = 54600;
const skip = await labSkipReason({ wireguard: true });

describe('a join whose start fails leaves nothing running', { skip: skip ?? false }, () => {
  let lab: LabState;
  /** Under /tmp, which lab hosts share with this process (their /run is their own). */
  let dir: string;
  let bootstrap: ChildProcess | undefined;
  let helper: ChildProcess | undefined;
  /** The helper's socket: another process serving where a node would put its local API. */
  let otherSocket: string;

  /** Runs a command in a lab host in the background; nsenter execs it, so the PID is the command's own. */
  function startIn(host: string, cmd: string[], log?: string): ChildProcess {
    const [file, ...args] = hostCommand(lab, host, cmd, cmd[0] === 'wgmesh');
    const fd = log ? openSync(log, 'a') : undefined;
    const child = spawn(file!, args, { stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'], env: labEnv(process.env, { WGMESH_LOG_LEVEL: 'info' }) });
    if (fd !== undefined) closeSync(fd);
    return child;
  }

  before(async () => {
    dir = await mkdtemp('/tmp/wgmesh-start-failure-');
    otherSocket = path.join(dir, 'other.sock');
    await labDown({ name: LAB });
    ({ lab } = await labUp({ name: LAB, hosts: 2, mesh: MESH, hostsOnly: true, wgmeshCommand: e2eWgmeshCommand() }));

    // h1: a bootstrap the joins can reach; its local API on a socket this process can see.
    bootstrap = startIn('h1', ['wgmesh', 'bootstrap', '-dev', '-n', MESH, '-cidr', '198.18.0.0/16', '-ip', '198.18.0.1', '-node-name', 'h1', '-socket', path.join(dir, 'h1.sock')], path.join(dir, 'h1.log'));
    await waitFor('the bootstrap in h1 to serve', async () => (await bootstrapMembers().catch(() => undefined)) !== undefined, 60_000, 200);

    // h2: another program holding a Unix socket, the metrics port and a UDP port.
    const script = `
      const net = require('node:net'), dgram = require('node:dgram');
      const [sock, tcp, udp] = process.argv.slice(1);
      let ready = 0; const one = () => { if (++ready === 3) console.log('ready'); };
      net.createServer((c) => c.end()).listen(sock, one);
      net.createServer((c) => c.end()).listen(Number(tcp), '127.0.0.1', one);
      dgram.createSocket('udp4').bind(Number(udp), one);`;
    helper = startIn('h2', [process.execPath, '-e', script, otherSocket, String(METRICS_PORT), String(WG_PORT)]);
    await new Promise<void>((resolve, reject) => {
      helper!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      helper!.once('exit', (code) => reject(new Error(`the helper in h2 exited (${code})`)));
    });
  });

  after(async () => {
    for (const child of [bootstrap, helper]) {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
    await labDown({ name: LAB });
    await rm(dir, { recursive: true, force: true });
  });

  /** The member names h1's bootstrap lists, from its local API. */
  async function bootstrapMembers(): Promise<string[]> {
    const Agent = loadProtos().agent.wgmesh.v1.Agent;
    const client = new Agent(`unix://${path.join(dir, 'h1.sock')}`, grpc.credentials.createInsecure());
    try {
      const info = await new Promise<InfoResponse__Output>((resolve, reject) =>
        client.info({}, { deadline: Date.now() + 2_000 }, (err, res) => (err ? reject(err) : resolve(res!))));
      return [info.nodeName, ...info.peers.map((p) => p.node?.name ?? '?')].sort();
    } finally {
      client.close();
    }
  }

  /**
   * `wgmesh join` in h2 with its own node name, state dir and socket, to `bootstrap` (one
   * address: -bootstrap-addr given twice means two bootstraps); `during` runs while it is up (to
   * signal it). Resolves when it has exited.
   */
  async function join(
    name: string, args: string[], during?: (child: ChildProcess, stderr: () => string) => Promise<void>, bootstrap = BOOTSTRAP,
  ): Promise<{ code: number | null; stderr: string; socket: string; stateDir: string }> {
    const socket = path.join(dir, `${name}.sock`);
    const stateDir = path.join(dir, `${name}-state`);
    const child = startIn('h2', ['wgmesh', 'join', '-dev', '-n', MESH, '-bootstrap-addr', bootstrap, '-node-name', name, '-state-dir', stateDir, '-socket', socket, ...args]);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    if (during) await during(child, () => stderr);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<never>((_, reject) => (timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`join ${name} did not exit within 30 s; stderr:\n${stderr}`));
    }, 30_000)))]).finally(() => clearTimeout(timer));
    return { code, stderr, socket, stateDir };
  }

  /** What a failed start must not leave in h2: a process other than the helper, a WireGuard interface. */
  async function leftoversInH2(): Promise<string[]> {
    const found: string[] = [];
    const pids = (await runCapture('ip', ['netns', 'pids', labHost(lab, 'h2').netns])).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids.filter((p) => p !== helper!.pid)) {
      const cmdline = (await runCapture('cat', [`/proc/${pid}/cmdline`])).stdout.replace(/\0/g, ' ').trim();
      found.push(`process ${pid}: ${cmdline}`);
    }
    const links = (await hostExec(lab, 'h2', ['ip', '-o', 'link', 'show'])).stdout;
    for (const line of links.split('\n')) {
      const link = line.split(':')[1]?.trim().split('@')[0] ?? '';
      if (link.startsWith('wg')) found.push(`interface ${link}`);
    }
    return found;
  }

  const exists = (file: string) => stat(file).then(() => true, () => false);

  function answers(socket: string): Promise<boolean> {
    return new Promise((resolve) => {
      const s = connect(socket);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }

  test('(a) the driver: WireGuard cannot listen on its UDP port; wireguard-go is stopped, the join undone', async () => {
    // Step 1: the join is answered, then the interface cannot be configured (another program has the port).
    const result = await join('h2a', ['-listen-port', String(WG_PORT)]);

    // Step 2: it says so, and what to do.
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`wgmesh join: WireGuard cannot listen on UDP port ${WG_PORT} for wgsf: another program uses it; stop that program, or pick another -listen-port`));
    // Step 3: nothing is left: no wireguard-go, no interface, no socket, and h1 no longer lists the node.
    assert.deepEqual(await leftoversInH2(), []);
    assert.equal(await exists(result.socket), false, 'no socket left');
    assert.ok(!(await bootstrapMembers()).includes('h2a'), 'the node left the mesh again');
  });

  test('(a) the driver: -wg-backend kernel without the kernel module', async (t) => {
    const probe = await hostExec(lab, 'h2', ['ip', 'link', 'add', 'dev', 'wgprobe', 'type', 'wireguard']);
    if (probe.code === 0) {
      await hostExec(lab, 'h2', ['ip', 'link', 'del', 'dev', 'wgprobe']);
      t.skip('this kernel has the WireGuard module: the kernel backend works here');
      return;
    }
    const result = await join('h2k', ['-wg-backend', 'kernel']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /wgmesh join: this kernel has no WireGuard module .*use the userspace backend/);
    assert.deepEqual(await leftoversInH2(), []);
    assert.equal(await exists(result.socket), false);
    assert.ok(!(await bootstrapMembers()).includes('h2k'), 'the node left the mesh again');
  });

  test('(a) the driver: the interface name is taken by another kind of link; refused, saying how to free it, and that link left alone', async () => {
    // The join reads the host's links from /proc/self/net/dev and asks `ip` only about a name listed there.
    // A bridge: every kernel the lab runs on has them (the lab's own switch is one; not every one has dummy).
    const added = await hostExec(lab, 'h2', ['ip', 'link', 'add', 'dev', `wg${MESH}`, 'type', 'bridge']);
    assert.equal(added.code, 0, added.stderr);
    try {
      const result = await join('h2i', []);
      assert.notEqual(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`wgmesh join: interface wg${MESH} already exists and is a bridge interface that wireguard-go did not create: remove it \\(ip link del wg${MESH}\\) or choose another interface name`));
      const kind = await hostExec(lab, 'h2', ['ip', '-d', 'link', 'show', 'dev', `wg${MESH}`]);
      assert.equal(kind.code, 0, `the bridge is still there: ${kind.stderr}`);
      assert.match(kind.stdout, /\bbridge\b/);
      assert.equal(await exists(result.socket), false, 'no socket left');
      assert.ok(!(await bootstrapMembers()).includes('h2i'), 'the node left the mesh again');
    } finally {
      await hostExec(lab, 'h2', ['ip', 'link', 'del', 'dev', `wg${MESH}`]);
    }
    assert.deepEqual(await leftoversInH2(), []);
  });

  test('(b) the local API socket is served by another process: refused before WireGuard is touched', async () => {
    const result = await join('h2b', ['-socket', otherSocket]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`wgmesh join: another wgmesh agent is already serving ${otherSocket}; stop it first, or use another -socket`));
    assert.deepEqual(await leftoversInH2(), []);
    assert.equal(await answers(otherSocket), true, 'the other server still answers on its socket');
    assert.equal(await exists(result.stateDir), false, 'not even a key was made');
    assert.ok(!(await bootstrapMembers()).includes('h2b'), 'no join was sent');
  });

  test('(c) the metrics port is in use: the local API, RTT, the interface and the membership are undone', async () => {
    const result = await join('h2c', ['-metrics-addr', `127.0.0.1:${METRICS_PORT}`]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`wgmesh join: -metrics-addr 127\\.0\\.0\\.1:${METRICS_PORT}: the port is in use; pick another`));
    assert.match(result.stderr, /joined the mesh/, 'it got as far as joining');
    assert.deepEqual(await leftoversInH2(), []);
    assert.equal(await exists(result.socket), false, 'the socket it had made is removed');
    assert.ok(!(await bootstrapMembers()).includes('h2c'), 'the node left the mesh again');
  });

  test('(d) the bootstrap is unreachable: SIGTERM while the join is retried ends it, with nothing left', async () => {
    const result = await join('h2d', [], async (child, stderr) => {
      // Step 1: the join is being retried.
      await waitFor('two join attempts', () => (stderr().match(/bootstrap unreachable, retrying/g) ?? []).length >= 2, 30_000, 50);
      // Step 2: SIGTERM, as systemd or Ctrl-C would send.
      child.kill('SIGTERM');
    }, UNREACHABLE);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`wgmesh join: stopped by SIGTERM before the node was up: the mesh was not joined yet: cannot reach the bootstrap at ${UNREACHABLE}: .*Check the address and port, and that \`wgmesh bootstrap\` runs there`));
    assert.deepEqual(await leftoversInH2(), []);
    assert.equal(await exists(result.socket), false);
  });

  test('(e) SIGTERM the moment each part has started: the process exits, with nothing left', async () => {
    // A debug log names each part as it starts ("[node] started part=…"); one join per part,
    // signalled as soon as that line appears, so the stop lands while the next part is starting.
    const startedLine = /\[node\] started part=("[^"]*"|\S+)/g;
    const first = await join('h2f0', ['-d'], async (child, stderr) => {
      // In this configuration (-dev, no metrics, names or memberlist) the local API is the last part.
      await waitFor('the local API to start', () => /\[node\] started part="local API"/.test(stderr()), 30_000, 50);
      assert.ok(await answers(path.join(dir, 'h2f0.sock')), 'the local API does not answer');
      child.kill('SIGTERM');
    });
    assert.equal(first.code, 0, first.stderr);
    const parts = [...first.stderr.matchAll(startedLine)].map((m) => m[1]!);
    assert.ok(parts.length >= 3, `parts started: ${parts.join(', ')}\n${first.stderr}`);
    for (const [i, part] of parts.entries()) {
      const result = await join(`h2f${i + 1}`, ['-d'], async (child, stderr) => {
        await waitFor(`part ${part} to start`, () => [...stderr().matchAll(startedLine)].some((m) => m[1] === part), 30_000, 5);
        child.kill('SIGTERM');
      });
      assert.ok(result.code === 0 || result.code === 1, `SIGTERM after ${part}: exit ${result.code}\n${result.stderr}`);
      if (result.code === 1) assert.match(result.stderr, /stopped by SIGTERM before the node was up/);
      assert.deepEqual(await leftoversInH2(), [], `SIGTERM after ${part}`);
      assert.equal(await exists(result.socket), false, `SIGTERM after ${part}: the socket is left`);
    }
  });

  test('(d) the bootstrap refuses the join for good: it says why, and nothing is left', async () => {
    const result = await join('h2e', ['-n', 'other']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`wgmesh join: the bootstrap at ${BOOTSTRAP} refused the join: mesh_name: this bootstrap serves mesh "${MESH}", not "other"; check -n`));
    assert.deepEqual(await leftoversInH2(), []);
    assert.equal(await exists(result.socket), false);
  });
});
