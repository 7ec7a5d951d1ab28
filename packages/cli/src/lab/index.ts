/** The lab library: used by `wgmesh lab` and by the end-to-end tests. */
export { labUp, labAdd, labDown, labKillNode, labStartNode, labRestartNode, labStartEtcd } from './orchestrate.js';
export { localNodeInfo, waitForMesh, runningHosts } from './readiness.js';
export { findLab, loadLab, labHost, bootstrapHosts, hostPid, hostCommand, hostExec, inspectLab, labStatus } from './hosts.js';
export { REPO_ROOT, builtWgmeshCommand, sourceWgmeshCommand, labEnv, plannedNodeArgv, restartNodeArgv, createNodeSupervisor } from './supervisor.js';
export type {
  NodeSupervisor,
  NodeExit,
  Progress,
  LabUpOptions,
  LabUpResult,
  LabAddOptions,
  LabAddResult,
  LabKillOptions,
  LabKillResult,
  ChildExit,
  LabStartOptions,
  LabStartResult,
  LabRestartOptions,
  LabRestartResult,
  LabDownOptions,
  LabDownReport,
  HostExecOptions,
  HostStatus,
  LabInspection,
  LabRef,
  WaitForMeshOptions,
} from './types.js';
export { LAB_DEFAULTS, nameHint, MAX_HOSTS, MAX_LAB_NAME, MAX_MESH_NAME, NAT_SEGMENT_PREFIX, MAX_BOOTSTRAPS, ETCD_CLIENT_PORT, ETCD_PEER_PORT } from './constants.js';
export * from './errors.js';
export {
  hostIndex,
  hostName,
  labNames,
  labPaths,
  nodeArgs,
  bootstrapAddresses,
  isBootstrapIndex,
  validateBootstrapCount,
  planEtcd,
  planEtcdMembers,
  etcdEndpoints,
  etcdArgs,
  etcdctlArgs,
  splitArgs,
  parseCidr,
  hostAddress,
  formatCidr,
  parseNatGroups,
  planNat,
  natHost,
  natSegment,
  routerWanAddress,
  routerName,
  routerIndex,
  ROUTER_LINKS,
  NAT_STYLES,
  parseNatStyle,
  routerIptables,
  routerNatCommands,
  reservedAddresses,
  stunAddresses,
  miniupnpdConfig,
  MINIUPNPD_CHAINS,
  type NatStyle,
  type LabNames,
  type LabPaths,
  type Ipv4Cidr,
  type NatGroupInput,
  type NatRouterPlan,
  type NatHostPlan,
  type EtcdMemberPlan,
} from './plan.js';
export { descendantsOf, parseNodeInfo, parseEtcdStatus, etcdLeaderEndpoint, type NodeInfo, type ProcStat, type EtcdEndpointStatus } from './parse.js';
export { labEtcdEndpoints, labEtcdStatus, labEtcdctl, etcdLeader, requireEtcd, ETCD_COMMANDS, type EtcdMemberStatus, type StartEtcdOptions } from './etcd.js';
export { runningDaemons } from './daemons.js';
export { parseLabState, type LabDaemon, type LabEtcdMember, type LabStun, type LabHost, type LabHostNat, type LabProcess, type LabRouter, type LabState, type LabStop, type HostRole } from './state.js';
export { commandOnPath, exitCodeOf, isRoot, isRunning, processTable, readProcStat, runCapture, type ExecResult, type ProcessIdentity } from './sys.js';
export { listNetns, netnsPath } from './topology.js';
