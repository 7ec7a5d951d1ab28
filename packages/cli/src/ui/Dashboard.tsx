import React from 'react';
import { Box, Text } from 'ink';
import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';
import { certificateLine, nodeRows, relayLine } from './format.js';

export interface DashboardProps {
  readonly info: InfoResponse__Output | undefined;
  readonly error: string | undefined;
  readonly now: number;
  /** Terminal width; narrow terminals get the essential columns only. */
  readonly columns?: number;
}

const COLUMNS: { key: keyof ReturnType<typeof nodeRows>[number]; title: string; width: number }[] = [
  { key: 'name', title: 'NODE', width: 26 },
  { key: 'meshIp', title: 'MESH IP', width: 16 },
  { key: 'status', title: 'STATUS', width: 13 },
  { key: 'endpoint', title: 'ENDPOINT', width: 22 },
  { key: 'path', title: 'PATH', width: 12 },
  { key: 'handshake', title: 'HANDSHAKE', width: 11 },
  { key: 'rtt', title: 'RTT', width: 10 },
  { key: 'transfer', title: 'RX / TX', width: 22 },
  { key: 'tags', title: 'TAGS', width: 20 },
];

/** What fits: every column from 162 wide, then the least essential go first. */
function columnsFor(width: number) {
  const essential = new Set(['name', 'meshIp', 'status', 'handshake']);
  if (width >= 162) return COLUMNS;
  if (width >= 100) return COLUMNS.filter((c) => c.key !== 'transfer' && c.key !== 'tags');
  return COLUMNS.filter((c) => essential.has(c.key)).map((c) => (c.key === 'name' ? { ...c, width: Math.max(12, width - 16 - 13 - 11) } : c));
}

const statusColor = (s: string) => (s === 'alive' ? 'green' : s === 'suspect' ? 'yellow' : s.startsWith('(') ? undefined : 'red');

/** Display only: the live mesh view of one node's status. */
export function Dashboard({ info, error, now, columns = 150 }: DashboardProps): React.ReactElement {
  if (!info) return <Text>{error ? <Text color="red">{error}</Text> : 'connecting to the local wgmesh node…'}</Text>;
  const rows = nodeRows(info, now);
  const shown = columnsFor(columns);
  const self = info.self;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>mesh {info.meshName}</Text> {info.meshCidr} · revision {info.revision} ·{' '}
        {info.connected || info.isBootstrap ? <Text color="green">connected</Text> : <Text color="red">not connected</Text>} · {rows.length} nodes
      </Text>
      <Text dimColor>
        this node {info.nodeName} {info.meshIp}
        {self?.joinedAtMs ? ` · joined ${new Date(Number(self.joinedAtMs)).toISOString().slice(0, 19).replace('T', ' ')}` : ''}
        {info.meshCreatedMs ? ` · mesh created ${new Date(Number(info.meshCreatedMs)).toISOString().slice(0, 10)}` : ''}
        {info.behindNat ? ' · behind NAT' : ' · no NAT'} · {info.interface} ({info.backend}) port {info.listenPort}
      </Text>
      {info.relay ? <Text>{relayLine(info)}</Text> : null}
      {error ? <Text color="red">{error}</Text> : null}
      {info.certificateRefusal ? <Text color="red">{certificateLine(info)}</Text> : null}
      {info.controlError ? <Text color="red">the bootstrap refuses this node's calls: {info.controlError}</Text> : null}
      <Box marginTop={1}>
        {shown.map((c) => (
          <Box key={c.key} width={c.width}>
            <Text bold>{c.title}</Text>
          </Box>
        ))}
      </Box>
      {rows.map((r) => (
        <Box key={r.name}>
          {shown.map((c) => (
            <Box key={c.key} width={c.width}>
              <Text wrap="truncate" {...(c.key === 'status' && statusColor(r.status) ? { color: statusColor(r.status) } : {})}>
                {r[c.key]}
              </Text>
            </Box>
          ))}
        </Box>
      ))}
      <Text dimColor>q to quit</Text>
    </Box>
  );
}
