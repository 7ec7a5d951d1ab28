import { endpointAddressProblem, unmapIp } from '@wgmesh/agent/endpoints/endpoints';
import { excerpt } from '@wgmesh/agent/limits';
import { InvalidTag } from '@wgmesh/agent/errors';
import { isLowOrderKey, isWgKey } from '@wgmesh/agent/wg/keys';
import { validateTags as checkTags } from '@wgmesh/agent/tags';
import type { Endpoint__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/Endpoint';
import type { RelayedPeer__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RelayedPeer';
import type { RttSample__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttSample';
import { InvalidField } from '../errors.js';
import { isIp, prefixContains, type Prefix } from '../ipam/ipam.js';
import { LIMITS } from '../constants.js';

/** Request validation: each function throws InvalidField naming the field, or returns the clean value. */

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i;
const ENDPOINT_KINDS = new Set(['ENDPOINT_KIND_LAN', 'ENDPOINT_KIND_OBSERVED', 'ENDPOINT_KIND_STUN', 'ENDPOINT_KIND_CONFIGURED', 'ENDPOINT_KIND_MAPPED']);

export function validateNodeName(value: string, field = 'node_name'): string {
  if (!value) throw new InvalidField(field, 'is required');
  if (value.length > LIMITS.nodeNameMax) throw new InvalidField(field, `${excerpt(value)} is longer than ${LIMITS.nodeNameMax} characters`);
  if (!DNS_LABEL.test(value)) throw new InvalidField(field, `${excerpt(value)} must be a DNS label: letters, digits and '-', not starting or ending with '-'`);
  return value.toLowerCase();
}

export function validateMeshName(value: string): string {
  if (!value) throw new InvalidField('mesh_name', 'is required');
  if (value.length > LIMITS.meshNameMax || !DNS_LABEL.test(value)) {
    throw new InvalidField('mesh_name', `${excerpt(value)} must be 1-${LIMITS.meshNameMax} letters, digits or '-'`);
  }
  return value;
}

export function validatePublicKey(value: string, field = 'public_key'): string {
  if (!value) throw new InvalidField(field, 'is required');
  if (!isWgKey(value)) throw new InvalidField(field, 'must be a WireGuard public key: base64 of exactly 32 bytes');
  if (isLowOrderKey(value)) throw new InvalidField(field, 'is a low-order X25519 point (e.g. all zeros), not a usable key; generate one with `wg genkey | wg pubkey`');
  return value;
}

export function validateListenPort(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new InvalidField('listen_port', `${value} is not a UDP port (1-65535)`);
  return value;
}

/**
 * A node's endpoint candidates. Every node configures them in WireGuard, so one a peer cannot
 * use (a zone ID, loopback, multicast, an address inside the mesh, ...) is refused here rather
 * than failing `wg set` on every node. `mesh` is the mesh CIDR; `ips`, the caller's check (it
 * keeps the IPs that passed).
 */
export function validateEndpoints(values: readonly Endpoint__Output[], mesh: Prefix, ips: EndpointIpCheck): Endpoint__Output[] {
  if (values.length > LIMITS.endpointsMax) throw new InvalidField('endpoints', `${values.length} given, at most ${LIMITS.endpointsMax}`);
  return values.map((e, i) => {
    const field = `endpoints[${i}]`;
    ips.check(e.ip, field, mesh);
    if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) throw new InvalidField(`${field}.port`, `${e.port} is not a UDP port (1-65535)`);
    const kind = e.kind === 'ENDPOINT_KIND_UNSPECIFIED' ? 'ENDPOINT_KIND_LAN' : e.kind;
    if (!ENDPOINT_KINDS.has(kind)) throw new InvalidField(`${field}.kind`, `unknown kind ${String(e.kind)}`);
    // A node may not claim what only the bootstrap observes.
    if (kind === 'ENDPOINT_KIND_OBSERVED') throw new InvalidField(`${field}.kind`, 'OBSERVED endpoints are set by the bootstrap, not by nodes');
    return { ip: e.ip, port: e.port, kind };
  });
}

/** How many IPs an EndpointIpCheck keeps per mesh CIDR before that set starts again from empty. */
export const PASSED_ENDPOINT_IPS_MAX = 65_536;

/**
 * Checks endpoint IPs, keeping those that passed, per mesh CIDR. Every heartbeat carries its
 * node's endpoints again (10,000 nodes: 2,000 a second), and parsing each address three times over
 * was a few per cent of an idle bootstrap's CPU; whether a string is a usable address outside a
 * given CIDR never changes. One per mesh service (and local control), so it dies with its
 * bootstrap and two bootstraps in one process share nothing. Bounded: a full set (`max` IPs) is
 * emptied before the next is kept.
 */
export class EndpointIpCheck {
  private readonly passed = new Map<string, Set<string>>();
  /** Endpoint IPs parsed and checked (an IP that passed before is not): tests read it. */
  parsed = 0;

  constructor(private readonly max = PASSED_ENDPOINT_IPS_MAX) {}

  /** Throws InvalidField (`field`.ip) unless `ip` is a usable endpoint address outside `mesh`. */
  check(ip: string, field: string, mesh: Prefix): void {
    let set = this.passed.get(mesh.text);
    if (set?.has(ip)) return;
    this.parsed++;
    const shown = excerpt(ip);
    // "fe80::1%eth0" is an address with a zone ID: said so, rather than "not an address".
    const zone = ip.indexOf('%');
    if (!isIp(zone >= 0 ? ip.slice(0, zone) : ip)) throw new InvalidField(`${field}.ip`, `${shown} is not an IPv4 or IPv6 address`);
    const problem = endpointAddressProblem(ip);
    if (problem) throw new InvalidField(`${field}.ip`, `${shown} ${problem}`);
    if (prefixContains(mesh, unmapIp(ip))) {
      throw new InvalidField(`${field}.ip`, `${shown} is inside the mesh network ${mesh.text}: it is only reachable through the mesh, never a way into it`);
    }
    if (!set) this.passed.set(mesh.text, (set = new Set()));
    if (set.size >= this.max) set.clear();
    set.add(ip);
  }

  /** How many IPs are kept for `mesh`. */
  kept(mesh: Prefix): number {
    return this.passed.get(mesh.text)?.size ?? 0;
  }
}

/** The agent's tag rules (a node checks its own tags before sending them), as InvalidField. */
export function validateTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  try {
    return checkTags(tags);
  } catch (err) {
    if (err instanceof InvalidTag) throw new InvalidField(err.field, err.reason);
    throw err;
  }
}

export function validateRttSamples(samples: readonly RttSample__Output[]): RttSample__Output[] {
  if (samples.length > LIMITS.rttSamplesMax) throw new InvalidField('rtt', `${samples.length} samples, at most ${LIMITS.rttSamplesMax}`);
  return samples.map((s, i) => {
    validateNodeName(s.peer, `rtt[${i}].peer`);
    if (!Number.isFinite(s.rttMs) || s.rttMs < 0 || s.rttMs > 600_000) throw new InvalidField(`rtt[${i}].rtt_ms`, `${s.rttMs} is not a round-trip time in ms`);
    if (!Number.isFinite(s.loss) || s.loss < 0 || s.loss > 1) throw new InvalidField(`rtt[${i}].loss`, `${s.loss} is not a fraction between 0 and 1`);
    const measuredAtMs = Number(s.measuredAtMs ?? 0);
    if (!Number.isSafeInteger(measuredAtMs) || measuredAtMs < 0) throw new InvalidField(`rtt[${i}].measured_at_ms`, `${s.measuredAtMs} is not a time in ms`);
    return { peer: s.peer.toLowerCase(), rttMs: s.rttMs, loss: s.loss, measuredAtMs };
  });
}

/** A node's relayed peers: one entry per peer at most, as many as RTT samples (one per peer). */
export function validateRelayed(values: readonly RelayedPeer__Output[]): { peer: string; via: string }[] {
  if (values.length > LIMITS.rttSamplesMax) throw new InvalidField('relayed', `${values.length} entries, at most ${LIMITS.rttSamplesMax}`);
  return values.map((r, i) => ({ peer: validateNodeName(r.peer, `relayed[${i}].peer`), via: validateNodeName(r.via, `relayed[${i}].via`) }));
}
