#!/usr/bin/env node
const { applyDebugEnvironment } = await import('../dist/debug-env.js');
applyDebugEnvironment(process.argv.slice(2), process.env);
const { main } = await import('../dist/main.js');
process.exitCode = await main(process.argv.slice(2), process.env);
