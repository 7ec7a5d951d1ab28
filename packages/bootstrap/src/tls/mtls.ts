import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, existsSync } from 'node:fs';
import { errorMessage, silentLogger, type Logger } from '@wgmesh/agent/log';
import type { Authenticator, CallIdentity, ServerSurfaceCall } from '../service/auth.js';
import { CertificateRejected, ConfigError, Unauthenticated } from '../errors.js';
import { normalizeSerial, readCrl } from './crl.js';
import type { Clock } from '../members/table.js';
import type { RevocationSource } from '../members/certificates.js';

/** A certificate's subject CN ('' when it has none): a node certificate's CN is the node's name. */
export function certCommonName(cert: X509Certificate): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
}

/**
 * TLS 1.3 only; a client certificate is requested and then checked by the authenticator on every
 * call (chain to the CA, validity, revocation). Checking per call rather than in the handshake
 * lets the node be told exactly what is wrong: TLS 1.3 handshake failures reach clients only as
 * "unavailable".
 */
class MeshServerCredentials extends grpc.ServerCredentials {
  constructor(private readonly ca: Buffer, cert: Buffer, key: Buffer) {
    super({ requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, { ca, cert, key });
  }
  /** New connections are served with this certificate and key; connections already open keep theirs. */
  replace(cert: Buffer, key: Buffer): void {
    this.updateSecureContextOptions({ ca: this.ca, cert, key });
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export interface MeshTlsInit {
  readonly caPem: Buffer;
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  /** A PEM CRL signed by the CA; re-read whenever it changes. */
  readonly crlFile?: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** The files certPem and keyPem were read from: re-read when either changes (a renewed server certificate). */
  readonly certFile?: string;
  readonly keyFile?: string;
  /**
   * Send the CA certificate after the server's in the handshake (enrollment): a joining node that
   * has only a token finds the CA there and pins it by the token's fingerprint.
   */
  readonly sendCa?: boolean;
}

export class MeshTls implements Authenticator, RevocationSource {
  readonly mode = 'mtls' as const;
  private readonly revocationListeners = new Set<() => void>();
  readonly credentials: grpc.ServerCredentials;
  private readonly serverCredentials: MeshServerCredentials;
  private serverFingerprint: string;
  private readonly cas: X509Certificate[];
  private revoked = new Set<string>();
  private readonly sources = new Set<RevocationSource>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  /** The names the server certificate is valid for: where nodes can reach this join service. */
  readonly serverNames: { readonly ips: readonly string[]; readonly dns: readonly string[] };

  constructor(private readonly init: MeshTlsInit) {
    this.logger = init.logger ?? silentLogger();
    this.clock = init.clock ?? { now: () => Date.now() };
    this.cas = splitPem(init.caPem.toString()).map((pem, i) => {
      try {
        return new X509Certificate(pem);
      } catch (err) {
        throw new ConfigError(`CA certificate #${i + 1} cannot be parsed: ${errorMessage(err)}`);
      }
    });
    if (this.cas.length === 0) throw new ConfigError('the CA file holds no PEM certificate');
    let server: X509Certificate;
    try {
      server = new X509Certificate(init.certPem);
    } catch (err) {
      throw new ConfigError(`the server certificate cannot be parsed: ${errorMessage(err)}`);
    }
    const issuer = this.checkServerCertificate(server);
    this.serverNames = subjectAltNames(server);
    this.serverFingerprint = server.fingerprint256;
    this.serverCredentials = new MeshServerCredentials(init.caPem, this.serverChain(init.certPem, issuer), init.keyPem);
    this.credentials = this.serverCredentials;
    if (init.crlFile) {
      this.loadCrl(true);
      watchFile(init.crlFile, { interval: 250 }, () => this.loadCrl(false));
    }
    for (const file of this.serverFiles) watchFile(file, { interval: 250 }, () => this.reloadServerCertificate());
  }

  close(): void {
    if (this.init.crlFile) unwatchFile(this.init.crlFile);
    for (const file of this.serverFiles) unwatchFile(file);
  }

  private get serverFiles(): string[] {
    return this.init.certFile && this.init.keyFile ? [this.init.certFile, this.init.keyFile] : [];
  }

  /** The CA that issued the server certificate; a certificate of another CA, or an expired one, is refused. */
  private checkServerCertificate(server: X509Certificate): X509Certificate {
    const issuer = this.cas.find((ca) => server.checkIssued(ca) && server.verify(ca.publicKey));
    if (!issuer) {
      throw new ConfigError(`the server certificate (${server.subject.replace(/\n/g, ', ')}) is not signed by the given CA; issue it with \`wgmesh ca issue -server\` from the same CA`);
    }
    if (Date.parse(server.validTo) < this.clock.now()) {
      throw new ConfigError(`the server certificate expired on ${new Date(server.validTo).toISOString().slice(0, 10)}; issue a new one with \`wgmesh ca issue -server\``);
    }
    return issuer;
  }

  private serverChain(certPem: Buffer, issuer: X509Certificate): Buffer {
    return this.init.sendCa ? Buffer.concat([certPem, Buffer.from('\n' + issuer.toString())]) : certPem;
  }

  /**
   * The server certificate or key file changed: both are read again and, when they form a valid
   * pair from this CA, serve new connections (open ones keep theirs). A half-written pair (the
   * certificate replaced, the key not yet) is skipped: the next change of the other file retries.
   */
  private reloadServerCertificate(): void {
    const { certFile, keyFile } = this.init;
    if (!certFile || !keyFile) return;
    let cert: Buffer;
    let key: Buffer;
    let server: X509Certificate;
    try {
      cert = readFileSync(certFile);
      key = readFileSync(keyFile);
      server = new X509Certificate(cert);
    } catch (err) {
      this.logger.error('server certificate files unreadable; keeping the one in use', { file: certFile, err: errorMessage(err) });
      return;
    }
    if (server.fingerprint256 === this.serverFingerprint) return;
    try {
      if (!server.checkPrivateKey(createPrivateKey(key))) {
        this.logger.warn('server certificate and key do not match (yet); keeping the one in use until both are replaced', { file: certFile });
        return;
      }
      const issuer = this.checkServerCertificate(server);
      this.serverCredentials.replace(this.serverChain(cert, issuer), key);
    } catch (err) {
      this.logger.error('new server certificate rejected; keeping the one in use', { file: certFile, err: errorMessage(err) });
      return;
    }
    this.serverFingerprint = server.fingerprint256;
    this.logger.info('server certificate reloaded', { file: certFile, serial: server.serialNumber.toLowerCase(), notAfter: server.validTo });
  }

  get revokedCount(): number {
    return this.revoked.size;
  }

  get revocations(): RevocationSource {
    return this;
  }

  isRevoked(serial: string): boolean {
    const normal = normalizeSerial(serial);
    return this.revoked.has(normal) || [...this.sources].some((s) => s.isRevoked(normal));
  }

  onRevocationsChanged(listener: () => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  /**
   * Refuses what `source` revokes too (a bootstrap's own revocation list, beside the CRL file);
   * its changes reach this authenticator's listeners. Returns the removal.
   */
  addRevocationSource(source: RevocationSource): () => void {
    this.sources.add(source);
    const unsubscribe = source.onRevocationsChanged(() => {
      for (const listener of this.revocationListeners) listener();
    });
    return () => {
      unsubscribe();
      this.sources.delete(source);
    };
  }

  private loadCrl(atStart: boolean): void {
    const file = this.init.crlFile!;
    if (!existsSync(file)) {
      if (!atStart) this.logger.warn('CRL file disappeared; keeping the last revocation list', { file });
      return;
    }
    try {
      const { revoked } = readCrl(readFileSync(file, 'utf8'), this.init.caPem.toString());
      this.revoked = new Set(revoked.map((r) => r.serial));
      this.logger.info('revocation list loaded', { file, revoked: this.revoked.size });
      for (const listener of this.revocationListeners) listener();
    } catch (err) {
      if (atStart) throw new ConfigError(`CRL ${file}: ${errorMessage(err)}`);
      this.logger.error('new CRL rejected; keeping the previous one', { file, err: errorMessage(err) });
    }
  }

  identify(call: ServerSurfaceCall): CallIdentity {
    const peer = call.getAuthContext().sslPeerCertificate;
    if (!peer || !peer.raw) {
      // grpc-js shows a certificate only when the TLS layer verified it, so "none" here also
      // covers a certificate of another CA, an expired one, or one not yet valid.
      this.logger.warn('call without a verified client certificate', { peer: call.getPeer() });
      throw new Unauthenticated(
        'no valid client certificate: none was presented, or it was not issued by this mesh\'s CA, has expired, or is not yet valid. ' +
          'Join with -ca-cert, -client-cert and -client-key holding a current node certificate from this mesh\'s CA (`wgmesh ca issue NAME`); ' +
          '`openssl x509 -in CERT -noout -issuer -dates` shows what a certificate holds',
      );
    }
    const cert = new X509Certificate(peer.raw);
    const cn = certCommonName(cert);
    // Defence in depth: the TLS layer has verified these already; a transport that did not would still be caught here.
    const reject = (why: string) => {
      this.logger.warn('client certificate rejected', { cn, peer: call.getPeer(), reason: why });
      return new CertificateRejected(why);
    };
    if (!this.cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
      throw reject(`the client certificate "${cn}" was not issued by this mesh's CA (its issuer: ${cert.issuer.replace(/\n/g, ', ')}); get a node certificate from this mesh's CA (\`wgmesh ca issue\`) and pass it with -client-cert`);
    }
    const now = this.clock.now();
    if (Date.parse(cert.validFrom) > now) {
      throw reject(`the client certificate "${cn}" is not valid until ${new Date(cert.validFrom).toISOString()}; check both machines' clocks, or issue a new one with \`wgmesh ca issue\``);
    }
    if (Date.parse(cert.validTo) < now) {
      throw reject(`the client certificate "${cn}" expired on ${new Date(cert.validTo).toISOString().slice(0, 10)}; issue a new one with \`wgmesh ca issue ${cn}\``);
    }
    if (this.isRevoked(cert.serialNumber)) {
      throw reject(`the client certificate "${cn}" (serial ${cert.serialNumber}) has been revoked; a revoked node cannot join: issue a new certificate if this node should be in the mesh`);
    }
    if (!cn) throw reject('the client certificate has no CN; node certificates name the node in their CN');
    return { certName: cn, cert: { fingerprint: cert.fingerprint256, serial: normalizeSerial(cert.serialNumber), notAfterMs: Date.parse(cert.validTo) } };
  }

  recheck(who: CallIdentity): void {
    const cert = who.cert;
    if (!cert) return;
    const cn = who.certName ?? '';
    if (cert.notAfterMs < this.clock.now()) {
      this.logger.warn('client certificate rejected', { cn, reason: 'expired while its stream was open' });
      throw new CertificateRejected(`the client certificate "${cn}" expired on ${new Date(cert.notAfterMs).toISOString().slice(0, 10)}; issue a new one with \`wgmesh ca issue ${cn}\``);
    }
    if (this.isRevoked(cert.serial)) {
      this.logger.warn('client certificate rejected', { cn, reason: 'revoked while its stream was open' });
      throw new CertificateRejected(`the client certificate "${cn}" (serial ${cert.serial}) has been revoked; a revoked node cannot join: issue a new certificate if this node should be in the mesh`);
    }
  }
}

export function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** A certificate's IP and DNS subject alternative names. */
export function subjectAltNames(cert: X509Certificate): { ips: string[]; dns: string[] } {
  const entries = (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
  return {
    ips: entries.filter((e) => e.startsWith('IP Address:')).map((e) => e.slice('IP Address:'.length)),
    dns: entries.filter((e) => e.startsWith('DNS:')).map((e) => e.slice('DNS:'.length)),
  };
}
