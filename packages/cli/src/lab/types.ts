/** The lab library's option, result and report types (the functions are in orchestrate.ts, hosts.ts, readiness.ts and supervisor.ts). */
import type { NatGroupInput, NatStyle } from './plan.js';
import type { LabHost, LabHostNat, LabProcess, LabState } from './state.js';

export type Progress = (message: string) => void;

export interface LabUpOptions {
  /** Prefix of every namespace the lab creates; default "wgl". Tests pass their own. */
  readonly name?: string;
  readonly hosts: number;
  readonly underlay?: string;
  readonly cidr?: string;
  readonly mesh?: string;
  readonly bootstrapPort?: number;
  /**
   * How many hosts bootstrap (default 1; at most 5 and the host count): h1…hK each run `wgmesh
   * bootstrap` with the mesh address .K of the CIDR, and with more than one they keep the member
   * table in an etcd cluster the lab runs, a member in each of those hosts (needs Debian's
   * etcd-server and etcd-client). Every other host joins with every bootstrap's address.
   */
  readonly bootstraps?: number;
  /**
   * Hosts to put behind masquerading NAT routers, one router per entry: "h2" (a router of its
   * own), "h4+h5" or ["h4", "h5"] (both behind one router). Each router is a namespace LAB-rR with
   * a WAN address at the top of the underlay (.254, .253, …) and a private /28 of `natLan`
   * (router .1, its hosts .2, .3, …). The bootstraps (h1…hK) are never behind NAT.
   */
  readonly nat?: readonly NatGroupInput[];
  /** Where the routers' private segments are carved from; default 198.51.100.0/24. */
  readonly natLan?: string;
  /**
   * How the routers translate and filter (default home; see NatStyle and routerNatCommands):
   * home drops unsolicited packets to the router and through it; bare masquerades with a forward
   * filter only; random masquerades with a random port per destination (and the home firewall).
   */
  readonly natStyle?: NatStyle;
  /**
   * Run miniupnpd (UPnP IGD, NAT-PMP, PCP) on every NAT router for its LAN, plus the public
   * STUN server its start-up check needs (namespace LAB-stun, two underlay addresses below the
   * routers'). The routers' rules are then made with iptables-legacy, as miniupnpd's are.
   */
  readonly upnp?: boolean;
  /** Create the namespaces only; start no wgmesh. */
  readonly hostsOnly?: boolean;
  /** argv prefix that runs wgmesh; default: the built CLI. */
  readonly wgmeshCommand?: readonly string[];
  readonly logLevel?: string;
  /** Extra flags for every `wgmesh bootstrap`, e.g. ['-reap-after', '5s']; kept in lab.json for restarts. */
  readonly bootstrapArgs?: readonly string[];
  /** Extra flags for every `wgmesh join` (also of hosts added later), e.g. ['-heartbeat', '1s']. */
  readonly joinArgs?: readonly string[];
  /** Wait until every node sees every other one (default true). */
  readonly wait?: boolean;
  readonly readyTimeoutMs?: number;
  /** Base environment of the nodes (WGMESH_* settings in it are dropped); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Starts the nodes and hears how they exit; default: a new one for this call. Give several
   * calls the same one to learn how a node one of them started has exited (`exitOf`).
   */
  readonly supervisor?: NodeSupervisor;
  readonly onProgress?: Progress;
}

export interface LabUpResult {
  /** created: new lab; already-up: it was running with this many hosts; grown: hosts were added. */
  readonly status: 'created' | 'already-up' | 'grown';
  readonly lab: LabState;
  /** A partial or dead lab of the same name was torn down first. */
  readonly replacedStale: boolean;
}

export interface LabAddOptions {
  readonly name?: string;
  /** How many hosts to add (default 1): all are created first, then their joins start together. */
  readonly count?: number;
  readonly wait?: boolean;
  readonly readyTimeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Starts the nodes and hears how they exit; default: a new one for this call. Give several
   * calls the same one to learn how a node one of them started has exited (`exitOf`).
   */
  readonly supervisor?: NodeSupervisor;
  readonly onProgress?: Progress;
}

export interface LabAddResult {
  readonly lab: LabState;
  /** The first host added (the only one unless `count` was given). */
  readonly host: LabHost;
  /** Every host added, in index order. */
  readonly hosts: readonly LabHost[];
}

export interface LabKillOptions {
  /** Default SIGTERM, as kill(1); SIGKILL is a crash: no Leave, no clean-up by the node. */
  readonly signal?: NodeJS.Signals;
  /** How long the node may take to exit before it gets SIGKILL; default 5 s. */
  readonly timeoutMs?: number;
  /**
   * How long the node's children (wireguard-go) may take to exit on their own once it is gone:
   * a SIGKILLed agent's wireguard-go gets SIGTERM from the kernel (setpriv --pdeathsig) and needs
   * about a second to remove its interface. Whatever is left then is stopped by the lab. Default 5 s.
   */
  readonly childTimeoutMs?: number;
  readonly onProgress?: Progress;
}

