/**
 * The bootstrap refuses a node whose own certificate is revoked or expired with a message that
 * says so (PERMISSION_DENIED / UNAUTHENTICATED): read here, so the node can say it plainly in its
 * logs and in `info` instead of showing one more control error.
 */
export interface CertificateRefusalState {
  readonly state: 'revoked' | 'expired';
  /** The certificate's serial as the bootstrap named it ('' when it did not). */
  readonly serial: string;
  /** When this node first saw this refusal. */
  readonly sinceMs: number;
  readonly message: string;
}

/** What a refusal says about this node's certificate, or undefined when it is about something else. */
export function readCertificateRefusal(message: string, nowMs: number): CertificateRefusalState | undefined {
  const revoked = /client certificate "[^"]*" \(serial ([0-9A-Fa-f:]+)\) has been revoked/.exec(message);
  if (revoked) return { state: 'revoked', serial: revoked[1]!.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, ''), sinceMs: nowMs, message };
  if (/client certificate "[^"]*" expired on /.test(message)) return { state: 'expired', serial: '', sinceMs: nowMs, message };
  return undefined;
}

/** The same refusal (state and serial): its first sighting is kept. */
export function sameRefusal(a: CertificateRefusalState | undefined, b: CertificateRefusalState | undefined): boolean {
  return a !== undefined && b !== undefined && a.state === b.state && a.serial === b.serial;
}

/** One line for logs and `info`: "revoked (serial 1a2b) since 2026-…". */
export function describeCertificateRefusal(refusal: CertificateRefusalState): string {
  return `${refusal.state}${refusal.serial ? ` (serial ${refusal.serial})` : ''}, refused by the bootstrap since ${new Date(refusal.sinceMs).toISOString()}`;
}
