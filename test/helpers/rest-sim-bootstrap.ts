/**
 * The bootstrap of the resting-node simulation (rest-sim.ts), in a process of its own: the node's
 * CPU time is then the test process's alone, without the bootstrap answering its heartbeats or
 * running its liveness passes.
 *
 *   node --conditions=source --import tsx rest-sim-bootstrap.ts MEMBERS
 *
 * Starts a bootstrap on loopback (in-memory WireGuard, no state file, failure detection far off),
 * puts MEMBERS - 1 other members straight into its table, and prints one JSON line {"port": N}.
 * Stops when its stdin closes (the parent ended, or is done with it) or on SIGTERM.
 */
import { createInterface } from 'node:readline';
import { startFilledBootstrap } from './inprocess.js';

const members = Number(process.argv[2]);
if (!Number.isInteger(members) || members < 1) {
  process.stderr.write('usage: rest-sim-bootstrap.ts MEMBERS (a whole number, at least 1)\n');
  process.exit(2);
}

const bootstrap = await startFilledBootstrap(members - 1);
process.stdout.write(`${JSON.stringify({ port: bootstrap.port })}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void bootstrap.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
createInterface({ input: process.stdin }).on('close', stop);
