/**
 * `wgmesh lab`: a mesh of N hosts (network + mount namespaces) on this machine. A thin layer
 * over the lab library: flags in, one library call, text out.
 */
import { spawn } from 'node:child_process';
import { formatHelp, resolveFlags, UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';
import {
  builtWgmeshCommand,
  exitCodeOf,
  hostCommand,
  LAB_DEFAULTS,
  labAdd,
  labDown,
  labEtcdStatus,
  labKillNode,
  labRestartNode,
  labStartNode,
  labStatus,
  labUp,
  LabError,
  LabNotReady,
  EtcdNotHealthy,
  MAX_BOOTSTRAPS,
  loadLab,
  nameHint,
  NodeExited,
  parseNatStyle,
  sourceWgmeshCommand,
  splitArgs,
  type EtcdMemberStatus,
  type HostStatus,
  type LabState,
} from '../lab/index.js';
import { table } from '../ui/format.js';

const NAME: FlagSpec = { name: 'name', type: 'string', default: LAB_DEFAULTS.name, value: 'LAB', help: 'lab name: prefixes its namespaces (LAB-h1…, LAB-sw); at most 8 letters/digits' };
const TIMEOUT: FlagSpec = { name: 'timeout', type: 'int', default: LAB_DEFAULTS.readyTimeoutMs / 1000, value: 'SECONDS', help: 'how long to wait for every node to see all its peers' };

const UP_FLAGS: readonly FlagSpec[] = [
  NAME,
  { name: 'underlay', type: 'string', default: LAB_DEFAULTS.underlay, value: 'CIDR', help: 'the hosts\' shared network (h1 = .1, h2 = .2, …)' },
  { name: 'cidr', type: 'string', default: LAB_DEFAULTS.cidr, value: 'CIDR', help: 'the mesh network; the bootstrap (h1) takes its first address, hK its K-th with -bootstraps' },
  {
    name: 'bootstraps',
    type: 'int',
    default: 1,
    value: 'K',
    help: `how many hosts bootstrap (1…${MAX_BOOTSTRAPS}, at most N): h1…hK, each with the mesh IP .K, sharing their member table in an etcd cluster ` +
      'the lab runs with a member in each of those hosts (etcd-server and etcd-client: scripts/install-deps.sh); the other hosts join with every bootstrap\'s address',
  },
  { name: 'mesh', type: 'string', default: LAB_DEFAULTS.mesh, value: 'MESH', help: 'mesh name (the interface is wg<MESH>)' },
  {
    name: 'nat',
    type: 'list',
    default: [],
    value: 'HOST[+HOST…],…',
    help: 'put hosts behind masquerading NAT routers (namespaces LAB-r1, LAB-r2, …, WAN on the underlay\'s top addresses): ' +
      '-nat h2,h3 gives h2 and h3 a router each, -nat h4+h5 puts both behind one; repeatable; never h1 (the bootstrap), nor any bootstrap with -bootstraps',
  },
  { name: 'nat-lan', type: 'string', default: LAB_DEFAULTS.natLan, value: 'CIDR', help: 'the NAT routers\' private segments: a /28 each (router .1, its hosts .2, .3, …)' },
  {
    name: 'nat-style',
    type: 'string',
    default: 'home',
    value: 'home|bare|random',
    help: 'how the NAT routers behave: home drops unsolicited packets to the router and through it (a home router); ' +
      'bare masquerades with a forward filter only (the router itself accepts anything); random masquerades with a random ' +
      'source port per destination (--random-fully, like a carrier-grade NAT) and keeps the home firewall',
  },
  {
    name: 'upnp',
    type: 'bool',
    default: false,
    help: 'run miniupnpd on every NAT router: UPnP IGD (SSDP) and NAT-PMP/PCP (UDP 5351) on its LAN address, for its hosts\' own ports; ' +
      'the lab also starts the public STUN server miniupnpd\'s check needs (coturn in LAB-stun, two addresses below the routers\'), ' +
      'and the routers\' rules are made with iptables-legacy, as miniupnpd\'s are',
  },
  { name: 'hosts-only', type: 'bool', default: false, help: 'create the hosts but start no wgmesh' },
  { name: 'from-source', type: 'bool', default: false, help: 'run wgmesh from TypeScript source (no build needed)' },
  { name: 'log-level', type: 'string', default: LAB_DEFAULTS.logLevel, value: 'LEVEL', help: 'WGMESH_LOG_LEVEL of the nodes' },
  { name: 'l2', type: 'bool', default: false, help: 'give the mesh layer 2 (passes -l2 to the bootstrap): every host gets a bridge br<MESH> over the mesh; give it addresses with -join-args "-l2-addr …" or by hand' },
  { name: 'bootstrap-args', type: 'string', default: '', value: '"FLAGS"', help: 'extra flags for every wgmesh bootstrap, as one string, e.g. "-reap-after 5s"' },
  { name: 'join-args', type: 'string', default: '', value: '"FLAGS"', help: 'extra flags for every wgmesh join, as one string, e.g. "-heartbeat 1s"' },
  TIMEOUT,
];
const WAIT: FlagSpec = { name: 'wait', type: 'bool', default: true, help: 'wait until every running node sees all the others' };
const ADD_FLAGS: readonly FlagSpec[] = [NAME, { name: 'count', type: 'int', default: 1, value: 'N', help: 'add N hosts: create them all, then start their joins together' }, TIMEOUT, WAIT];
const SIGNAL: FlagSpec = { name: 'signal', type: 'string', default: 'TERM', value: 'SIG', help: 'the signal, e.g. TERM (the node leaves the mesh) or KILL (a crash)' };
const KILL_FLAGS: readonly FlagSpec[] = [NAME, SIGNAL];
const START_FLAGS: readonly FlagSpec[] = [NAME, TIMEOUT, WAIT];
const RESTART_FLAGS: readonly FlagSpec[] = [NAME, { ...SIGNAL, help: 'how a running node is stopped first: TERM or KILL' }, TIMEOUT, WAIT];
const NAME_FLAGS: readonly FlagSpec[] = [NAME];
const STATUS_FLAGS: readonly FlagSpec[] = [NAME, { name: 'json', type: 'bool', default: false, help: 'print the hosts as JSON' }];

const USAGE = 'wgmesh lab up N [flags] | add [-count N] | exec HOST CMD… | info [-json] | status | kill|start|restart HOST | down   [-name LAB]';
const DESCRIPTION = `Dev mode: N hosts on this machine, each a network namespace with its own mount namespace
(private /var/run/wireguard, agent socket and /var/lib/wgmesh), on one bridge. h1 runs
\`wgmesh bootstrap -dev\` (h1…hK with -bootstraps K), every other host \`wgmesh join -dev\`, with
real WireGuard. Needs root.

  up N          create the hosts and start the mesh; waits until every node sees all peers
  add           add one more host (-count N: N hosts, joining together); prints the names
  exec HOST …   run a command in a host (\`wgmesh …\` runs this lab's wgmesh)
  info [-json]  \`wgmesh info\` in h1
  status        the hosts, their addresses and processes
  kill HOST     stop a host's node with a signal (-signal KILL: a crash); the host stays
  start HOST    start a stopped host's node again: same command line, same state directory
  restart HOST  kill (TERM unless -signal) and start
  down          stop the nodes, delete every namespace, mount and file of the lab

NAT: \`lab up 5 -underlay 203.0.113.0/24 -nat h2,h3,h4+h5\` puts h2, h3 and h4+h5 behind three
routers, each its own namespace (LAB-r1…) with a WAN address on the underlay (.254, .253, …),
a private /28 of -nat-lan for its hosts (their default route), iptables MASQUERADE out of its
WAN leg and (-nat-style home, the default) a firewall dropping what comes in unasked: the hosts
reach the bootstrap, nothing on the underlay reaches them until they have sent to it.
-nat-style bare: the router itself accepts what comes in; random: a new random source port for
every destination, with the home firewall. -upnp: each router runs miniupnpd for its hosts
(\`natpmpc -g GATEWAY …\`, or \`upnpc -i …\`: miniupnpc calls an IGD with a TEST-NET address
"not connected" without -i); \`lab status\` shows each router's style and miniupnpd, and
\`lab down\` stops miniupnpd and the STUN server too.

Several bootstraps: \`lab up 5 -bootstraps 3\` starts an etcd cluster of three members first, one
in each of h1, h2 and h3 (inside the host's namespaces, on its underlay address, ports 2379 and
2380; data in the host's state directory, log in ${LAB_DEFAULTS.stateRoot}/LAB/hK-etcd.log), waits
until it is healthy, then starts \`wgmesh bootstrap -store etcd\` in h1, h2 and h3 one after the
other (mesh IPs .1, .2, .3 of -cidr), then the joins in h4 and h5, each given all three bootstrap
addresses. \`lab status\` lists the etcd members and their PIDs; \`lab kill|restart h2\` stops or
restarts h2's bootstrap (not its etcd); \`lab down\` stops etcd after the bootstraps and removes
its data. Needs Debian's etcd-server and etcd-client (scripts/install-deps.sh).`;

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

function str(values: FlagValues, key: string): string {
  return String(values[key] ?? '');
}

/**
 * Takes the lab's own flags (from `specs`) off the front of `tokens` and stops at the first
 * other token: what follows belongs to the command run inside a host (`exec h2 ping -c 1 …`).
 */
export function splitLeadingFlags(tokens: readonly string[], specs: readonly FlagSpec[]): { flags: string[]; rest: string[] } {
  const flags: string[] = [];
  let i = 0;
  for (; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--') {
      i++;
      break;
    }
    const match = /^--?([^=]+)(=.*)?$/.exec(token);
    if (!match) break;
    const name = match[1]!;
    if (name === 'h' || name === 'help') {
      flags.push(token);
      continue;
    }
    const spec = specs.find((s) => s.name === name);
    if (!spec) break;
    flags.push(token);
    if (match[2] === undefined && spec.type !== 'bool' && i + 1 < tokens.length) flags.push(tokens[++i]!);
  }
  return { flags, rest: tokens.slice(i) };
}

