/**
 * Runs the wgmesh CLI from source, as bin/wgmesh.js runs the build: the lab starts nodes through
 * this file with `node --conditions=source --import tsx` (`lab up -from-source`, or the e2e tests
 * with WGMESH_E2E_CLI=source). The same steps in the same order: the debug environment is set
 * before main (and with it grpc-js) is loaded.
 */
import { applyDebugEnvironment } from '../debug-env.js';

applyDebugEnvironment(process.argv.slice(2), process.env);
const { main } = await import('../main.js');
process.exitCode = await main(process.argv.slice(2), process.env);
