import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MeshTls } from '../../src/tls/mtls.js';

/** Server certificates made with the openssl tool, in a throwaway directory. */
let dir: string;
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** A key and a server certificate for it, from the CA `ca` (its ca.pem/ca-key.pem prefix). */
function serverPair(name: string, ca = 'ca'): { cert: Buffer; key: Buffer } {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', '/CN=bootstrap');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '30');
  return { cert: execFileSync('cat', [path.join(dir, `${name}.pem`)]), key: execFileSync('cat', [path.join(dir, `${name}-key.pem`)]) };
}

async function put(file: string, content: Buffer): Promise<void> {
  await writeFile(file + '.tmp', content);
  await rename(file + '.tmp', file);
}

/** The certificate the server would show a new connection now. */
function served(tls: MeshTls): string {
  const options = (tls.credentials as unknown as { _getSecureContextOptions(): { cert: Buffer } })._getSecureContextOptions();
  return new X509Certificate(options.cert).serialNumber;
}

async function eventually(what: string, check: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (check()) return;
  assert.fail(`${what} within ${ms} ms`);
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-srv-'));
  for (const ca of ['ca', 'other']) openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}-key.pem`, '-out', `${ca}.pem`, '-days', '365', '-subj', `/CN=${ca}`);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('MeshTls: the server certificate and key are reloaded when their files change', () => {
  test('a new pair from the same CA serves new connections; a half-replaced pair and a foreign certificate are not taken', async () => {
    const caPem = await readFile(path.join(dir, 'ca.pem'));
    const first = serverPair('s1');
    const certFile = path.join(dir, 'server.pem');
    const keyFile = path.join(dir, 'server-key.pem');
    await put(certFile, first.cert);
    await put(keyFile, first.key);
    const lines: string[] = [];
    const logger = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m), debug: () => {}, child: () => logger };
    const tls = new MeshTls({ caPem, certPem: first.cert, keyPem: first.key, certFile, keyFile, logger: logger as never });
    try {
      const serial1 = served(tls);
      assert.equal(serial1, new X509Certificate(first.cert).serialNumber);

      // The certificate first, its key not yet: the pair does not match, the old one stays.
      const second = serverPair('s2');
      await put(certFile, second.cert);
      await eventually('a mismatch noticed', () => lines.some((l) => /do not match/.test(l)));
      assert.equal(served(tls), serial1);
      // Then the key: the new pair is served.
      await put(keyFile, second.key);
      await eventually('the new certificate served', () => served(tls) === new X509Certificate(second.cert).serialNumber);
      assert.ok(lines.includes('server certificate reloaded'));

      // A pair from another CA: rejected, the current one kept.
      const foreign = serverPair('s3', 'other');
      await put(keyFile, foreign.key);
      await put(certFile, foreign.cert);
      await eventually('the foreign certificate rejected', () => lines.some((l) => /new server certificate rejected/.test(l)));
      assert.equal(served(tls), new X509Certificate(second.cert).serialNumber);
    } finally {
      tls.close();
    }
  });
});
