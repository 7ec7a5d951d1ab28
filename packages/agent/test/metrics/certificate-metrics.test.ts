import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Agent } from '../../src/agent.js';
import type { CertificateStatus } from '../../src/identity/renewer.js';
import { registerAgentMetrics } from '../../src/metrics/metrics.js';

/** Just what the certificate metrics read of an agent. */
function agentWith(status: CertificateStatus | undefined): Agent {
  return { certificateStatus: () => status } as unknown as Agent;
}

describe('certificate metrics', () => {
  test('seconds left for the node certificate and the CA, and the renewals', async () => {
    const now = Date.now();
    const registry = new Registry();
    registerAgentMetrics(registry, agentWith({ certNotAfterMs: now + 40_000, caNotAfterMs: now + 10 * 86_400_000, certSerial: 'ab', renewAtMs: now + 20_000, renewError: '', renewals: 3 }));
    const expiry = await registry.getSingleMetric('wgmesh_certificate_expiry_seconds')!.get();
    const byWhich = new Map(expiry.values.map((v) => [v.labels.which, v.value]));
    assert.ok(Math.abs(byWhich.get('node')! - 40) <= 1);
    assert.ok(Math.abs(byWhich.get('ca')! - 864_000) <= 1);
    assert.equal((await registry.getSingleMetric('wgmesh_certificate_renewals_total')!.get()).values[0]!.value, 3);
  });

  test('a node without a certificate (dev mode) exports no expiry series', async () => {
    const registry = new Registry();
    registerAgentMetrics(registry, agentWith(undefined));
    assert.deepEqual((await registry.getSingleMetric('wgmesh_certificate_expiry_seconds')!.get()).values, []);
  });
});
