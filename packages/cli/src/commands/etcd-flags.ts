/**
 * The flags that point a command at the etcd cluster a mesh's bootstraps share (`bootstrap -store
 * etcd`, `store migrate`), read into the store's settings in one place.
 */
import { readFile } from 'node:fs/promises';
import type { EtcdMeshStoreInit } from '@wgmesh/bootstrap';
import { UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';

export const ETCD_FLAGS: FlagSpec[] = [
  { name: 'etcd-endpoints', type: 'list', value: 'URL[,URL…]', help: 'etcd client URLs, http://HOST:2379 (https:// with -etcd-ca-cert); repeatable or comma-separated' },
  { name: 'etcd-prefix', type: 'string', value: 'PREFIX', help: 'key prefix of the mesh in etcd, ending in / (default /wgmesh/<mesh>/)' },
  { name: 'etcd-ca-cert', type: 'string', value: 'FILE', help: 'CA certificate of etcd\'s server certificates (PEM): talk to etcd over TLS' },
  { name: 'etcd-cert', type: 'string', value: 'FILE', help: 'client certificate for etcd (PEM), with -etcd-key, when etcd asks for one' },
  { name: 'etcd-key', type: 'string', value: 'FILE', help: 'the private key of -etcd-cert (PEM)' },
];

async function readPem(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new UsageError(`-${flag} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** The etcd flags, checked and read: endpoints, prefix and TLS files (meshName and cidr are the caller's). */
export async function etcdSettingsFromFlags(values: FlagValues, needEndpointsFor: string): Promise<Omit<EtcdMeshStoreInit, 'meshName' | 'cidr'>> {
  const endpoints = ((values['etcd-endpoints'] as string[] | undefined) ?? []).map((e) => e.trim()).filter(Boolean);
  if (endpoints.length === 0) throw new UsageError(`${needEndpointsFor} needs -etcd-endpoints http://HOST:2379[,…]: the client URLs of the etcd cluster`);
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new UsageError(`-etcd-endpoints: "${endpoint}" is not a URL; write http://HOST:2379 (or https:// with -etcd-ca-cert)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`-etcd-endpoints: "${endpoint}" must start with http:// or https://`);
    if (url.protocol === 'https:' && !values['etcd-ca-cert']) throw new UsageError(`-etcd-endpoints: "${endpoint}" is https: give -etcd-ca-cert, the CA of etcd's certificates`);
  }
  const prefix = values['etcd-prefix'] ? String(values['etcd-prefix']) : undefined;
  if (prefix !== undefined && (!prefix.startsWith('/') || !prefix.endsWith('/'))) throw new UsageError(`-etcd-prefix "${prefix}" must start and end with / (e.g. /wgmesh/prod/)`);
  if (Boolean(values['etcd-cert']) !== Boolean(values['etcd-key'])) throw new UsageError('-etcd-cert and -etcd-key go together: give both or neither');
  if (values['etcd-cert'] && !values['etcd-ca-cert']) throw new UsageError('-etcd-cert needs -etcd-ca-cert too (client certificates are only sent over TLS)');
  return {
    endpoints,
    ...(prefix !== undefined ? { prefix } : {}),
    ...(values['etcd-ca-cert'] ? { caCert: await readPem(String(values['etcd-ca-cert']), 'etcd-ca-cert') } : {}),
    ...(values['etcd-cert'] ? { cert: await readPem(String(values['etcd-cert']), 'etcd-cert') } : {}),
    ...(values['etcd-key'] ? { key: await readPem(String(values['etcd-key']), 'etcd-key') } : {}),
  };
}
