import { isIP } from 'node:net';
import { deriveVni, L2_DEFAULTS, l2SettingsProblem, type L2Settings } from '@wgmesh/agent/l2/l2';
import type { FlagSpec, FlagValues } from '../flags/parse.js';
import { UsageError } from '../errors.js';

/** A node's share of the mesh's layer 2 (join and bootstrap). */
export const L2_NODE_FLAGS: FlagSpec[] = [
  { name: 'l2-bridge-if', type: 'list', value: 'IFACE', default: [], help: 'in a mesh with layer 2 (bootstrap -l2): also put this local interface in the bridge br<MESH> (more than once, or comma-separated)' },
  { name: 'l2-addr', type: 'string', value: 'CIDR', help: 'in a mesh with layer 2: give the bridge br<MESH> this address, e.g. 10.99.0.1/24' },
];

/** The mesh's layer 2, decided by its bootstrap. */
export const L2_BOOTSTRAP_FLAGS: FlagSpec[] = [
  {
    name: 'l2', type: 'bool', default: false,
    help: 'give the mesh layer 2: every node bridges br<MESH> with a VXLAN device over its wg interface that floods to every peer (no spanning tree: a frame from the mesh never goes back to it). ' +
      'Kept in the mesh\'s state: a restart without -l2 keeps it. Not with -store etcd yet',
  },
  { name: 'l2-vni', type: 'int', value: 'VNI', help: 'the VXLAN network identifier, 1-16777215 (default: derived from the mesh name)' },
  { name: 'l2-port', type: 'int', value: 'PORT', help: `VXLAN's UDP port between mesh IPs (default ${L2_DEFAULTS.port})` },
  ...L2_NODE_FLAGS,
];

/** -l2-bridge-if and -l2-addr, checked: what the node puts in and on its bridge. */
export function l2NodeFromFlags(values: FlagValues): { bridgeIfs?: string[]; address?: string } | undefined {
  const bridgeIfs = (values['l2-bridge-if'] as string[] | undefined) ?? [];
  for (const iface of bridgeIfs) {
    if (!/^[^\s/:]{1,15}$/.test(iface) || iface === '.' || iface === '..') throw new UsageError(`-l2-bridge-if ${iface}: not an interface name (1-15 characters, no spaces, '/' or ':')`);
  }
  const address = values['l2-addr'] as string | undefined;
  if (address !== undefined) {
    const [ip, bits, ...rest] = address.split('/');
    const family = isIP(ip ?? '');
    const max = family === 6 ? 128 : 32;
    if (!family || rest.length || bits === undefined || !/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      throw new UsageError(`-l2-addr ${address}: give an address with its prefix length, e.g. 10.99.0.1/24`);
    }
  }
  if (!bridgeIfs.length && address === undefined) return undefined;
  return { ...(bridgeIfs.length ? { bridgeIfs } : {}), ...(address !== undefined ? { address } : {}) };
}

/** -l2, -l2-vni and -l2-port as the mesh's L2 settings; undefined without -l2. */
export function meshL2FromFlags(values: FlagValues, mesh: string, store: string): L2Settings | undefined {
  const vni = values['l2-vni'] as number | undefined;
  const port = values['l2-port'] as number | undefined;
  if (!values.l2) {
    const given = [vni !== undefined ? '-l2-vni' : '', port !== undefined ? '-l2-port' : ''].filter(Boolean);
    if (given.length) throw new UsageError(`${given.join(' and ')} set the mesh's layer 2: add -l2`);
    return undefined;
  }
  if (store !== 'file') throw new UsageError('-l2 is not supported with -store etcd yet: run the mesh with -store file, or without -l2');
  const settings = { vni: vni ?? deriveVni(mesh), port: port ?? L2_DEFAULTS.port };
  const problem = l2SettingsProblem(settings);
  if (problem) throw new UsageError(`-l2: ${problem}`);
  return settings;
}
