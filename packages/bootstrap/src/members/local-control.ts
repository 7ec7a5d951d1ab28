import type { ControlClient } from '@wgmesh/agent/control/client';
import type { Endpoint } from '@wgmesh/agent/proto/gen/wgmesh/v1/Endpoint';
import type { EndpointKind__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/EndpointKind';
import type { JoinResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/JoinResponse';
import type { RttSample } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttSample';
import type { WatchEvent__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/WatchEvent';
import type { MemberTable } from './table.js';
import { EndpointIpCheck, validateEndpoints, validatePublicKey, validateRttSamples, validateTags } from '../service/validate.js';
import { parsePrefix, type Prefix } from '../ipam/ipam.js';
import { answerPresharedKeys } from '../psk/answer.js';
import type { PresharedKeySource } from '../psk/psk.js';

// The bootstrap's own node passes the same validation as every remote one: a bad tag set on it
// through the local API must not reach the member table either.
const endpointsOf = (mesh: Prefix, ips: EndpointIpCheck, endpoints: readonly Endpoint[] = []) =>
  validateEndpoints(endpoints.map((e) => ({ ip: e.ip ?? '', port: e.port ?? 0, kind: (typeof e.kind === 'string' ? e.kind : 'ENDPOINT_KIND_LAN') as EndpointKind__Output })), mesh, ips);
const rttOf = (rtt: readonly RttSample[] = []) => validateRttSamples(rtt.map((r) => ({ peer: r.peer ?? '', rttMs: Number(r.rttMs ?? 0), loss: Number(r.loss ?? 0), measuredAtMs: Number(r.measuredAtMs ?? 0) })));

/**
 * The bootstrap's own node talks to its member table in-process, through the same ControlClient
 * interface every other agent uses over gRPC. It keeps the address it was configured with.
 */
export function createLocalControl(table: MemberTable, self: { ip: string; presharedKeys?: PresharedKeySource }): ControlClient {
  const mesh = parsePrefix(table.cidr);
  const endpointIps = new EndpointIpCheck();
  return {
    async join(req): Promise<JoinResponse__Output> {
      const { member } = await table.join({
        name: req.nodeName!,
        identity: { publicKey: req.publicKey!, local: true },
        endpoints: endpointsOf(mesh, endpointIps, req.endpoints),
        tags: validateTags(req.tags ?? {}),
        listenPort: req.listenPort ?? 0,
        isBootstrap: true,
        fixedIp: self.ip,
        relay: req.relay ?? false,
      });
      return { ...table.joinResponse(member), presharedKeys: self.presharedKeys !== undefined };
    },
    watch(req, callbacks) {
      let unsubscribe: (() => void) | undefined;
      let cancelled = false;
      // Deliver after watch() returns, as a network stream would.
      queueMicrotask(() => {
        if (cancelled) return;
        callbacks.onOpen();
        const stopMembership = table.watch(Number(req.sinceRevision ?? 0), (event) => callbacks.onEvent(event as WatchEvent__Output));
        const stopRttWanted = table.onRttWanted((untilMs) => callbacks.onEvent({ revision: 0, rttWanted: { untilMs } } as WatchEvent__Output));
        unsubscribe = () => {
          stopMembership();
          stopRttWanted();
        };
      });
      return {
        cancel() {
          cancelled = true;
          unsubscribe?.();
        },
      };
    },
    async update(req) {
      const revision = await table.update(req.nodeName!, { publicKey: req.publicKey!, local: true }, {
        endpoints: endpointsOf(mesh, endpointIps, req.endpoints),
        tags: validateTags(req.tags ?? {}),
        rtt: rttOf(req.rtt),
        relayed: (req.relayed ?? []).map((r) => ({ peer: r.peer ?? '', via: r.via ?? '' })),
        ...(req.newPublicKey ? { newKey: { publicKey: validatePublicKey(req.newPublicKey, 'new_public_key') } } : {}),
      });
      return { revision, relayPairs: table.relayedPairs.pairsVia(req.nodeName!) };
    },
    async rtt(req) {
      table.authorize(req.nodeName!, { publicKey: req.publicKey!, local: true });
      return req.fresh ? table.freshRttMatrix() : table.rttMatrix();
    },
    async presharedKeys(req) {
      const member = table.authorize(req.nodeName!, { publicKey: req.publicKey!, local: true });
      return { keys: answerPresharedKeys(self.presharedKeys, member, table.currentMembers(), req.peers ?? []) };
    },
    async leave(req) {
      await table.remove(req.nodeName!, { publicKey: req.publicKey!, local: true });
    },
    close() {},
  };
}
