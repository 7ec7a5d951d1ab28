/**
 * One behaviour suite for every WgDriver, so the in-memory driver cannot drift from the real
 * ones. Real drivers run inside a network namespace and a private mount namespace (with its own
 * tmpfs /run, hence its own /var/run/wireguard) made here, through a namespace runner, so
 * nothing touches the host's interfaces or sockets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InterfaceInUse, InterfaceNotUp, InvalidWgConfig, NotRoot, WgCommandFailed, WgError, WireGuardUnavailable, INSTALL_HINT } from '../../src/errors.js';
import { commandExists, namespaceRunner, runCommand, waitUntil, type CommandRunner } from '../../src/wg/exec.js';
import { createWgDriverFactory, detectWgBackend, type WgHostProbe } from '../../src/wg/factory.js';
import { KernelWgDriver } from '../../src/wg/kernel-driver.js';
import { generateKeyPair, publicKeyFromPrivate } from '../../src/wg/keys.js';
import { applyOpsToPeers } from '../../src/wg/config.js';
import { MemoryWgDriver, MemoryWgHost } from '../../src/wg/memory-driver.js';
import type { WgDriver, WgInterfaceConfig, WgOp, WgPeerConfig, WgPeerState } from '../../src/wg/types.js';
import { UserspaceWgDriver, type WgRestartEvent } from '../../src/wg/userspace-driver.js';
import { wgSetBatches } from '../../src/wg/wg-tool.js';

// ---------------------------------------------------------------------------------------------
// Sandbox: a network namespace plus a persistent private mount namespace with a tmpfs on /run.

interface Sandbox {
  readonly netns: string;
  /** Runs commands inside both namespaces and counts them. */
  readonly runner: CountingRunner;
  interfaceExists(name: string): Promise<boolean>;
  teardown(): Promise<void>;
}

interface CountingRunner extends CommandRunner {
  readonly commands: number;
  /** Every process started through spawnDaemon, so teardown can stop the ones still running. */
  readonly daemons: readonly ChildProcess[];
}

function countingRunner(inner: CommandRunner): CountingRunner {
  let commands = 0;
  const daemons: ChildProcess[] = [];
  return {
    description: inner.description,
    get commands() {
      return commands;
    },
    daemons,
    run(cmd, args, options) {
      commands += 1;
      return inner.run(cmd, args, options);
    },
    spawnDaemon(cmd, args, options) {
      const child = inner.spawnDaemon(cmd, args, options);
      daemons.push(child);
      return child;
    },
  };
}

async function createSandbox(): Promise<Sandbox> {
  const id = randomBytes(3).toString('hex');
  const netns = `wgmt-${id}`;
  const undo: (() => Promise<unknown>)[] = [];
  const teardownSteps = async (): Promise<void> => {
    const failures: string[] = [];
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
    undo.length = 0;
    if (failures.length > 0) throw new Error(`sandbox ${netns} teardown: ${failures.join('; ')}`);
  };
  try {
    await runCommand('ip', ['netns', 'add', netns]);
    undo.push(() => runCommand('ip', ['netns', 'del', netns]));
    // The mount-namespace file must sit on a private mount, or the bind mount of it is refused.
    const dir = await mkdtemp(join(tmpdir(), `wgmt-${id}-`));
    undo.push(() => rm(dir, { recursive: true, force: true }));
    await runCommand('mount', ['--bind', dir, dir]);
    undo.push(() => runCommand('umount', [dir]));
    await runCommand('mount', ['--make-private', dir]);
    const mountFile = join(dir, 'mnt');
    await writeFile(mountFile, '');
    await runCommand('unshare', [
      `--mount=${mountFile}`,
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      // A fresh /run: its own /var/run/wireguard, and none of the host's sockets are reachable.
      'mount -t tmpfs -o mode=0755 wgmt /run && mkdir /run/wireguard',
    ]);
    undo.push(() => runCommand('umount', [mountFile]));
    const runner = countingRunner(namespaceRunner({ net: netns, mount: mountFile }));
    // Runs first at teardown: stop whatever we started that is still running, by PID.
    undo.push(async () => {
      for (const child of runner.daemons) {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          child.kill('SIGKILL');
          await new Promise((resolve) => child.once('exit', resolve));
        }
      }
    });
    return {
      netns,
      runner,
      async interfaceExists(name) {
        try {
          await runner.run('ip', ['link', 'show', 'dev', name]);
          return true;
        } catch (err) {
          if (err instanceof WgCommandFailed) return false;
          throw err;
        }
      },
      teardown: teardownSteps,
    };
  } catch (err) {
    await teardownSteps().catch(() => {});
    throw err;
  }
}

