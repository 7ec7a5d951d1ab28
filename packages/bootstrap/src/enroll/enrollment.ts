import { X509Certificate } from 'node:crypto';
import type { CreateTokenRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/CreateTokenRequest';
import type { CreateTokenResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/CreateTokenResponse';
import type { EnrollResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/EnrollResponse';
import type { Logger } from '@wgmesh/agent/log';
import type { RenewResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/RenewResponse';
import type { TokenAdmin } from '@wgmesh/agent/localapi/server';
import type { TokenInfo } from '@wgmesh/agent/proto/gen/wgmesh/v1/TokenInfo';
import { silentLogger } from '@wgmesh/agent/log';
import { InvalidField, NameTaken, PermissionDenied, TokenExpired, TokenInvalid, TokenRevoked, TokenUnknown, TokenUsed } from '../errors.js';
import type { Clock } from '../members/table.js';
import { validateNodeName, validateTags } from '../service/validate.js';
import { toServiceError } from '../service/status.js';
import { checkCsr, type CertificateAuthority } from './csr.js';
import { BadTokenLimiter, BAD_TOKEN_LIMITS, type BadTokenLimits } from './rate-limit.js';
import { decodeToken, encodeToken, newTokenSecret, tokenHash, tokenId } from './token.js';
import { tokenRefusal, type TokenRecord, type TokenStore } from './token-store.js';

export const ENROLLMENT_DEFAULTS = {
  ttlMs: 3_600_000,
  ttlMaxMs: 30 * 86_400_000,
  uses: 1,
  usesMax: 10_000,
  /** Validity of an enrolled (or renewed) node's certificate: bootstrap -cert-lifetime. */
  certLifetimeMs: 365 * 86_400_000,
} as const;

export interface EnrollmentComponents {
  readonly ca: CertificateAuthority;
  readonly store: TokenStore;
  readonly clock: Clock;
  /** Whether a node of this name is a member now (an enrollment must not take over its name). */
  readonly isMember: (name: string) => boolean;
  /** Records each certificate signed (its serial and name), before it is handed out: `ca revoke NAME` then finds it. */
  readonly recordIssued?: (certificate: { name: string; serial: string; notAfterMs: number }) => Promise<void>;
  readonly logger?: Logger;
}

export interface EnrollmentInit {
  readonly meshName: string;
  /** The bootstraps a token names when `token create` gives no -addr. */
  readonly defaultAddrs: () => readonly string[];
  /** Validity of the certificates signed here (enrolled and renewed); default ENROLLMENT_DEFAULTS.certLifetimeMs. */
  readonly certLifetimeMs?: number;
  readonly badTokens?: BadTokenLimits;
}

const BAD_TOKEN = [TokenInvalid, TokenUnknown, TokenExpired, TokenUsed, TokenRevoked];

/**
 * One-time join tokens and the certificates they buy: `token create/list/revoke` (the local API)
 * and Enroll (the Mesh service, the one call served without a client certificate).
 */
export class Enrollment {
  private readonly limiter: BadTokenLimiter;
  private readonly logger: Logger;

  constructor(private readonly components: EnrollmentComponents, private readonly init: EnrollmentInit) {
    this.limiter = new BadTokenLimiter(components.clock, init.badTokens ?? BAD_TOKEN_LIMITS);
    this.logger = components.logger ?? silentLogger();
  }

  get caFingerprint(): string {
    return this.components.ca.fingerprint;
  }

  /**
   * Checks the token (without using it), then the CSR, then uses the token and signs: a bad CSR
   * leaves the token unused and nothing signed. Bad tokens count against the caller's address.
   */
  async enroll(request: { token: string; csrPem: string }, source: string): Promise<EnrollResponse> {
    const { ca, store, clock } = this.components;
    this.limiter.check(source);
    let record: TokenRecord;
    try {
      const token = decodeToken(request.token);
      if (token.mesh !== this.init.meshName) throw new TokenInvalid(`the token is for mesh "${token.mesh}", this bootstrap serves "${this.init.meshName}"`);
      if (token.caFingerprint !== ca.fingerprint) throw new TokenInvalid('the token was made for another CA than this bootstrap\'s');
      const hash = tokenHash(token.secret);
      const found = await store.get(hash);
      const refusal = tokenRefusal(found, clock.now());
      if (refusal) throw refusal;
      record = found!;
    } catch (err) {
      if (BAD_TOKEN.some((kind) => err instanceof kind)) {
        this.limiter.fail(source);
        this.logger.warn('enrollment refused: bad token', { peer: source, err: (err as Error).message });
      }
      throw err;
    }
    const csr = checkCsr(request.csrPem, record.name);
    if (this.components.isMember(csr.name)) throw new NameTaken(csr.name);
    const used = await store.consume(record.hash, clock.now(), csr.name);
    const certPem = ca.sign(csr, { mesh: this.init.meshName, nowMs: clock.now(), lifetimeMs: this.lifetimeMs });
    const issued = new X509Certificate(certPem);
    await this.components.recordIssued?.({ name: csr.name, serial: issued.serialNumber, notAfterMs: Date.parse(issued.validTo) });
    this.logger.info('node enrolled', { node: csr.name, token: used.id, peer: source, serial: issued.serialNumber.toLowerCase(), notAfter: issued.validTo });
    return { nodeName: csr.name, certPem, caPem: ca.certPem, meshName: this.init.meshName, tags: { ...used.tags } };
  }

  /**
   * Renew: a new certificate for a node that proved itself with its current one (certName, the CN
   * the authenticator read from it). The CSR must be for the same name; the same checks as Enroll.
   */
  async renew(request: { nodeName: string; csrPem: string }, certName: string, source: string): Promise<RenewResponse> {
    const { ca, clock } = this.components;
    const name = validateNodeName(request.nodeName || certName);
    if (name !== certName.toLowerCase()) {
      throw new PermissionDenied(`node_name "${name}" is not the client certificate's CN "${certName}": a node renews its own certificate only`);
    }
    const csr = checkCsr(request.csrPem, name);
    const certPem = ca.sign(csr, { mesh: this.init.meshName, nowMs: clock.now(), lifetimeMs: this.lifetimeMs });
    const issued = new X509Certificate(certPem);
    // Recorded like an enrolled one, so `ca revoke NAME` finds the renewed serial too.
    await this.components.recordIssued?.({ name, serial: issued.serialNumber, notAfterMs: Date.parse(issued.validTo) });
    this.logger.info('certificate renewed', { node: name, peer: source, serial: issued.serialNumber.toLowerCase(), notAfter: issued.validTo });
    return { certPem, caPem: ca.certPem };
  }

  private get lifetimeMs(): number {
    return this.init.certLifetimeMs ?? ENROLLMENT_DEFAULTS.certLifetimeMs;
  }

  async create(request: CreateTokenRequest__Output): Promise<CreateTokenResponse> {
    const name = request.name ? validateNodeName(request.name, 'name') : undefined;
    const ttlMs = request.ttlMs || ENROLLMENT_DEFAULTS.ttlMs;
    if (ttlMs < 0 || ttlMs > ENROLLMENT_DEFAULTS.ttlMaxMs) throw new InvalidField('ttl', `must be between 1s and ${ENROLLMENT_DEFAULTS.ttlMaxMs / 86_400_000} days`);
    const uses = request.uses || ENROLLMENT_DEFAULTS.uses;
    if (uses > ENROLLMENT_DEFAULTS.usesMax) throw new InvalidField('uses', `must be at most ${ENROLLMENT_DEFAULTS.usesMax}`);
    if (name && uses > 1) throw new InvalidField('uses', 'a token for one name (-name) enrolls one node: leave -uses at 1');
    const tags = validateTags(request.tags);
    const addrs = request.addrs.length ? request.addrs : this.init.defaultAddrs();
    if (addrs.length === 0) throw new InvalidField('addrs', 'this bootstrap knows no address of its own to put in the token; give -addr HOST:PORT');
    const secret = newTokenSecret();
    const token = encodeToken({ mesh: this.init.meshName, addrs, caFingerprint: this.components.ca.fingerprint, secret, ...(name ? { name } : {}) });
    const hash = tokenHash(secret);
    const now = this.components.clock.now();
    const record: TokenRecord = { hash, id: tokenId(hash), ...(name ? { name } : {}), tags, createdMs: now, expiresMs: now + ttlMs, uses, used: 0, usedBy: [] };
    await this.components.store.add(record);
    this.logger.info('token created', { token: record.id, node: name ?? '', expiresMs: record.expiresMs, uses });
    return { token, info: tokenInfo(record) };
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.components.store.list()).map(tokenInfo);
  }

  async revoke(id: string): Promise<TokenInfo> {
    const record = await this.components.store.revoke(id, this.components.clock.now());
    this.logger.info('token revoked', { token: record.id });
    return tokenInfo(record);
  }

  /** The local API's view: errors carry the gRPC code status.ts gives them. */
  get admin(): TokenAdmin {
    const coded = <T>(work: () => Promise<T>): Promise<T> =>
      work().catch((err: unknown) => {
        throw Object.assign(err instanceof Error ? err : new Error(String(err)), { grpcCode: toServiceError(err).code });
      });
    return {
      create: (request) => coded(() => this.create(request)),
      list: () => coded(() => this.list()),
      revoke: (id) => coded(() => this.revoke(id)),
    };
  }
}

function tokenInfo(record: TokenRecord): TokenInfo {
  return {
    id: record.id,
    name: record.name ?? '',
    createdMs: record.createdMs,
    expiresMs: record.expiresMs,
    uses: record.uses,
    used: record.used,
    tags: { ...record.tags },
    revokedMs: record.revokedMs ?? 0,
    usedBy: [...record.usedBy],
  };
}
