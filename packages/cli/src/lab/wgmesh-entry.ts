/**
 * Runs the wgmesh CLI (what bin/wgmesh.js does for the build): the lab starts nodes through this
 * file with `node --conditions=source --import tsx` to run them from source without a build.
 */
import { main } from '../main.js';

process.exitCode = await main(process.argv.slice(2), process.env);
