import React, { useEffect, useState } from 'react';
import { render, useApp, useInput } from 'ink';
import type { AgentClient } from '@wgmesh/agent/proto/gen/wgmesh/v1/Agent';
import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';
import { Dashboard } from './Dashboard.js';

/** The one hook that feeds the dashboard: the node's Watch stream. */
export function useAgentWatch(client: AgentClient): { info: InfoResponse__Output | undefined; error: string | undefined; now: number } {
  const [info, setInfo] = useState<InfoResponse__Output>();
  const [error, setError] = useState<string>();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const stream = client.watch({});
    stream.on('data', (next: InfoResponse__Output) => {
      setInfo(next);
      setError(undefined);
      setNow(Date.now());
    });
    stream.on('error', (err: Error) => setError(`lost the local node: ${err.message}`));
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      clearInterval(tick);
      stream.cancel();
    };
  }, [client]);
  return { info, error, now };
}

function App({ client }: { client: AgentClient }): React.ReactElement {
  const { exit } = useApp();
  const state = useAgentWatch(client);
  useInput((input, key) => {
    if (input === 'q' || key.escape || (key.ctrl && input === 'c')) exit();
  }, { isActive: process.stdin.isTTY === true });
  return <Dashboard {...state} columns={process.stdout.columns ?? 100} />;
}

export async function runDashboard(client: AgentClient): Promise<number> {
  const app = render(<App client={client} />);
  await app.waitUntilExit();
  client.close();
  return 0;
}
