import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { Backoff } from '../control/backoff.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import type { RenewRequest, RenewResponse__Output } from '../proto/index.js';
import { defaultTimers, type Timers } from '../timers.js';

export const DAY_MS = 86_400_000;

export const RENEWAL_DEFAULTS = {
  /** Renew once this fraction of the certificate's lifetime (notBefore to notAfter) has passed. */
  renewAtFraction: 2 / 3,
  /** Warn in the log when a certificate has fewer days left than this, then once a day. */
  warnDays: 30,
  /** Retries after a failed renewal: from this, doubling… */
  retryMinMs: 1000,
  /** …up to this; never later than a tenth of the lifetime (a 60 s certificate retries every few seconds). */
  retryMaxMs: 300_000,
} as const;

/** The files a node's mTLS identity lives in; a renewal replaces cert and key in place. */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** The node's certificate and CA as `info` and the metrics show them. */
export interface CertificateStatus {
  readonly certNotAfterMs: number;
  readonly caNotAfterMs: number;
  readonly certSerial: string;
  readonly renewAtMs: number;
  /** The last renewal attempt's failure; '' once one succeeds. */
  readonly renewError: string;
  readonly renewals: number;
}

export interface RenewerComponents {
  /** Mesh.Renew over the node's mTLS connection (its current certificate is the credential). */
  renew(req: RenewRequest): Promise<RenewResponse__Output>;
  /** A NEW key pair and a CSR for it with CN = name (a renewal never reuses the key). */
  makeCsr(name: string): { keyPem: string; csrPem: string };
  /** The new certificate and key are in the files: connections made from now on must use them. */
  onRenewed(pems: { cert: Buffer; key: Buffer; ca: Buffer }): void;
  readonly timers?: Timers;
  readonly clock?: { now(): number };
  readonly logger?: Logger;
  readonly random?: () => number;
}

export interface RenewerInit {
  readonly nodeName: string;
  readonly files: CertificateFiles;
  readonly renewAtFraction?: number;
  readonly warnDays?: number;
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

interface Loaded {
  cert: X509Certificate;
  ca: X509Certificate;
  notBeforeMs: number;
  notAfterMs: number;
  caNotAfterMs: number;
}

/** When a certificate valid from notBefore to notAfter is renewed. */
export function renewalTime(notBeforeMs: number, notAfterMs: number, fraction: number = RENEWAL_DEFAULTS.renewAtFraction): number {
  return notBeforeMs + Math.floor((notAfterMs - notBeforeMs) * fraction);
}

/** Whole days left (rounded down; negative once expired). */
export function daysLeft(notAfterMs: number, nowMs: number): number {
  return Math.floor((notAfterMs - nowMs) / DAY_MS);
}

/**
 * Keeps the node's client certificate current: at two thirds of its lifetime a new key pair and CSR
 * are made, Mesh.Renew is called over the existing mTLS connection (authenticated by the current
 * certificate), the answer is checked (our name, our new key, the CA we trust, a later expiry),
 * the key and then the certificate are written atomically (0600) over the same files, and
 * onRenewed switches the control channel's credentials. WireGuard is never touched. A failure is
 * retried with backoff (never later than a tenth of the lifetime), logged each time.
 *
 * It also wakes at least once a day to warn, from `warnDays` days before either expires, that the
 * node's certificate or the CA will expire (once a day each).
 */
export class CertificateRenewer {
  private loaded: Loaded | undefined;
  private timer: unknown;
  private running = false;
  private inFlight: Promise<void> | undefined;
  private renewError = '';
  private renewals = 0;
  private retryAtMs: number | undefined;
  private readonly lastWarnedMs = new Map<'node' | 'ca', number>();
  private readonly backoff: Backoff;
  private readonly timers: Timers;
  private readonly clock: { now(): number };
  private readonly logger: Logger;

  constructor(private readonly components: RenewerComponents, private readonly init: RenewerInit) {
    this.timers = components.timers ?? defaultTimers;
    this.clock = components.clock ?? { now: () => Date.now() };
    this.logger = components.logger ?? silentLogger();
    this.backoff = new Backoff(init.retryMinMs ?? RENEWAL_DEFAULTS.retryMinMs, init.retryMaxMs ?? RENEWAL_DEFAULTS.retryMaxMs, components.random);
  }

  async start(): Promise<void> {
    this.loaded = await this.load();
    this.running = true;
    const { cert } = this.loaded;
    this.logger.info('certificate renewal scheduled', { serial: cert.serialNumber.toLowerCase(), notAfter: cert.validTo, renewAt: new Date(this.renewAtMs).toISOString() });
    this.tick();
  }

