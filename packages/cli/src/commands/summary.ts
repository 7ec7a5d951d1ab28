import { AGENT_DEFAULTS } from '@wgmesh/agent/constants';
import { type Agent } from '@wgmesh/agent/agent';
import type { Bootstrap } from '@wgmesh/bootstrap/bootstrap';

const out = (lines: string[]) => process.stdout.write(lines.join('\n') + '\n');

/** The block a bootstrap prints at start: what runs, and how to join and inspect it. */
export function printBootstrapSummary(bootstrap: Bootstrap, opts: { dev: boolean; socket: string }): void {
  const agent = bootstrap.agent!;
  const init = bootstrap.init;
  const bind = init.grpcBindAddr ?? '0.0.0.0';
  const advertised = bind === '0.0.0.0' || bind === '::' ? (agent.endpoints.find((e) => !(e.ip ?? '').includes(':'))?.ip ?? '<this host\'s address>') : bind;
  const joinCmd = opts.dev
    ? `wgmesh join -dev -n ${init.meshName} -bootstrap-addr ${advertised}:${bootstrap.port}${bootstrap.coordinator ? ' -bootstrap-addr OTHER:PORT…' : ''}`
    : `wgmesh join -n ${init.meshName} -bootstrap-addr ${advertised}:${bootstrap.port}${bootstrap.coordinator ? ' -bootstrap-addr OTHER:PORT…' : ''} -ca-cert ca.pem -client-cert NODE.pem -client-key NODE-key.pem`;
  const lines = [
    '',
    'wgmesh bootstrap is running',
    `  mesh name      ${init.meshName}`,
    `  mesh CIDR      ${bootstrap.table!.cidr}`,
    `  gRPC listener  ${bind}:${bootstrap.port} (${opts.dev ? 'plain, no TLS' : 'TLS 1.3, client certificates required'})`,
    `  node name      ${agent.netmap.selfName}`,
    `  mesh IP        ${agent.meshIp}`,
    `  interface      ${agent.driver.name} (${agent.driver.kind}), UDP port ${agent.options.listenPort}`,
    `  members        ${bootstrap.table!.size}`,
  ];
  const coordinator = bootstrap.coordinator;
  if (coordinator) {
    const status = coordinator.status;
    lines.push(`  store          etcd (shared with the mesh's other bootstraps), revision ${bootstrap.table!.revision}; failure detection: ${status.leading ? 'this bootstrap' : status.leader || 'no leader yet'}`);
  }
  const l2 = bootstrap.table!.l2Settings;
  if (l2) {
    const status = agent.l2Status?.();
    lines.push(`  layer 2        on (-l2): VXLAN ${l2.vni}, UDP ${l2.port}; every node bridges br${init.meshName}${status?.mtu ? `, MTU ${status.mtu}` : ''}`);
  }
  if (bootstrap.enrollment) {
    lines.push(`  enrollment     on (-ca-key): \`wgmesh token create [-name NODE]\` here, then \`wgmesh join -token TOKEN\` on the new node`);
  }
  if (opts.dev) {
    lines.push(
      '',
      '  !!! DEVELOPMENT MODE: no TLS, no client certificates. Anyone who can reach',
      `  !!! ${bind}:${bootstrap.port} can join this mesh. Do not use -dev on a network you do not trust.`,
    );
  }
  lines.push('', 'To join another node to this mesh, run on it:', `  ${joinCmd}`, '', 'To inspect:', `  wg show ${agent.driver.name}`, `  wgmesh info${opts.socket !== AGENT_DEFAULTS.socketPath ? ` -socket ${opts.socket}` : ''}`, '');
  out(lines);
}

export function printJoinSummary(agent: Agent, opts: { socket: string; dev: boolean }): void {
  const joined = agent.joined!;
  const lines = [
    '',
    agent.restoredFromState
      ? `wgmesh restored mesh ${agent.options.meshName} from saved state${opts.dev ? ' (development mode, no TLS)' : ''}; reconnecting to the bootstrap in the background`
      : `wgmesh joined mesh ${agent.options.meshName}${opts.dev ? ' (development mode, no TLS)' : ''}`,
    `  bootstrap      ${bootstrapLine(agent.bootstrap)}`,
    `  node name      ${joined.nodeName}`,
    `  mesh IP        ${joined.meshIp}  (mesh ${joined.meshCidr})`,
    `  interface      ${agent.driver.name} (${agent.driver.kind}), UDP port ${agent.options.listenPort}`,
    `  peers          ${agent.netmap.nodes.size - 1}`,
    '',
    'To inspect:',
    `  wg show ${agent.driver.name}`,
    `  wgmesh info${opts.socket !== AGENT_DEFAULTS.socketPath ? ` -socket ${opts.socket}` : ''}`,
    '',
  ];
  out(lines);
}

/** The bootstrap talked to now, and the others it would move to. */
function bootstrapLine(bootstrap: { current: string; all: readonly string[] }): string {
  const others = bootstrap.all.filter((a) => a !== bootstrap.current);
  return others.length ? `${bootstrap.current}  (then ${others.join(', ')})` : bootstrap.current;
}