/** Runs argv with the terminal attached and returns its exit status (128 + signal when killed). */
function runAttached(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env });
    // Ctrl-C reaches the child through the terminal; we stay to report its exit status.
    const ignore = (): void => {};
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
    const done = (code: number): void => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', ignore);
      resolve(code);
    };
    child.on('error', (e) => {
      err(`lab: ${argv[0]}: ${e.message}`);
      done(127);
    });
    child.on('close', (code, signal) => done(exitCodeOf(code, signal)));
  });
}

function hostTable(hosts: readonly HostStatus[]): string {
  // The NAT column only in labs that have routers, so a plain lab's table is what it always was.
  const withNat = hosts.some((h) => h.nat);
  const rows = [['HOST', 'UNDERLAY', ...(withNat ? ['NAT'] : []), 'MESH IP', 'PID', 'ROLE', 'STATE']];
  for (const h of hosts) {
    const state = h.pid === undefined ? '-' : h.running ? 'running' : h.stoppedBy ? `stopped (${h.stoppedBy})` : 'exited';
    const nat = h.nat ? `${h.nat.router} ${h.nat.publicIp}` : '-';
    rows.push([h.name, h.underlayIp, ...(withNat ? [nat] : []), h.meshIp || '-', h.pid === undefined ? '-' : String(h.pid), h.role, state]);
  }
  return table(rows, '  ');
}

