/** The lab library: used by `wgmesh lab` and by the end-to-end tests. */
export {
  REPO_ROOT,
  builtWgmeshCommand,
  sourceWgmeshCommand,
  labEnv,
  findLab,
  loadLab,
  labHost,
  hostPid,
  hostCommand,
  hostExec,
  nodeInfo,
  inspectLab,
  labStatus,
  waitForMesh,
  labUp,
  labAdd,
  labDown,
  labKillNode,
  labStartNode,
  labRestartNode,
  plannedNodeArgv,
  nodeExit,
  type NodeExit,
  type Progress,
  type LabUpOptions,
  type LabUpResult,
  type LabAddOptions,
  type LabAddResult,
  type LabKillOptions,
  type LabKillResult,
  type ChildExit,
  type LabStartOptions,
  type LabStartResult,
  type LabRestartOptions,
  type LabRestartResult,
  type LabDownOptions,
  type LabDownReport,
  type HostExecOptions,
  type HostStatus,
  type LabInspection,
  type LabRef,
} from './lab.js';
export { LAB_DEFAULTS, MAX_HOSTS, MAX_LAB_NAME, MAX_MESH_NAME } from './constants.js';
export * from './errors.js';
export { hostIndex, hostName, labNames, labPaths, nodeArgs, splitArgs, parseCidr, hostAddress, formatCidr, type LabNames, type LabPaths, type Ipv4Cidr } from './plan.js';
export { descendantsOf, parseNodeInfo, type NodeInfo, type ProcStat } from './parse.js';
export { parseLabState, type LabHost, type LabProcess, type LabState, type LabStop, type HostRole } from './state.js';
export { isRunning, processTable, readProcStat, runCapture, type ExecResult, type ProcessIdentity } from './sys.js';
export { listNetns, netnsPath } from './topology.js';
