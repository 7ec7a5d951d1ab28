import { createServer, type Server } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { Agent } from '../agent.js';
import { peersOf } from '../netmap/netmap.js';
import type { WgPeerState } from '../wg/types.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { parseHostPort } from '../endpoints/endpoints.js';
import { MetricsError } from '../errors.js';


/** Serves a Prometheus registry as text on GET /metrics. */
export class MetricsServer {
  private server: Server | undefined;
  boundPort = 0;
  private readonly logger: Logger;

  constructor(readonly registry: Registry, private readonly address: string, logger?: Logger) {
    this.logger = logger ?? silentLogger();
  }

  async start(): Promise<void> {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseHostPort(this.address, undefined, 0));
    } catch (err) {
      throw new MetricsError(`-metrics-addr: ${errorMessage(err)}`);
    }
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text),
        (err) => {
          this.logger.warn('metrics collection failed', { err: errorMessage(err) });
          res.writeHead(500).end(`${errorMessage(err)}\n`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new MetricsError(err.code === 'EADDRINUSE' ? `-metrics-addr ${this.address}: the port is in use; pick another` : `-metrics-addr ${this.address}: ${err.message}`)));
      server.listen(port, host.replace(/^\[|\]$/g, ''), () => resolve());
    });
    const addr = server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A node's metrics, read from its parts at scrape time. */
export function registerAgentMetrics(registry: Registry, agent: Agent): void {
  // The registry collects every metric of a scrape at once: the two gauges below share one
  // device read (one `wg show … dump`), and see the same snapshot.
  let reading: Promise<readonly WgPeerState[]> | undefined;
  const readPeers = () =>
    (reading ??= agent.driver.read().then((d) => d.peers).finally(() => {
      reading = undefined;
    }));
  new Gauge({
    name: 'wgmesh_certificate_expiry_seconds',
    help: 'Seconds until the node\'s mTLS certificate (which="node") and the mesh CA (which="ca") expire; absent in dev mode',
    labelNames: ['which'],
    registers: [registry],
    collect() {
      this.reset();
      const c = agent.certificateStatus();
      if (!c) return;
      const now = Date.now();
      this.set({ which: 'node' }, Math.round((c.certNotAfterMs - now) / 1000));
      this.set({ which: 'ca' }, Math.round((c.caNotAfterMs - now) / 1000));
    },
  });
  new Gauge({
    name: 'wgmesh_certificate_renewals_total',
    help: 'Renewals of the node\'s mTLS certificate since the node started',
    registers: [registry],
    collect() {
      this.set(agent.certificateStatus()?.renewals ?? 0);
    },
  });
  new Gauge({
    name: 'wgmesh_peers_configured',
    help: 'WireGuard peers configured on this node\'s interface',
    registers: [registry],
    async collect() {
      try {
        this.set((await readPeers()).length);
      } catch {
        this.set(0);
      }
    },
  });
  new Gauge({
    name: 'wgmesh_peer_handshake_age_seconds',
    help: 'Seconds since the latest WireGuard handshake with each peer (absent: never)',
    labelNames: ['peer'],
    registers: [registry],
    async collect() {
      this.reset();
      let peers;
      try {
        peers = await readPeers();
      } catch {
        return;
      }
      const byKey = new Map(peers.map((p) => [p.publicKey, p]));
      const now = Date.now();
      for (const node of peersOf(agent.netmap)) {
        const p = byKey.get(node.publicKey);
        if (p && p.latestHandshakeMs > 0) this.set({ peer: node.name }, (now - p.latestHandshakeMs) / 1000);
      }
    },
  });
  new Gauge({
    name: 'wgmesh_membership_revision',
    help: 'Revision of the membership this node holds',
    registers: [registry],
    collect() {
      this.set(agent.netmap.revision);
    },
  });
  new Gauge({
    name: 'wgmesh_control_connected',
    help: '1 while the membership stream to the bootstrap is up',
    registers: [registry],
    collect() {
      this.set(agent.connected || agent.options.isBootstrap ? 1 : 0);
    },
  });
  new Gauge({
    name: 'wgmesh_peer_rtt_seconds',
    help: 'Mean round-trip time to each peer through the tunnel',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of agent.rttSamples() ?? []) if (s.loss < 1) this.set({ peer: s.peer }, s.rttMs / 1000);
    },
  });
  new Gauge({
    name: 'wgmesh_relayed_peers',
    help: 'Peers this node reaches through a relay now (the rest are direct)',
    registers: [registry],
    collect() {
      this.set(agent.relayPaths.relayed().length);
    },
  });
  new Gauge({
    name: 'wgmesh_relay_pairs',
    help: 'Pairs of nodes that route through this node as their relay (as the bootstrap counts their reports)',
    registers: [registry],
    collect() {
      this.set(agent.relayPaths.relayPairs);
    },
  });
  new Gauge({
    name: 'wgmesh_relay_forwarded_bytes',
    help: 'Bytes this node forwarded between its peers as a relay since it started relaying (the forward rule\'s counter)',
    registers: [registry],
    async collect() {
      this.set((await agent.relayPaths.forwarding?.forwardedBytes()) ?? 0);
    },
  });
}