/** One line per etcd member (labs with several bootstraps): `  etcd h2: http://IP:2379, PID 1234 running`. */
function etcdLines(members: readonly EtcdMemberStatus[]): string[] {
  return members.map((m) => `  etcd ${m.name}: ${m.clientUrl}, ${m.pid === undefined ? 'not started' : `PID ${m.pid} ${m.running ? 'running' : 'exited'}`}, log ${m.logFile}`);
}

function usageHints(lab: LabState): string {
  const n = nameHint(lab.name);
  const other = lab.hosts.find((h) => h.name !== 'h1')?.name ?? 'h1';
  const target = lab.hosts.find((h) => h.name === 'h1')?.meshIp || lab.hosts[0]?.underlayIp || '';
  const lines = [
    'next:',
    `  wgmesh lab exec${n} ${other} ping -c 3 ${target}   # any command, inside a host`,
    `  wgmesh lab exec${n} ${other} wg show`,
  ];
  if (!lab.hostsOnly) lines.push(`  wgmesh lab info${n}                       # wgmesh info in h1 (-json for JSON)`, `  wgmesh lab add${n}                        # one more host joins`);
  lines.push(`  wgmesh lab down${n}                       # remove everything`, `logs: ${LAB_DEFAULTS.stateRoot}/${lab.name}/hK.log`);
  return lines.join('\n');
}

