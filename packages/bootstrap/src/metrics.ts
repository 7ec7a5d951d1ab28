import { Counter, Gauge, Histogram, type Registry as MetricsRegistry } from 'prom-client';
import type { Bootstrap } from './bootstrap.js';

const STATUSES = ['alive', 'suspect', 'failed', 'left'];

/** The bootstrap's own metrics (members, joins, fan-out), beside the node metrics every agent has. */
export function registerBootstrapMetrics(registry: MetricsRegistry, bootstrap: Bootstrap): void {
  new Gauge({
    name: 'wgmesh_members',
    help: 'Members of the mesh by status',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const counts = new Map(STATUSES.map((s) => [s, 0]));
      for (const m of bootstrap.table?.list() ?? []) {
        const s = m.status.replace('NODE_STATUS_', '').toLowerCase();
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'wgmesh_watchers',
    help: 'Open membership streams',
    registers: [registry],
    collect() {
      this.set(bootstrap.stats?.watchers ?? 0);
    },
  });
  new Counter({
    name: 'wgmesh_watchers_fell_behind_total',
    help: 'Membership streams ended (RESOURCE_EXHAUSTED) because the watcher left too many changes unread; it resumes on reconnect',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(bootstrap.stats?.watchersFellBehind ?? 0);
    },
  });
  new Counter({
    name: 'wgmesh_joins_total',
    help: 'Join requests by result and, for refusals, reason',
    labelNames: ['result', 'reason'],
    registers: [registry],
    collect() {
      const stats = bootstrap.stats;
      if (!stats) return;
      this.reset();
      this.inc({ result: 'accepted', reason: '' }, stats.joinsAccepted);
      for (const [reason, n] of Object.entries(stats.joinsRejected)) this.inc({ result: 'rejected', reason }, n);
    },
  });
  new Gauge({
    name: 'wgmesh_store_reachable',
    help: 'With -store etcd: 1 while etcd answers this bootstrap (else joins and updates are refused), 0 while it does not; always 1 with the file store',
    registers: [registry],
    collect() {
      this.set(bootstrap.table?.storeReachable === false ? 0 : 1);
    },
  });
  new Gauge({
    name: 'wgmesh_failure_detection_leader',
    help: 'With -store etcd: 1 while this bootstrap holds the etcd leader key and runs failure detection; always 1 with the file store',
    registers: [registry],
    collect() {
      this.set(!bootstrap.coordinator || bootstrap.coordinator.status.leading ? 1 : 0);
    },
  });
  const fanout = new Histogram({
    name: 'wgmesh_fanout_seconds',
    help: 'Time to hand membership changes (one fan-out: a change, or several coalesced) to every open Watch stream',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  bootstrap.onFanout = (seconds) => fanout.observe(seconds);
}