async function kernelSkipReason(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!(await commandExists('nsenter'))) return 'needs nsenter';
  const netns = `wgmt-probe-${randomBytes(3).toString('hex')}`;
  try {
    await runCommand('ip', ['netns', 'add', netns]);
    await namespaceRunner({ net: netns }).run('ip', ['link', 'add', 'dev', 'wgprobe', 'type', 'wireguard']);
    return false;
  } catch (err) {
    return `this kernel has no WireGuard module (${err instanceof Error ? err.message : String(err)})`;
  } finally {
    await runCommand('ip', ['netns', 'del', netns]).catch(() => {});
  }
}

async function userspaceSkipReason(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, tun devices)';
  for (const tool of ['wireguard-go', 'wg', 'ip', 'nsenter', 'unshare', 'setpriv']) {
    if (!(await commandExists(tool))) return `${tool} is not installed`;
  }
  if (!(await stat('/dev/net/tun').then(() => true, () => false))) return '/dev/net/tun does not exist';
  return false;
}

const kernelSkip = await kernelSkipReason();
const userspaceSkip = await userspaceSkipReason();

// ---------------------------------------------------------------------------------------------
// The compliance suite.

interface DriverContext {
  /** A new driver for the named interface (not yet up). */
  makeDriver(name: string): WgDriver;
  interfaceExists(name: string): Promise<boolean>;
  /** Commands the real drivers have run so far; absent for the in-memory driver. */
  commandCount?(): number;
  /** The processes one apply of `peers` set-peers costs: `wg set` per 100 peers (kernel), none (userspace: its UAPI socket). */
  processesForApply?(peers: number): number;
  /** Make a non-WireGuard interface of that name; absent where there are no interfaces. */
  createForeignInterface?(name: string): Promise<void>;
  /**
   * Whether close({ keepInterface: true }) leaves the interface and its peers for the next run.
   * The userspace driver cannot (wireguard-go must not outlive the agent, and the interface goes
   * with it), and says so; the kernel and in-memory drivers do.
   */
  readonly keepsInterface: boolean;
}

interface DriverSetup {
  context: DriverContext;
  teardown(): Promise<void>;
}

let interfaceCounter = 0;
const nextInterfaceName = (): string => `wgt${process.pid % 1000}x${(interfaceCounter += 1)}`;

/** What reconcile compares: the configured part of a peer, with list order and "0 = off" normalized. */
function configured(peers: readonly WgPeerState[]): WgPeerConfig[] {
  return [...peers]
    .map((p) => ({
      publicKey: p.publicKey,
      ...(p.endpoint !== undefined ? { endpoint: p.endpoint } : {}),
      allowedIps: [...p.allowedIps].sort(),
      ...(p.persistentKeepalive ? { persistentKeepalive: p.persistentKeepalive } : {}),
      ...(p.presharedKey !== undefined ? { presharedKey: p.presharedKey } : {}),
    }))
    .sort((a, b) => a.publicKey.localeCompare(b.publicKey));
}

function sortedConfigs(peers: readonly WgPeerConfig[]): WgPeerConfig[] {
  return configured(peers.map((p) => ({ ...p, latestHandshakeMs: 0, rxBytes: 0, txBytes: 0 })));
}

function peerConfig(n: number, overrides: Partial<WgPeerConfig> = {}): WgPeerConfig {
  return {
    publicKey: generateKeyPair().publicKey,
    endpoint: `192.0.2.${n}:51820`,
    allowedIps: [`198.18.0.${n}/32`],
    persistentKeepalive: 25,
    ...overrides,
  };
}

const setPeer = (peer: WgPeerConfig): WgOp => ({ op: 'set-peer', peer });

/** The peers `peerAfterOp` (what the memory driver and the reconciler assume of `wg set`) predicts for ops applied to no peers. */
function predicted(ops: readonly WgOp[]): WgPeerConfig[] {
  const peers = new Map<string, WgPeerState>();
  applyOpsToPeers(peers, ops);
  return configured([...peers.values()]);
}

/** A private key `wg` refuses: 32 bytes, but the base64's unused low bits are set (not canonical). */
function nonCanonicalKey(): string {
  const key = generateKeyPair().privateKey;
  const last = key.charAt(42);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  return `${key.slice(0, 42)}${alphabet.charAt(alphabet.indexOf(last) | 1)}=`;
}