async function up(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals, help } = resolveFlags(UP_FLAGS, argv, env);
  if (help) return printHelp(UP_FLAGS);
  if (positionals.length !== 1 || !/^\d+$/.test(positionals[0]!)) throw new UsageError('lab up takes the number of hosts, e.g. `wgmesh lab up 4`');
  const name = str(values, 'name');
  const result = await labUp({
    name,
    hosts: Number(positionals[0]),
    bootstraps: Number(values.bootstraps),
    underlay: str(values, 'underlay'),
    cidr: str(values, 'cidr'),
    mesh: str(values, 'mesh'),
    hostsOnly: values['hosts-only'] === true,
    wgmeshCommand: values['from-source'] === true ? sourceWgmeshCommand() : builtWgmeshCommand(),
    logLevel: str(values, 'log-level'),
    nat: values.nat as string[],
    natLan: str(values, 'nat-lan'),
    natStyle: parseNatStyle(str(values, 'nat-style')),
    upnp: values.upnp === true,
    bootstrapArgs: labBootstrapArgs(values.l2 === true, Number(values.bootstraps), splitArgs(str(values, 'bootstrap-args'))),
    joinArgs: splitArgs(str(values, 'join-args')),
    readyTimeoutMs: Number(values.timeout) * 1000,
    env,
    onProgress: (m) => out(m),
  });
  const lab = result.lab;
  if (result.status === 'already-up') {
    out(`lab "${name}" is already up with ${lab.hosts.length} host${lab.hosts.length === 1 ? '' : 's'}; nothing to do`);
  } else {
    const what = lab.hostsOnly ? 'hosts only, no wgmesh' : `mesh "${lab.mesh}" (${lab.cidr}), interface wg${lab.mesh}`;
    const routers = lab.routers?.length ? `, ${lab.routers.length} NAT router${lab.routers.length === 1 ? '' : 's'}` : '';
    const etcd = lab.etcd?.length ? `, ${lab.etcd.length} bootstraps sharing an etcd cluster` : '';
    out(`lab "${name}" is up: ${lab.hosts.length} host${lab.hosts.length === 1 ? '' : 's'} on ${lab.underlay}${routers}${etcd}, ${what}`);
  }
  out(hostTable(await labStatus(lab)));
  for (const line of etcdLines(await labEtcdStatus(lab))) out(line);
  out(usageHints(lab));
  return 0;
}

async function add(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals, help } = resolveFlags(ADD_FLAGS, argv, env);
  if (help) return printHelp(ADD_FLAGS);
  if (positionals.length > 0) throw new UsageError('lab add takes no arguments');
  const result = await labAdd({ name: str(values, 'name'), count: Number(values.count), wait: values.wait !== false, readyTimeoutMs: Number(values.timeout) * 1000, env, onProgress: (m) => err(m) });
  // Only the host names on stdout, one a line, so scripts can capture them.
  out(result.hosts.map((h) => h.name).join('\n'));
  return 0;
}

/** "KILL", "SIGKILL", "kill" or "9" → "SIGKILL". */
export function parseSignal(text: string): NodeJS.Signals {
  const t = text.trim().toUpperCase();
  const byNumber: Record<string, NodeJS.Signals> = { '1': 'SIGHUP', '2': 'SIGINT', '9': 'SIGKILL', '15': 'SIGTERM' };
  const name = byNumber[t] ?? (t.startsWith('SIG') ? t : `SIG${t}`);
  if (!['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGSTOP', 'SIGCONT', 'SIGUSR1', 'SIGUSR2'].includes(name)) {
    throw new UsageError(`-signal ${text}: use TERM, KILL, INT, HUP, QUIT, STOP, CONT, USR1 or USR2`);
  }
  return name as NodeJS.Signals;
}

