import { NotRoot } from '@wgmesh/agent/errors';
import { nameHint } from './constants.js';

/** Named failures of the lab; messages say what to do. */
export class LabError extends Error {
  override readonly name: string = 'LabError';
}

/** wgmesh's one NotRoot (from the agent), with the lab's reason. */
export class LabNotRoot extends NotRoot {
  constructor() {
    super('the lab creates network and mount namespaces and needs root: run it with sudo');
  }
}

export class InvalidLabOptions extends LabError {
  override readonly name = 'InvalidLabOptions';
}

export class LabNotFound extends LabError {
  override readonly name = 'LabNotFound';
  constructor(readonly lab: string) {
    super(`no lab "${lab}" is up: start one with \`wgmesh lab up N${nameHint(lab)}\``);
  }
}

export class UnknownHost extends LabError {
  override readonly name = 'UnknownHost';
  constructor(readonly lab: string, readonly host: string, known: readonly string[]) {
    super(`lab "${lab}" has no host "${host}"; its hosts: ${known.join(', ') || 'none'}`);
  }
}

/** The lab exists with a shape the request cannot reach without tearing it down. */
export class LabConflict extends LabError {
  override readonly name = 'LabConflict';
}

export class LabCommandFailed extends LabError {
  override readonly name = 'LabCommandFailed';
  constructor(
    message: string,
    readonly commandLine: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Nodes did not converge before the deadline; the lab is left running so its logs can be read. */
export class LabNotReady extends LabError {
  override readonly name = 'LabNotReady';
}

/** A node's process exited while the lab waited for it. */
export class NodeExited extends LabError {
  override readonly name = 'NodeExited';
  constructor(readonly host: string, readonly logFile: string, logTail: string) {
    super(`${host}'s wgmesh exited; last lines of ${logFile}:\n${logTail || '(empty)'}`);
  }
}

/** The host's node is not running (never started, exited, or stopped by the lab). */
export class NodeNotRunning extends LabError {
  override readonly name = 'NodeNotRunning';
  constructor(readonly lab: string, readonly host: string) {
    super(`${host}'s wgmesh is not running in lab "${lab}"; start it with \`wgmesh lab start${nameHint(lab)} ${host}\``);
  }
}

/** The host's node is running, so it cannot be started. */
export class NodeStillRunning extends LabError {
  override readonly name = 'NodeStillRunning';
  constructor(readonly lab: string, readonly host: string, readonly pid: number) {
    super(`${host}'s wgmesh is already running (PID ${pid}) in lab "${lab}"; use \`wgmesh lab restart${nameHint(lab)} ${host}\``);
  }
}

/** A daemon the lab runs for its routers (miniupnpd, the STUN server) exited or did not become ready. */
export class DaemonFailed extends LabError {
  override readonly name = 'DaemonFailed';
  constructor(readonly daemon: string, why: string, readonly logFile: string, logTail: string) {
    super(`${daemon} ${why}; last lines of ${logFile}:\n${logTail || '(empty)'}`);
  }
}

/**
 * The lab's etcd cluster (several bootstraps) did not answer healthy in time, or a member
 * exited. The lab is left up, so the member logs named here can be read.
 */
export class EtcdNotHealthy extends LabError {
  override readonly name = 'EtcdNotHealthy';
  constructor(message: string, readonly logFiles: readonly string[]) {
    super(message);
  }
}
