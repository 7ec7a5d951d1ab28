import { labUp, labDown, labKillNode, labStartNode } from '@wgmesh/cli/lab';
import { e2eWgmeshCommand } from './helpers/lab.js';
const which = process.argv[2];
if (which === 'upnp') {
  await labDown({ name: 'wgrlq' });
  await labUp({ name: 'wgrlq', hosts: 3, underlay: '203.0.113.0/24', mesh: 'rly', nat: ['h2', 'h3'], natStyle: 'bare', upnp: true, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 });
} else {
  await labDown({ name: 'wgrlx' });
  const { lab } = await labUp({ name: 'wgrlx', hosts: 5, underlay: '203.0.113.0/24', mesh: 'rly', nat: ['h2', 'h3'], natStyle: 'bare',
    bootstrapArgs: ['-relay=false'], joinArgs: ['-relay'], wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 });
  
  
}
console.log('up');
