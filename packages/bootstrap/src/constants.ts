import { RTT_SAMPLES_PER_REPORT } from '@wgmesh/agent/rtt/report';
import { SHARED_LIMITS } from '@wgmesh/agent/limits';

export const DEFAULTS = {
  meshName: 'wgmesh',
  cidr: '10.232.0.0/16',
  selfIp: '10.232.1.1',
  grpcBindAddr: '0.0.0.0',
  grpcPort: 5000,
  stateDir: '/var/lib/wgmesh',
  /** Watch deltas kept in memory for resuming streams; older resumes get a snapshot. */
  historyLimit: 4096,
  /**
   * A watcher that has this many live changes (or bytes of them) sent and not yet flushed to its
   * connection is cut off with RESOURCE_EXHAUSTED and resumes from its revision on reconnect.
   * Counted beyond what the connection took (the HTTP/2 window, socket buffers, 16 messages in
   * grpc-js), and never counting the snapshot or replay a stream starts with: a 10,000-node
   * snapshot (a few MB, one event) to a healthy watcher is not cut off. 512 changes or 256 KiB
   * is seconds of changes for a watcher on even a slow link, and below historyLimit, so the
   * reconnect replays what was dropped instead of sending a snapshot.
   */
  watchQueueMaxEvents: 512,
  watchQueueMaxBytes: 256 * 1024,
  /**
   * Live changes go to the Watch streams together (WatchFanout): at rest at once; after a fan-out
   * the next waits watchFlushGapPerWatcherMs per open stream and per change the last one carried,
   * within watchFlushMinGapMs..watchFlushMaxGapMs, or longer when a fan-out itself took longer.
   * With 1,000 nodes: a change that follows another within 50 ms waits for the rest of that;
   * a wave of joins goes out every 250 ms, so each agent gets a message per 250 ms, not per join.
   */
  watchFlushMinGapMs: 10,
  watchFlushGapPerWatcherMs: 0.05,
  watchFlushMaxGapMs: 250,
  /**
   * Join answers and Watch snapshots (each the whole membership) handed to gRPC and not yet
   * flushed, in bytes, over all callers (SendBudget): about 26 answers of a 10,000-node mesh, 270
   * of a 1,000-node one. It was 128 MB: at 10,000 nodes the answers in flight plus the flushed ones
   * awaiting the garbage collector peaked at 420 MB of array buffers, memory the process kept.
   */
  joinAnswersInFlightMaxBytes: 32 * 1024 * 1024,
  /** See limitHeapGrowth: V8 collects once the heap is half again what survived the last collection. */
  heapGrowthPercent: 50,
  /** ...once the mesh has this many members (Bootstrap.limitHeapGrowthWhenLarge). */
  heapGrowthFromMembers: 1_000,
} as const;

/** The shared sizes (node name, tags, message) come from the agent, which enforces them too. */
export const LIMITS = {
  ...SHARED_LIMITS,
  meshNameMax: 10,
  endpointsMax: 16,
  /**
   * Samples per Update taken. Agents send at most RTT_SAMPLES_PER_REPORT at a time (so a report
   * fits in messageMax at any mesh size); agents from before that sent up to 1,024, and their
   * heartbeats must not be refused in a mesh of 257-1,024 nodes.
   */
  rttSamplesMax: Math.max(RTT_SAMPLES_PER_REPORT, 1024),
  /** A node secret is 43 characters; anything much longer is not one. */
  nodeSecretMax: 128,
} as const;