function oneHost(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`lab ${what} takes one host, e.g. \`wgmesh lab ${what} h2\``);
  return positionals[0]!;
}

async function kill(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals, help } = resolveFlags(KILL_FLAGS, argv, env);
  if (help) return printHelp(KILL_FLAGS);
  const host = oneHost(positionals, 'kill');
  const result = await labKillNode(str(values, 'name'), host, { signal: parseSignal(str(values, 'signal')), onProgress: (m) => err(m) });
  const children = result.children.map((c) => `${c.comm} ${c.pid} ${c.how === 'exited' ? 'exited with it' : 'was stopped by the lab'}`);
  out(`${host}: wgmesh (PID ${result.pid}) stopped by ${result.signal}${result.escalated ? ', then SIGKILL' : ''} in ${result.exitedMs - result.signalledMs} ms${children.length > 0 ? `; ${children.join(', ')}` : ''}`);
  return 0;
}

async function start(argv: readonly string[], env: NodeJS.ProcessEnv, restart: boolean): Promise<number> {
  const specs = restart ? RESTART_FLAGS : START_FLAGS;
  const { values, positionals, help } = resolveFlags(specs, argv, env);
  if (help) return printHelp(specs);
  const host = oneHost(positionals, restart ? 'restart' : 'start');
  const options = { wait: values.wait !== false, readyTimeoutMs: Number(values.timeout) * 1000, env, onProgress: (m: string) => err(m) };
  const result = restart
    ? await labRestartNode(str(values, 'name'), host, { ...options, signal: parseSignal(str(values, 'signal')) })
    : await labStartNode(str(values, 'name'), host, options);
  out(`${host}: wgmesh ${result.host.role} running (PID ${result.host.process!.pid})${result.host.meshIp ? `, mesh IP ${result.host.meshIp}` : ''}`);
  return 0;
}

async function down(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals, help } = resolveFlags(NAME_FLAGS, argv, env);
  if (help) return printHelp(NAME_FLAGS);
  if (positionals.length > 0) throw new UsageError('lab down takes no arguments');
  const name = str(values, 'name');
  const report = await labDown({ name, onProgress: (m) => out(m) });
  if (!report.existed) {
    out(`no lab "${name}": nothing to do`);
    return 0;
  }
  if (report.killed.length > 0) out(`PIDs ${report.killed.join(', ')} did not stop on SIGTERM and were killed`);
  if (report.strays.length > 0) {
    err(`warning: processes the lab did not start were still inside it (PIDs ${report.strays.join(', ')}); they keep its namespaces alive until they exit`);
  }
  out(`lab "${name}" is down`);
  return 0;
}

async function exec(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { flags, rest } = splitLeadingFlags(argv, NAME_FLAGS);
  const { values, help } = resolveFlags(NAME_FLAGS, flags, env);
  if (help) return printHelp(NAME_FLAGS);
  const [host, ...cmd] = rest[0] === '--' ? rest.slice(1) : rest;
  if (!host || cmd.length === 0) throw new UsageError('usage: wgmesh lab exec HOST CMD [ARGS…], e.g. `wgmesh lab exec h2 ping -c 1 192.0.2.1`');
  const lab = await loadLab(str(values, 'name'));
  return runAttached(hostCommand(lab, host, cmd), env);
}

async function info(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  // The lab's own -name anywhere; everything else goes to `wgmesh info` (-json, -watch).
  const own: string[] = [];
  const passthrough: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const { flags } = splitLeadingFlags(argv.slice(i, i + 2), NAME_FLAGS);
    if (flags.length > 0 && flags[0] !== '--') {
      own.push(...flags);
      i += flags.length - 1;
    } else passthrough.push(argv[i]!);
  }
  const { values, help } = resolveFlags(NAME_FLAGS, own, env);
  if (help) return printHelp(NAME_FLAGS);
  const lab = await loadLab(str(values, 'name'));
  if (lab.hostsOnly) throw new LabError(`lab "${lab.name}" was made with -hosts-only and runs no wgmesh`);
  return runAttached(hostCommand(lab, 'h1', ['wgmesh', 'info', ...passthrough]), env);
}

