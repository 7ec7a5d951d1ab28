import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import { silentLogger, type RenewResponse } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { devAuthenticator, type Authenticator } from '../../src/service/auth.js';
import { createMeshService } from '../../src/service/mesh-service.js';
import { Enrollment } from '../../src/enroll/enrollment.js';
import { MemoryTokenStore } from '../../src/enroll/token-store.js';
import { Unauthenticated } from '../../src/errors.js';
import { makeCa, makeCsr } from '../enroll/fixtures.js';

const MESH = 'svc';
const ca = makeCa();
const NOW = Date.now();

/** An mTLS authenticator that vouches for one CN (none: the call had no valid certificate). */
function certAuth(cn: string | undefined): Authenticator {
  return {
    mode: 'mtls',
    identify: () => {
      if (cn === undefined) throw new Unauthenticated('no valid client certificate');
      return { certName: cn, cert: { fingerprint: 'AA', serial: '01', notAfterMs: NOW + 60_000 } };
    },
  };
}

async function service(auth: Authenticator, withCa = true) {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: MESH });
  const enrollment = withCa
    ? new Enrollment({ ca, store: new MemoryTokenStore(), clock: { now: () => NOW }, isMember: () => false }, { meshName: MESH, defaultAddrs: () => [], certLifetimeMs: 60_000 })
    : undefined;
  return createMeshService({ table, auth, logger: silentLogger(), ...(enrollment ? { enrollment } : {}) });
}

/** Calls Renew as a node would; the answer or the gRPC error. */
function renew(svc: Awaited<ReturnType<typeof service>>, request: { nodeName: string; csrPem: string }): Promise<{ res?: RenewResponse; err?: Partial<ServiceError> }> {
  return new Promise((resolve) => {
    const call = { request, getPeer: () => 'ipv4:192.0.2.2:40000', getAuthContext: () => ({}) };
    svc.handlers.Renew(call as never, ((err: Partial<ServiceError> | null, res?: RenewResponse) => resolve(err ? { err } : { res: res! })) as never);
  });
}

describe('Mesh.Renew', () => {
  test('a node with its current certificate gets a new one for its CSR: same name, the configured lifetime, the CA beside it', async () => {
    const svc = await service(certAuth('web1'));
    const { res, err } = await renew(svc, { nodeName: 'web1', csrPem: makeCsr('web1') });
    assert.equal(err, undefined);
    const cert = new X509Certificate(res!.certPem!);
    assert.match(cert.subject, /CN=web1/);
    assert.equal(Date.parse(cert.validTo), Math.floor((NOW + 60_000) / 1000) * 1000);
    assert.ok(cert.verify(new X509Certificate(res!.caPem!).publicKey));
  });

  test('node_name other than the certificate\'s CN: PERMISSION_DENIED', async () => {
    const { err } = await renew(await service(certAuth('web1')), { nodeName: 'web2', csrPem: makeCsr('web2') });
    assert.equal(err?.code, status.PERMISSION_DENIED);
    assert.match(err!.details!, /not the client certificate's CN "web1"/);
  });

  test('a CSR for another name than the caller\'s: INVALID_ARGUMENT, nothing signed', async () => {
    const { err } = await renew(await service(certAuth('web1')), { nodeName: 'web1', csrPem: makeCsr('db1') });
    assert.equal(err?.code, status.INVALID_ARGUMENT);
    assert.match(err!.details!, /CN "db1"/);
  });

  test('a CSR asking for more than a node certificate (CA:TRUE): INVALID_ARGUMENT', async () => {
    const { err } = await renew(await service(certAuth('web1')), { nodeName: 'web1', csrPem: makeCsr('web1', { extensions: [{ name: 'basicConstraints', cA: true }] }) });
    assert.equal(err?.code, status.INVALID_ARGUMENT);
    assert.match(err!.details!, /CA:TRUE/);
  });

  test('no valid client certificate: UNAUTHENTICATED', async () => {
    const { err } = await renew(await service(certAuth(undefined)), { nodeName: 'web1', csrPem: makeCsr('web1') });
    assert.equal(err?.code, status.UNAUTHENTICATED);
  });

  test('a dev-mode bootstrap (no certificates at all): UNAUTHENTICATED, saying why', async () => {
    const { err } = await renew(await service(devAuthenticator), { nodeName: 'web1', csrPem: makeCsr('web1') });
    assert.equal(err?.code, status.UNAUTHENTICATED);
    assert.match(err!.details!, /dev-mode/);
  });

  test('a bootstrap without -ca-key: FAILED_PRECONDITION, saying what to do', async () => {
    const { err } = await renew(await service(certAuth('web1'), false), { nodeName: 'web1', csrPem: makeCsr('web1') });
    assert.equal(err?.code, status.FAILED_PRECONDITION);
    assert.match(err!.details!, /-ca-key/);
  });
});
