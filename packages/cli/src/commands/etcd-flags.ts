/**
 * The etcd flags, one definition for every command that talks to a mesh in etcd
 * (`wgmesh store migrate`, `wgmesh bootstrap -store etcd`), and the one function that turns them
 * into the store's init.
 */
import { readFileSync } from 'node:fs';
import type { EtcdMeshStoreInit } from '@wgmesh/bootstrap/store/etcd-mesh-store';
import { UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';

export const ETCD_FLAGS: FlagSpec[] = [
  { name: 'etcd-endpoints', type: 'list', value: 'URL[,URL…]', default: [], help: 'etcd client URLs, http://HOST:2379 or https:// with TLS (comma-separated or repeated)' },
  { name: 'etcd-prefix', type: 'string', value: 'PREFIX', default: '', help: 'key prefix of the mesh in etcd, ending in "/" (default /wgmesh/<mesh>/)' },
  { name: 'etcd-ca-cert', type: 'string', value: 'FILE', help: 'CA certificate of etcd\'s server certificates (PEM); without it, https:// endpoints are checked against the system\'s CAs' },
  { name: 'etcd-cert', type: 'string', value: 'FILE', help: 'client certificate for etcd (PEM), with -etcd-key, when etcd asks for one' },
  { name: 'etcd-key', type: 'string', value: 'FILE', help: 'private key of -etcd-cert (PEM)' },
];

/** Reads a file; how the tests stand in for the disk. */
export type ReadPem = (path: string) => Buffer;

function readPem(values: FlagValues, flag: string, read: ReadPem): Buffer | undefined {
  const file = values[flag];
  if (file === undefined || file === '') return undefined;
  let pem: Buffer;
  try {
    pem = read(String(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`-${flag} ${String(file)}: cannot be read (${code === 'ENOENT' ? 'no such file' : (err as Error).message})`);
  }
  if (!pem.toString('latin1').includes('-----BEGIN ')) throw new UsageError(`-${flag} ${String(file)}: not a PEM file (no "-----BEGIN" line)`);
  return pem;
}

/**
 * The store's init from the etcd flags, for the mesh `meshName` with `cidr`: at least one
 * endpoint, each an http(s) URL; a prefix ending in "/" (empty: the store's default); the TLS
 * files read, a client certificate only with its key and etcd's CA, and a CA only with https://
 * endpoints (it turns TLS on for all of them).
 */
export function etcdStoreInitFromFlags(values: FlagValues, meshName: string, cidr: string, read: ReadPem = (p) => readFileSync(p)): EtcdMeshStoreInit {
  const endpoints = (values['etcd-endpoints'] as string[] | undefined) ?? [];
  if (endpoints.length === 0) throw new UsageError('-etcd-endpoints is required: the client URLs of the etcd cluster, e.g. -etcd-endpoints http://10.0.0.1:2379,http://10.0.0.2:2379');
  for (const endpoint of endpoints) {
    // The client dials what follows the scheme as HOST:PORT: no path, not even a trailing "/".
    if (!/^https?:\/\/[^/\s?#]+$/.test(endpoint) || !URL.canParse(endpoint)) {
      throw new UsageError(`-etcd-endpoints: "${endpoint}" is not an etcd client URL like http://10.0.0.1:2379 (or https:// with TLS; no path)`);
    }
  }
  const prefix = String(values['etcd-prefix'] ?? '');
  if (prefix !== '' && !prefix.endsWith('/')) throw new UsageError(`-etcd-prefix "${prefix}" must end with "/", e.g. ${prefix}/`);
  if (Boolean(values['etcd-cert']) !== Boolean(values['etcd-key'])) throw new UsageError('-etcd-cert and -etcd-key go together: give both, or neither');
  if (values['etcd-cert'] && !values['etcd-ca-cert']) throw new UsageError('-etcd-cert needs -etcd-ca-cert too: the CA that signed etcd\'s server certificates');
  if (values['etcd-ca-cert'] && endpoints.some((e) => e.startsWith('http:'))) {
    throw new UsageError('-etcd-ca-cert turns TLS on for every endpoint, but some -etcd-endpoints are http://: use https:// for all of them');
  }
  const caCert = readPem(values, 'etcd-ca-cert', read);
  const cert = readPem(values, 'etcd-cert', read);
  const key = readPem(values, 'etcd-key', read);
  return {
    endpoints,
    meshName,
    cidr,
    ...(prefix !== '' ? { prefix } : {}),
    ...(caCert ? { caCert } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
  };
}