export interface ChildExit {
  readonly pid: number;
  readonly comm: string;
  /** exited: on its own after the node died; stopped: the lab had to signal it. */
  readonly how: 'exited' | 'stopped';
}

export interface LabKillResult {
  readonly lab: LabState;
  readonly host: LabHost;
  readonly pid: number;
  readonly signal: NodeJS.Signals;
  /** Wall clock just before the signal. */
  readonly signalledMs: number;
  /** When the node was seen gone (polled). */
  readonly exitedMs: number;
  /** It outlived the deadline and was killed with SIGKILL. */
  readonly escalated: boolean;
  /** The node's descendants when it was signalled (wireguard-go), and how each ended. */
  readonly children: readonly ChildExit[];
}

export interface LabStartOptions {
  /** Base environment of the node (WGMESH_* settings in it are dropped); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Flags appended to the node's command line this time (Go-style flags: the last wins), e.g.
   * `-store etcd -etcd-endpoints URL` to restart a bootstrap on another store. They are recorded
   * with it, so later restarts keep them, as a machine keeps a changed unit file. Default: none,
   * the command line it last ran with.
   */
  readonly args?: readonly string[];
  /** Wait until every running node sees every other one (default true). */
  readonly wait?: boolean;
  readonly readyTimeoutMs?: number;
  /**
   * Starts the nodes and hears how they exit; default: a new one for this call. Give several
   * calls the same one to learn how a node one of them started has exited (`exitOf`).
   */
  readonly supervisor?: NodeSupervisor;
  readonly onProgress?: Progress;
}

export interface LabStartResult {
  readonly lab: LabState;
  readonly host: LabHost;
}

export interface LabRestartOptions extends LabStartOptions {
  /** How a running node is stopped first (default SIGTERM). */
  readonly signal?: NodeJS.Signals;
  readonly timeoutMs?: number;
  readonly childTimeoutMs?: number;
}

export interface LabRestartResult extends LabStartResult {
  /** How the previous process ended; undefined when it was not running. */
  readonly killed: LabKillResult | undefined;
}

export interface LabDownOptions {
  readonly name?: string;
  readonly stopTimeoutMs?: number;
  readonly onProgress?: Progress;
}

export interface LabDownReport {
  /** False when there was nothing to tear down. */
  readonly existed: boolean;
  /** Recorded node PIDs that exited after SIGTERM. */
  readonly stopped: number[];
  /** PIDs (nodes or their children) that needed SIGKILL. */
  readonly killed: number[];
  readonly netns: string[];
  readonly mounts: string[];
  /** Processes inside the lab's namespaces that the lab did not start (e.g. a `lab exec` still running). */
  readonly strays: number[];
}

export interface HostExecOptions {
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  readonly cwd?: string;
  /** Replace a leading "wgmesh" with the lab's wgmesh command (default true). */
  readonly resolveWgmesh?: boolean;
}

export type LabRef = LabState | string;

/**
 * Starts the lab's nodes and remembers how each one it started has exited: only the parent
 * process learns an exit status, so whoever waits for a node must ask the supervisor that
 * started it. Holds no state outside itself (createNodeSupervisor makes one).
 */
export interface NodeSupervisor {
  /**
   * Starts the host's wgmesh detached (its own session), output appended to the host's log: the
   * planned command line, or `argv` (a restart runs exactly what ran before). Returns the host
   * with its new process recorded (and any earlier stop cleared); throws NodeExited if it died at once.
   */
  start(lab: LabState, host: LabHost, baseEnv?: NodeJS.ProcessEnv, argv?: readonly string[]): Promise<LabHost>;
  /**
   * How a node this supervisor started has exited (code 13 is node's "unsettled top-level
   * await": the event loop ran empty). Undefined while it runs, or when another supervisor or
   * process (e.g. an earlier `wgmesh lab up`) started it.
   */
  exitOf(proc: Pick<LabProcess, 'pid' | 'startedMs'>): NodeExit | undefined;
}

export interface NodeExit {
  /** Exit status, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Wall clock when this process learned of the exit. */
  readonly atMs: number;
}

export interface WaitForMeshOptions {
  readonly timeoutMs?: number;
  readonly onProgress?: Progress;
  /** The supervisor that started the nodes: a node that exits is then reported with its exit status. */
  readonly supervisor?: NodeSupervisor;
}

export interface LabInspection {
  readonly state: LabState | undefined;
  /** Anything of the lab exists: state, namespaces, mounts or directories. */
  readonly exists: boolean;
  /** Every recorded host has its namespaces and (unless hosts-only) a running node. */
  readonly healthy: boolean;
  readonly problems: string[];
}

export interface HostStatus {
  readonly name: string;
  readonly role: string;
  /** The host's own address: on the underlay, or private behind its NAT router. */
  readonly underlayIp: string;
  /** Its NAT router, when it has one. */
  readonly nat: LabHostNat | undefined;
  readonly meshIp: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The signal the lab stopped it with (`lab kill`), while it is not running. */
  readonly stoppedBy: string | undefined;
}