function driverCompliance(name: string, setup: () => Promise<DriverSetup>, options: { skip?: string | false } = {}): void {
  describe(`WgDriver compliance: ${name}`, { skip: options.skip ?? false }, () => {
    let ctx: DriverContext;
    let teardown: (() => Promise<void>) | undefined;
    const opened: WgDriver[] = [];

    before(async () => {
      const made = await setup();
      ctx = made.context;
      teardown = made.teardown;
    });

    after(async () => {
      for (const driver of opened) await driver.close().catch(() => {});
      await teardown?.();
    });

    async function upFresh(listenPort = 51820): Promise<{ driver: WgDriver; config: WgInterfaceConfig }> {
      const ifname = nextInterfaceName();
      const driver = ctx.makeDriver(ifname);
      opened.push(driver);
      const config: WgInterfaceConfig = { name: ifname, privateKey: generateKeyPair().privateKey, listenPort, address: '198.18.0.1/16' };
      await driver.up(config);
      return { driver, config };
    }

    test('up: the device has the public key of its private key, its port, and no peers', async () => {
      const { driver, config } = await upFresh(51820);
      const state = await driver.read();
      assert.equal(state.name, config.name);
      assert.equal(state.publicKey, publicKeyFromPrivate(config.privateKey));
      assert.equal(state.listenPort, 51820);
      assert.deepEqual(state.peers, []);
      assert.equal(await ctx.interfaceExists(config.name), true);
    });

    test('set-peer x3: each peer reads back with its endpoint, allowed IPs and keepalive', async () => {
      const { driver } = await upFresh(51821);
      const peers = [
        peerConfig(2),
        peerConfig(3, { allowedIps: ['198.18.0.3/32', '198.18.3.0/24'], persistentKeepalive: 10 }),
        // Nothing but a key: no endpoint, no allowed IPs, keepalive off.
        { publicKey: generateKeyPair().publicKey, allowedIps: [] },
      ];
      const before = ctx.commandCount?.();
      await driver.apply(peers.map(setPeer));
      if (before !== undefined) assert.equal(ctx.commandCount!() - before, ctx.processesForApply!(3), 'at most one process for the whole batch');

      const state = await driver.read();
      assert.deepEqual(configured(state.peers), sortedConfigs(peers));
      for (const peer of state.peers) assert.equal(peer.latestHandshakeMs, 0, 'no handshake can have happened');
    });

    test("set-peer on a known peer changes its endpoint and allowed IPs and leaves the others alone", async () => {
      const { driver } = await upFresh(51822);
      const [a, b, c] = [peerConfig(2), peerConfig(3), peerConfig(4)];
      await driver.apply([a, b, c].map(setPeer));

      const moved = { ...b, endpoint: '192.0.2.33:4500', allowedIps: ['198.18.0.3/32', '198.18.33.0/24'] };
      await driver.apply([setPeer(moved)]);

      assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([a, moved, c]));
    });

    test('set-peer can turn keepalive off and shrink allowed IPs', async () => {
      const { driver } = await upFresh(51823);
      const a = peerConfig(2, { allowedIps: ['198.18.0.2/32', '198.18.2.0/24'] });
      await driver.apply([setPeer(a)]);
      const { persistentKeepalive: _off, ...withoutKeepalive } = a;
      const shrunk = { ...withoutKeepalive, allowedIps: ['198.18.0.2/32'] };
      await driver.apply([setPeer(shrunk)]);
      assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([shrunk]));
    });

    test('an allowed IP given to one peer leaves the peer that had it (how a relay takes a peer\'s /32)', async () => {
      const { driver } = await upFresh(51849);
      const [relay, far] = [peerConfig(2), peerConfig(3)];
      await driver.apply([relay, far].map(setPeer));
      const relayWithFar = { ...relay, allowedIps: [...relay.allowedIps, ...far.allowedIps] };
      await driver.apply([setPeer(relayWithFar)]);
      assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([relayWithFar, { ...far, allowedIps: [] }]));
      // And back: the far peer takes its /32 again, the relay keeps the rest.
      await driver.apply([setPeer(far), setPeer(relay)]);
      assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([relay, far]));
    });

    test('setPrivateKey: the device has the new key, and keeps its port and peers (key rotation)', async () => {
      const { driver } = await upFresh(51841);
      const peers = [peerConfig(2), peerConfig(3)];
      await driver.apply(peers.map(setPeer));
      const next = generateKeyPair();
      await driver.setPrivateKey(next.privateKey);
      const state = await driver.read();
      assert.equal(state.publicKey, next.publicKey);
      assert.equal(state.listenPort, 51841);
      assert.deepEqual(configured(state.peers), sortedConfigs(peers));
    });

    test('remove-peer removes that peer only', async () => {
      const { driver } = await upFresh(51824);
      const [a, b, c] = [peerConfig(2), peerConfig(3), peerConfig(4)];
      await driver.apply([a, b, c].map(setPeer));
      await driver.apply([{ op: 'remove-peer', publicKey: b.publicKey }]);
      assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([a, c]));
    });

    test('ops apply in order: remove, add and update in one call', async () => {
      const { driver } = await upFresh(51825);
      const [a, b] = [peerConfig(2), peerConfig(3)];
      await driver.apply([a, b].map(setPeer));
      const c = peerConfig(4);
      const b2 = { ...b, endpoint: '192.0.2.30:51820' };
      const before = ctx.commandCount?.();
      await driver.apply([{ op: 'remove-peer', publicKey: a.publicKey }, setPeer(c), setPeer(b2), { op: 'remove-peer', publicKey: c.publicKey }, setPeer(c)]);
      if (before !== undefined) assert.equal(ctx.commandCount!() - before, ctx.processesForApply!(3));
      assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([b2, c]));
    });

    test('an empty op list is a no-op: nothing runs and nothing changes', async () => {
      const { driver } = await upFresh(51826);
      await driver.apply([setPeer(peerConfig(2))]);
      const stateBefore = await driver.read();
      const before = ctx.commandCount?.();
      await driver.apply([]);
      if (before !== undefined) assert.equal(ctx.commandCount!(), before, 'no process for no ops');
      assert.deepEqual(configured((await driver.read()).peers), configured(stateBefore.peers));
    });

    test('an endpoint wg cannot resolve (an IPv6 zone naming no interface) fails the whole call, and the device stays as it was', async () => {
      const { driver } = await upFresh(51835);
      const kept = peerConfig(2);
      await driver.apply([setPeer(kept)]);
      const good = peerConfig(3);
      const bad = peerConfig(4, { endpoint: '[fe80::1%zzz]:51820' });
      await assert.rejects(driver.apply([setPeer(good), setPeer(bad), { op: 'remove-peer', publicKey: kept.publicKey }]), WgError);
      assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([kept]), 'nothing of the refused call was applied');

      // The device is fine: the good peer alone goes in, and the bad one with a usable endpoint.
      const fixed = { ...bad, endpoint: '192.0.2.4:51820' };
      await driver.apply([setPeer(good), setPeer(fixed)]);
      assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([kept, good, fixed]));
    });

    test('a large membership change costs a constant number of processes (150 peers: 2 wg set calls; none over UAPI)', async () => {
      const { driver } = await upFresh(51827);
      const peers = Array.from({ length: 150 }, (_, i) => peerConfig(1 + (i % 250), { allowedIps: [`198.18.${1 + Math.floor(i / 250)}.${1 + (i % 250)}/32`] }));
      const before = ctx.commandCount?.();
      await driver.apply(peers.map(setPeer));
      if (before !== undefined) assert.equal(ctx.commandCount!() - before, ctx.processesForApply!(150));
      assert.equal((await driver.read()).peers.length, 150);
    });

    test('up refuses a name taken by a non-WireGuard interface, naming the problem', async (t) => {
      if (!ctx.createForeignInterface) {
        t.skip('this driver has no interfaces to collide with');
        return;
      }
      const ifname = nextInterfaceName();
      await ctx.createForeignInterface(ifname);
      const driver = ctx.makeDriver(ifname);
      opened.push(driver);
      await assert.rejects(
        driver.up({ name: ifname, privateKey: generateKeyPair().privateKey, listenPort: 51828, address: '198.18.0.1/16' }),
        (err: unknown) => err instanceof InterfaceInUse && err.message.includes(`ip link del ${ifname}`),
      );
      assert.equal(await ctx.interfaceExists(ifname), true, 'the foreign interface is left alone');
    });

    test('set-peer without an endpoint keeps the endpoint the device has, and replaces the rest', async () => {
      const { driver } = await upFresh(51837);
      const a = peerConfig(2);
      const ops: WgOp[] = [setPeer(a), setPeer({ publicKey: a.publicKey, allowedIps: ['198.18.0.2/32', '198.18.2.0/24'] })];
      await driver.apply(ops.slice(0, 1));
      await driver.apply(ops.slice(1));

      const [peer] = (await driver.read()).peers;
      assert.equal(peer?.endpoint, a.endpoint, 'wg set cannot clear an endpoint: leaving it out keeps it');
      assert.deepEqual(configured([peer!]), sortedConfigs([{ publicKey: a.publicKey, endpoint: a.endpoint!, allowedIps: ['198.18.0.2/32', '198.18.2.0/24'] }]), 'allowed IPs replaced, keepalive off');
      assert.deepEqual(configured((await driver.read()).peers), predicted(ops), 'as peerAfterOp predicts');
    });

    test('a preshared key reads back; a set without one keeps it, a set with another replaces it (bootstrap -psk)', async () => {
      const { driver } = await upFresh(51838);
      const [a, b] = [peerConfig(2), peerConfig(3)];
      const [pskA, pskB] = [Buffer.alloc(32, 1).toString('base64'), Buffer.alloc(32, 2).toString('base64')];
      const ops: WgOp[] = [
        setPeer({ ...a, presharedKey: pskA }),
        setPeer(b),
        setPeer({ ...a, allowedIps: ['198.18.0.2/32', '198.18.2.0/24'] }),
        setPeer({ ...b, presharedKey: pskB }),
      ];
      await driver.apply(ops.slice(0, 2));
      const first = configured((await driver.read()).peers);
      assert.deepEqual(first.map((p) => p.presharedKey), [a, b].sort((x, y) => x.publicKey.localeCompare(y.publicKey)).map((p) => (p === a ? pskA : undefined)));
      await driver.apply(ops.slice(2));
      assert.deepEqual(configured((await driver.read()).peers), predicted(ops), 'as peerAfterOp predicts');
      const byKey = new Map((await driver.read()).peers.map((p) => [p.publicKey, p.presharedKey]));
      assert.equal(byKey.get(a.publicKey), pskA, 'kept');
      assert.equal(byKey.get(b.publicKey), pskB, 'given');
    });

    for (const [what, bad] of [
      ['a private key that is not canonical base64 of 32 bytes', { privateKey: nonCanonicalKey() }],
      ['a private key that is not base64 of 32 bytes', { privateKey: 'bm90IGEga2V5' }],
      ['an address with a prefix too long for IPv4', { address: '198.18.0.1/33' }],
      ['an address that is not an IP', { address: '198.18.0.256/16' }],
      ['an address without a prefix length', { address: '198.18.0.1' }],
      ['a listen port above 65535', { listenPort: 65536 }],
      ['a negative listen port', { listenPort: -1 }],
      ['config for another interface', { name: 'wgt-other' }],
    ] as const) {
      test(`up refuses ${what} (InvalidWgConfig) and leaves no interface behind`, async () => {
        const ifname = nextInterfaceName();
        const driver = ctx.makeDriver(ifname);
        opened.push(driver);
        const good: WgInterfaceConfig = { name: ifname, privateKey: generateKeyPair().privateKey, listenPort: 51838, address: '198.18.0.1/16' };
        const config: WgInterfaceConfig = { ...good, ...bad };
        await assert.rejects(driver.up(config), InvalidWgConfig);
        assert.equal(await ctx.interfaceExists(ifname), false);
        await assert.rejects(driver.read(), InterfaceNotUp, 'there is no device to read');
      });
    }

    test('close removes the interface', async () => {
      const { driver, config } = await upFresh(51829);
      await driver.apply([setPeer(peerConfig(2))]);
      await driver.close();
      assert.equal(await ctx.interfaceExists(config.name), false);
    });

    test('after close the device is gone: apply and read fail (InterfaceNotUp) and create nothing', async () => {
      const { driver, config } = await upFresh(51839);
      await driver.apply([setPeer(peerConfig(2))]);
      await driver.close();
      await assert.rejects(driver.apply([setPeer(peerConfig(3))]), InterfaceNotUp);
      await assert.rejects(driver.read(), InterfaceNotUp);
      assert.equal(await ctx.interfaceExists(config.name), false);
    });

    test('close with keepInterface leaves the interface and its peers, and the next up takes them over (where the driver can)', async () => {
      const { driver, config } = await upFresh(51840);
      const peers = [peerConfig(2), peerConfig(3)];
      await driver.apply(peers.map(setPeer));
      await driver.close({ keepInterface: true });
      assert.equal(await ctx.interfaceExists(config.name), ctx.keepsInterface);

      // The next run: a new driver for the same interface.
      const next = ctx.makeDriver(config.name);
      opened.push(next);
      await next.up(config);
      const state = await next.read();
      assert.equal(state.publicKey, publicKeyFromPrivate(config.privateKey));
      assert.deepEqual(configured(state.peers), ctx.keepsInterface ? sortedConfigs(peers) : []);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Run it against every driver this machine has.

driverCompliance('memory', async () => {
  // One host for the suite, as the real drivers share one network namespace.
  const host = new MemoryWgHost();
  return {
    context: {
      makeDriver: (name) => new MemoryWgDriver(name, { host }),
      interfaceExists: async (name) => host.has(name),
      keepsInterface: true,
    },
    teardown: async () => {},
  };
});

function realSetup(make: (name: string, runner: CommandRunner) => WgDriver, keepsInterface: boolean, processesForApply: (peers: number) => number): () => Promise<DriverSetup> {
  return async () => {
    const sandbox = await createSandbox();
    return {
      context: {
        keepsInterface,
        makeDriver: (name) => make(name, sandbox.runner),
        interfaceExists: (name) => sandbox.interfaceExists(name),
        commandCount: () => sandbox.runner.commands,
        processesForApply,
        async createForeignInterface(name) {
          await sandbox.runner.run('ip', ['link', 'add', 'dev', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
        },
      },
      teardown: () => sandbox.teardown(),
    };
  };
}

driverCompliance(
  'userspace (wireguard-go)',
  realSetup((name, runner) => new UserspaceWgDriver(name, { runner }), false, () => 0),
  { skip: userspaceSkip ? `userspace driver skipped: ${userspaceSkip}` : false },
);

driverCompliance(
  'kernel',
  realSetup((name, runner) => new KernelWgDriver(name, { runner }), true, (peers) => Math.ceil(peers / 100)),
  { skip: kernelSkip ? `kernel driver skipped: ${kernelSkip}` : false },
);

// ---------------------------------------------------------------------------------------------
// What only the userspace driver does: supervise wireguard-go.

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('UserspaceWgDriver supervision', { skip: userspaceSkip ? `needs real wireguard-go: ${userspaceSkip}` : false }, () => {
  let sandbox: Sandbox;
  const opened: UserspaceWgDriver[] = [];

  before(async () => {
    sandbox = await createSandbox();
  });

  after(async () => {
    for (const driver of opened) await driver.close().catch(() => {});
    await sandbox?.teardown();
  });

  function config(name: string, listenPort: number): WgInterfaceConfig {
    return { name, privateKey: generateKeyPair().privateKey, listenPort, address: '198.18.0.1/16' };
  }

  function makeDriver(name: string): UserspaceWgDriver {
    const driver = new UserspaceWgDriver(name, { runner: sandbox.runner, restartInitialMs: 50 });
    opened.push(driver);
    return driver;
  }

  test('wireguard-go killed with SIGKILL is restarted, and the interface and peers come back', async () => {
    const ifname = nextInterfaceName();
    const driver = makeDriver(ifname);
    const cfg = config(ifname, 51830);
    await driver.up(cfg);
    const peers = [peerConfig(2), peerConfig(3), peerConfig(4)];
    await driver.apply(peers.map(setPeer));
    const restarts: WgRestartEvent[] = [];
    driver.onRestart((event) => restarts.push(event));

    const oldPid = driver.pid;
    assert.ok(oldPid, 'wireguard-go is running');
    process.kill(oldPid, 'SIGKILL');

    const restored = await waitUntil(
      async () => {
        if (restarts.length === 0) return false;
        const state = await driver.read().catch(() => undefined);
        return state?.peers.length === 3;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    assert.ok(restored, `the device came back within 10 s (restarts: ${restarts.length})`);

    assert.equal(restarts.length, 1);
    assert.equal(restarts[0]!.signal, 'SIGKILL');
    assert.notEqual(driver.pid, oldPid);
    assert.equal(isAlive(oldPid), false);
    const state = await driver.read();
    assert.equal(state.publicKey, publicKeyFromPrivate(cfg.privateKey));
    assert.equal(state.listenPort, 51830);
    assert.deepEqual(configured(state.peers), sortedConfigs(peers));
    assert.equal(await sandbox.interfaceExists(ifname), true);
  });

  test('a peer wg refuses is left out when the peers are restored after a restart; the others come back', async () => {
    const ifname = nextInterfaceName();
    const driver = makeDriver(ifname);
    await driver.up(config(ifname, 51836));
    const peers = [peerConfig(2), peerConfig(3)];
    await driver.apply(peers.map(setPeer));
    // Asked for, refused: the driver still remembers it as asked for.
    await assert.rejects(driver.apply([setPeer(peerConfig(4, { endpoint: '[fe80::1%zzz]:51820' }))]), WgCommandFailed);
    const restarts: WgRestartEvent[] = [];
    driver.onRestart((event) => restarts.push(event));

    process.kill(driver.pid!, 'SIGKILL');
    const restored = await waitUntil(async () => restarts.length > 0 && (await driver.read().catch(() => undefined))?.peers.length === 2, { timeoutMs: 10_000, intervalMs: 50 });
    assert.ok(restored, `the device came back with the two good peers within 10 s (restarts: ${restarts.length})`);
    assert.equal(restarts.length, 1, 'one restart, not a restart loop');
    assert.deepEqual(configured((await driver.read()).peers), sortedConfigs(peers));
  });

  test('a peer last set without an endpoint comes back after a restart with the endpoint it had', async () => {
    const ifname = nextInterfaceName();
    const driver = makeDriver(ifname);
    await driver.up(config(ifname, 51841));
    const peer = peerConfig(2);
    await driver.apply([setPeer(peer)]);
    // How the reconciler updates a peer with a live session: no endpoint, so wg keeps the one it has.
    const { endpoint: _kept, ...update } = { ...peer, allowedIps: ['198.18.0.2/32', '198.18.2.0/24'] };
    await driver.apply([setPeer(update)]);
    const restarts: WgRestartEvent[] = [];
    driver.onRestart((event) => restarts.push(event));

    process.kill(driver.pid!, 'SIGKILL');
    const restored = await waitUntil(async () => restarts.length > 0 && (await driver.read().catch(() => undefined))?.peers.length === 1, { timeoutMs: 10_000, intervalMs: 50 });
    assert.ok(restored, `the device came back within 10 s (restarts: ${restarts.length})`);
    assert.deepEqual(configured((await driver.read()).peers), sortedConfigs([{ ...update, endpoint: peer.endpoint! }]));
  });

  test('a wireguard-go left running by an earlier run is stopped and replaced at up', async () => {
    const ifname = nextInterfaceName();
    // An "earlier agent" that died without closing its driver: wireguard-go keeps running.
    const stale = sandbox.runner.spawnDaemon('wireguard-go', ['-f', ifname]);
    stale.stdout?.resume();
    stale.stderr?.resume();
    const staleExit = new Promise((resolve) => stale.once('exit', resolve));
    const stalePid = stale.pid!;
    const staleUp = await waitUntil(
      () => stat(`/proc/${stalePid}/root/run/wireguard/${ifname}.sock`).then((s) => s.isSocket(), () => false),
      { timeoutMs: 5000 },
    );
    assert.ok(staleUp, 'the stale daemon opened its socket');

    const driver = makeDriver(ifname);
    const cfg = config(ifname, 51831);
    await driver.up(cfg);

    await staleExit;
    assert.equal(isAlive(stalePid), false);
    assert.notEqual(driver.pid, stalePid);
    assert.equal((await driver.read()).publicKey, publicKeyFromPrivate(cfg.privateKey));
  });

  test('close stops wireguard-go: process, interface and socket are gone', async () => {
    const ifname = nextInterfaceName();
    const driver = makeDriver(ifname);
    await driver.up(config(ifname, 51832));
    const pid = driver.pid!;
    await driver.close();
    assert.equal(isAlive(pid), false);
    assert.equal(driver.pid, undefined);
    assert.equal(await sandbox.interfaceExists(ifname), false);
    await assert.rejects(sandbox.runner.run('test', ['-e', `/run/wireguard/${ifname}.sock`]), WgCommandFailed);
  });

  test('close with keepInterface still stops wireguard-go (not supported for userspace) and warns', async () => {
    const ifname = nextInterfaceName();
    const warnings: string[] = [];
    const logger = { info() {}, debug() {}, error() {}, warn: (msg: string) => void warnings.push(msg), child: () => logger };
    const driver = new UserspaceWgDriver(ifname, { runner: sandbox.runner, logger });
    opened.push(driver);
    await driver.up(config(ifname, 51833));
    const pid = driver.pid!;
    await driver.close({ keepInterface: true });
    assert.equal(isAlive(pid), false);
    assert.ok(warnings.some((w) => w.includes('keepInterface')));
  });

  test('close does not count as a crash: nothing is restarted', async () => {
    const ifname = nextInterfaceName();
    const driver = makeDriver(ifname);
    await driver.up(config(ifname, 51834));
    const restarts: WgRestartEvent[] = [];
    driver.onRestart((e) => restarts.push(e));
    await driver.close();
    const spawnedBefore = sandbox.runner.daemons.length;
    // Proving an absence needs a wait: 4x this driver's first restart delay (50 ms).
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(sandbox.runner.daemons.length, spawnedBefore);
    assert.deepEqual(restarts, []);
  });
});

// ---------------------------------------------------------------------------------------------
// Backend detection and the factory.

function fakeProbe(overrides: Partial<{ root: boolean; commands: string[]; paths: string[] }> = {}): WgHostProbe {
  const commands = overrides.commands ?? ['wg', 'ip', 'wireguard-go'];
  const paths = overrides.paths ?? ['/dev/net/tun'];
  return {
    isRoot: () => overrides.root ?? true,
    commandExists: async (name) => commands.includes(name),
    pathExists: async (path) => paths.includes(path),
  };
}

/** A runner on which `ip link add … type wireguard` fails as on a kernel without the module. */
const noKernelModule: CommandRunner = {
  description: 'fake',
  run: async (cmd, args) => {
    const commandLine = [cmd, ...args].join(' ');
    throw new WgCommandFailed(`${commandLine} failed`, { commandLine, exitCode: 2, stderr: 'Error: Unknown device type.\n' });
  },
  spawnDaemon: () => {
    throw new Error('not used');
  },
};

describe('backend detection', () => {
  test('not root: NotRoot, saying to run as root', async () => {
    await assert.rejects(detectWgBackend({ probe: fakeProbe({ root: false }), runner: noKernelModule }), (err: unknown) => {
      return err instanceof NotRoot && /root/.test(err.message);
    });
  });

  test('no wg: WireGuardUnavailable with the install command', async () => {
    await assert.rejects(detectWgBackend({ probe: fakeProbe({ commands: ['ip', 'wireguard-go'] }), runner: noKernelModule }), (err: unknown) => {
      return err instanceof WireGuardUnavailable && err.message.includes(INSTALL_HINT);
    });
  });

  test('no kernel module and no wireguard-go: WireGuardUnavailable with the install command', async () => {
    await assert.rejects(detectWgBackend({ probe: fakeProbe({ commands: ['wg', 'ip'] }), runner: noKernelModule }), (err: unknown) => {
      return err instanceof WireGuardUnavailable && err.message.includes(INSTALL_HINT);
    });
  });

  test('no kernel module, wireguard-go but no /dev/net/tun: says how to get the tun device', async () => {
    await assert.rejects(detectWgBackend({ probe: fakeProbe({ paths: [] }), runner: noKernelModule }), (err: unknown) => {
      return err instanceof WireGuardUnavailable && err.message.includes('/dev/net/tun');
    });
  });

  test('no kernel module, wireguard-go present: userspace', async () => {
    assert.equal(await detectWgBackend({ probe: fakeProbe({ paths: ['/dev/net/tun', '/proc/modules'] }), runner: noKernelModule }), 'userspace');
  });

  test('a kernel that loads no modules and has no WireGuard built in: userspace, without a probe link', async () => {
    const commands: string[] = [];
    const recording: CommandRunner = { ...noKernelModule, run: async (cmd, args) => (commands.push([cmd, ...args].join(' ')), noKernelModule.run(cmd, args)) };
    assert.equal(await detectWgBackend({ probe: fakeProbe({ paths: ['/dev/net/tun'] }), runner: recording }), 'userspace');
    assert.deepEqual(commands, [], 'no ip link add');
  });

  test('WireGuard built into a kernel that loads no modules: the probe link decides', async () => {
    const commands: string[] = [];
    const kernel: CommandRunner = { ...noKernelModule, run: async (cmd, args) => (commands.push([cmd, ...args].join(' ')), { stdout: '', stderr: '' }) };
    assert.equal(await detectWgBackend({ probe: fakeProbe({ paths: ['/dev/net/tun', '/sys/module/wireguard'] }), runner: kernel }), 'kernel');
    assert.match(commands[0] ?? '', /^ip link add dev wgprobe\w+ type wireguard$/);
  });

  test('the memory backend needs nothing from the host', async () => {
    const driver = await createWgDriverFactory('memory')('wg0');
    assert.ok(driver instanceof MemoryWgDriver);
  });

  test('an explicit userspace backend without wireguard-go fails when the first driver is made', async () => {
    const factory = createWgDriverFactory('userspace', { probe: fakeProbe({ commands: ['wg', 'ip'] }) });
    await assert.rejects(Promise.resolve(factory('wg0')), WireGuardUnavailable);
  });

  test('on this machine, inside a namespace: the kernel backend if it has the module, else userspace', { skip: userspaceSkip || false }, async () => {
    const sandbox = await createSandbox();
    try {
      const found = await detectWgBackend({ runner: sandbox.runner });
      assert.equal(found, kernelSkip ? 'userspace' : 'kernel');
      const driver = await createWgDriverFactory('auto', { runner: sandbox.runner })('wgt0');
      assert.equal(driver.kind, found);
    } finally {
      await sandbox.teardown();
    }
  });
});

describe('wgSetBatches', () => {
  const k = (): string => generateKeyPair().publicKey;

  test('no ops: no commands', () => {
    assert.deepEqual(wgSetBatches('wg0', []), []);
  });

  test('set and remove in one command, in order; keepalive always given; empty allowed IPs clear the list', () => {
    const [a, b] = [k(), k()];
    assert.deepEqual(
      wgSetBatches('wg0', [
        { op: 'set-peer', peer: { publicKey: a, endpoint: '192.0.2.1:51820', allowedIps: ['198.18.0.2/32', '198.18.2.0/24'], persistentKeepalive: 25 } },
        { op: 'remove-peer', publicKey: b },
        { op: 'set-peer', peer: { publicKey: b, allowedIps: [] } },
      ]),
      [
        ['set', 'wg0', 'peer', a, 'endpoint', '192.0.2.1:51820', 'allowed-ips', '198.18.0.2/32,198.18.2.0/24', 'persistent-keepalive', '25',
          'peer', b, 'remove',
          'peer', b, 'allowed-ips', '', 'persistent-keepalive', 'off'],
      ],
    );
  });

  test('splits into batches of the given size', () => {
    const ops: WgOp[] = Array.from({ length: 5 }, () => ({ op: 'remove-peer', publicKey: k() }));
    assert.deepEqual(wgSetBatches('wg0', ops, 2).map((args) => args.filter((a) => a === 'peer').length), [2, 2, 1]);
  });

  test('rejects a bad key or endpoint before anything runs', () => {
    assert.throws(() => wgSetBatches('wg0', [{ op: 'remove-peer', publicKey: 'remove' }]), /not a WireGuard public key/);
    assert.throws(() => wgSetBatches('wg0', [{ op: 'set-peer', peer: { publicKey: k(), endpoint: '192.0.2.1', allowedIps: [] } }]), /endpoint/);
  });
});
