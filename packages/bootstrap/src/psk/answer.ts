import type { PresharedKey__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/PresharedKey';
import type { Member } from '../members/store.js';
import { InvalidField, PresharedKeysOff } from '../errors.js';
import { LIMITS } from '../constants.js';
import { validatePublicKey } from '../service/validate.js';
import type { PresharedKeySource } from './psk.js';

/**
 * Mesh.PresharedKeys, once the caller is known to be `self` (a member, authenticated as every
 * call is): the key of each pair (self, peer) for the asked peers that are members now, other
 * than self. Peers that are not members are left out, so the answer tells no more than Watch.
 * Refuses a mesh without -psk (PresharedKeysOff) and more peers than LIMITS.presharedKeysPeersMax
 * or a malformed key (InvalidField).
 */
export function answerPresharedKeys(
  source: PresharedKeySource | undefined,
  self: Pick<Member, 'publicKey'>,
  members: Iterable<Pick<Member, 'publicKey'>>,
  peers: readonly string[],
): PresharedKey__Output[] {
  if (!source) throw new PresharedKeysOff();
  if (peers.length > LIMITS.presharedKeysPeersMax) {
    throw new InvalidField('peers', `asks for ${peers.length} keys; at most ${LIMITS.presharedKeysPeersMax} per call`);
  }
  const asked = new Set(peers.map((key) => validatePublicKey(key, 'peers')));
  const keys: PresharedKey__Output[] = [];
  for (const member of members) {
    if (member.publicKey === self.publicKey || !asked.has(member.publicKey)) continue;
    keys.push({ peer: member.publicKey, presharedKey: source.keyFor(self.publicKey, member.publicKey) });
  }
  return keys;
}
