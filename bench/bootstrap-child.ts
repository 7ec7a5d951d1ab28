// A bootstrap in its own process, so the benchmark can measure its memory and CPU alone.
import { Bootstrap, FileStateStore } from '@wgmesh/bootstrap';
import { generateKeyPair, MemoryWgDriver } from '@wgmesh/agent';

const [stateFile] = process.argv.slice(2);
const bootstrap = new Bootstrap(
  { store: new FileStateStore(stateFile!), driver: new MemoryWgDriver('wgbench') },
  { meshName: 'bench', nodeName: 'bootstrap', privateKey: generateKeyPair().privateKey, cidr: '198.18.0.0/16', selfIp: '198.18.0.1', grpcBindAddr: '127.0.0.1', grpcPort: 0, heartbeatMs: 3_600_000,
    liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 } },
);
await bootstrap.start();
process.stdout.write(`${bootstrap.port}\n`);
const stop = () => void bootstrap.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
// The benchmark holds our stdin open: when it dies without a word (killed by a signal meant for
// it), the pipe closes and this bootstrap goes with it rather than stay behind.
process.stdin.on('end', stop);
process.stdin.resume();