  stop(): void {
    this.running = false;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when a renewal under way (if any) has finished: for tests. */
  settled(): Promise<void> {
    return this.inFlight ?? Promise.resolve();
  }

  status(): CertificateStatus {
    const l = this.loaded;
    return {
      certNotAfterMs: l?.notAfterMs ?? 0,
      caNotAfterMs: l?.caNotAfterMs ?? 0,
      certSerial: l?.cert.serialNumber.toLowerCase() ?? '',
      renewAtMs: l ? this.renewAtMs : 0,
      renewError: this.renewError,
      renewals: this.renewals,
    };
  }

  private get renewAtMs(): number {
    const l = this.loaded!;
    return renewalTime(l.notBeforeMs, l.notAfterMs, this.init.renewAtFraction);
  }

  private async load(): Promise<Loaded> {
    const { files } = this.init;
    const [certPem, caPem] = await Promise.all([readFile(files.cert), readFile(files.ca)]);
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return { cert, ca, notBeforeMs: Date.parse(cert.validFrom), notAfterMs: Date.parse(cert.validTo), caNotAfterMs: Date.parse(ca.validTo) };
  }

  /** Warns if due, renews if due, else sleeps until the renewal or the next daily check. */
  private tick(): void {
    this.timer = undefined;
    if (!this.running || this.inFlight) return;
    const now = this.clock.now();
    this.warnIfExpiring(now);
    const due = this.retryAtMs ?? this.renewAtMs;
    if (now >= due) {
      this.inFlight = this.renewOnce().finally(() => {
        this.inFlight = undefined;
        this.tick();
      });
      return;
    }
    // Never more than a day: Node's timers overflow past 24.8 days, and the warnings are daily.
    this.timer = this.timers.setTimeout(() => this.tick(), Math.min(due - now, DAY_MS));
  }

  private warnIfExpiring(now: number): void {
    const l = this.loaded!;
    const warnDays = this.init.warnDays ?? RENEWAL_DEFAULTS.warnDays;
    const check = (which: 'node' | 'ca', notAfterMs: number, what: string, todo: string) => {
      if (notAfterMs - now >= warnDays * DAY_MS) return;
      const last = this.lastWarnedMs.get(which);
      if (last !== undefined && now - last < DAY_MS) return;
      this.lastWarnedMs.set(which, now);
      const left = daysLeft(notAfterMs, now);
      this.logger.warn(`${what} expires in ${left} day${left === 1 ? '' : 's'} (${new Date(notAfterMs).toISOString()}); ${todo}`, { which, daysLeft: left, notAfter: new Date(notAfterMs).toISOString() });
    };
    check('node', l.notAfterMs, 'this node\'s certificate', this.renewError ? `renewal keeps failing (${this.renewError})` : 'it is renewed automatically at two thirds of its lifetime');
    check('ca', l.caNotAfterMs, 'the mesh CA certificate', 'no certificate it signs can outlive it: make a new CA and move the mesh to it (`wgmesh ca init`)');
  }

  private async renewOnce(): Promise<void> {
    const { nodeName, files } = this.init;
    const old = this.loaded!;
    try {
      const { keyPem, csrPem } = this.components.makeCsr(nodeName);
      const res = await this.components.renew({ nodeName, csrPem });
      const cert = this.checkAnswer(res, keyPem, old);
      if (!this.running) return;
      // The key first: until the certificate is replaced too, the old pair is in use and a restart in between would find a mismatch (logged, rejoin with a new certificate).
      await writeFileAtomic(files.key, keyPem, 0o600);
      await writeFileAtomic(files.cert, res.certPem, 0o600);
      this.loaded = { ...old, cert, notBeforeMs: Date.parse(cert.validFrom), notAfterMs: Date.parse(cert.validTo) };
      this.renewals++;
      this.renewError = '';
      this.retryAtMs = undefined;
      this.backoff.reset();
      this.components.onRenewed({ cert: Buffer.from(res.certPem), key: Buffer.from(keyPem), ca: Buffer.from(old.ca.toString()) });
      this.logger.info('certificate renewed', {
        serial: cert.serialNumber.toLowerCase(), previousSerial: old.cert.serialNumber.toLowerCase(), notAfter: cert.validTo, renewAt: new Date(this.renewAtMs).toISOString(),
      });
    } catch (err) {
      this.renewError = errorMessage(err);
      const lifetime = old.notAfterMs - old.notBeforeMs;
      const wait = Math.max(500, Math.min(this.backoff.next(), Math.floor(lifetime / 10)));
      this.retryAtMs = this.clock.now() + wait;
      const left = old.notAfterMs - this.clock.now();
      this.logger.warn(`certificate renewal failed; retrying in ${(wait / 1000).toFixed(1)} s`, {
        err: this.renewError, serial: old.cert.serialNumber.toLowerCase(), expiresInS: Math.round(left / 1000),
      });
    }
  }

  /** The answer must be a certificate for our name and new key, from the CA we trust, outliving the current one. */
  private checkAnswer(res: RenewResponse__Output, keyPem: string, old: Loaded): X509Certificate {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(res.certPem);
    } catch (err) {
      throw new Error(`the bootstrap's answer holds no readable certificate: ${errorMessage(err)}`);
    }
    if (!cert.checkIssued(old.ca) || !cert.verify(old.ca.publicKey)) throw new Error('the renewed certificate is not signed by the CA this node trusts');
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the renewed certificate is not for the key this node just made');
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
    if (cn.toLowerCase() !== this.init.nodeName.toLowerCase()) throw new Error(`the renewed certificate names "${cn}", not "${this.init.nodeName}"`);
    if (Date.parse(cert.validTo) <= old.notAfterMs) throw new Error(`the renewed certificate expires ${cert.validTo}, no later than the current one: is the bootstrap's clock behind, or its -cert-lifetime shorter?`);
    return cert;
  }
}