async function status(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveFlags(STATUS_FLAGS, argv, env);
  if (help) return printHelp(STATUS_FLAGS);
  const lab = await loadLab(str(values, 'name'));
  const hosts = await labStatus(lab);
  if (values.json === true) {
    const etcd = lab.etcd ? { etcd: await labEtcdStatus(lab) } : {};
    out(JSON.stringify({ name: lab.name, mesh: lab.mesh, underlay: lab.underlay, cidr: lab.cidr, hostsOnly: lab.hostsOnly, ...(lab.routers ? { routers: lab.routers } : {}), ...etcd, hosts }, null, 2));
    return 0;
  }
  out(`lab "${lab.name}": ${lab.hosts.length} host${lab.hosts.length === 1 ? '' : 's'} on ${lab.underlay}${lab.hostsOnly ? ' (hosts only)' : `, mesh "${lab.mesh}" (${lab.cidr})`}`);
  out(hostTable(hosts));
  for (const r of lab.routers ?? []) {
    out(`  NAT router ${r.name} (${r.netns}): WAN ${r.wanIp}, LAN ${r.lan} (${r.lanIp}), hosts ${r.hosts.join(', ')}, ${r.style} NAT${r.miniupnpd ? `, miniupnpd${r.miniupnpd.process ? ` (PID ${r.miniupnpd.process.pid})` : ''}` : ''}`);
  }
  for (const line of etcdLines(await labEtcdStatus(lab))) out(line);
  if (lab.stun) out(`  STUN server (${lab.stun.netns}): ${lab.stun.ips.join(', ')} port ${lab.stun.port}${lab.stun.process ? ` (PID ${lab.stun.process.pid})` : ''}`);
  return 0;
}

/** The -name given on a command line, for hints after a failure. */
function labName(argv: readonly string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const match = /^--?name(?:=(.*))?$/.exec(argv[i]!);
    if (match) return match[1] ?? argv[i + 1] ?? LAB_DEFAULTS.name;
  }
  return LAB_DEFAULTS.name;
}

function printHelp(specs: readonly FlagSpec[]): number {
  out(formatHelp(USAGE, DESCRIPTION, specs));
  return 0;
}

/** `wgmesh lab up 4 | head` must not crash half-way through building the lab: a closed pipe only loses output. */
function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
}

export async function runLab(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  ignoreClosedPipes();
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'up':
        return await up(rest, env);
      case 'add':
        return await add(rest, env);
      case 'down':
        return await down(rest, env);
      case 'exec':
        return await exec(rest, env);
      case 'info':
        return await info(rest, env);
      case 'status':
        return await status(rest, env);
      case 'kill':
        return await kill(rest, env);
      case 'start':
        return await start(rest, env, false);
      case 'restart':
        return await start(rest, env, true);
      case undefined:
      case '-h':
      case '-help':
      case '--help':
      case 'help':
        return printHelp(UP_FLAGS);
      default:
        throw new UsageError(`unknown lab command "${sub}"; one of: up, add, exec, info, status, kill, start, restart, down`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`wgmesh lab: ${e.message}`);
      err('see `wgmesh lab --help`');
      return 2;
    }
    if (e instanceof LabError) {
      err(`wgmesh lab: ${e.message}`);
      if (e instanceof LabNotReady || e instanceof NodeExited || e instanceof EtcdNotHealthy) {
        const name = labName(rest);
        err(`the lab is left up to look at: \`wgmesh lab status${nameHint(name)}\`; remove it with \`wgmesh lab down${nameHint(name)}\``);
      }
      return 1;
    }
    err(`wgmesh lab: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

/** -bootstrap-args, with -l2 first when asked (the bootstrap-args can still override its settings); refused with several bootstraps (etcd). */
export function labBootstrapArgs(l2: boolean, bootstraps: number, extra: string[]): string[] {
  if (!l2) return extra;
  if (bootstraps > 1) throw new UsageError('lab up -l2 needs one bootstrap: layer 2 is not supported with -store etcd (several bootstraps) yet');
  return ['-l2', ...extra];
}
