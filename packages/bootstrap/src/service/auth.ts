import type { ServerUnaryCall } from '@grpc/grpc-js';

export type ServerSurfaceCall = Pick<ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'getPeer'>;
import type { CallCertificate } from '../members/identity.js';
import type { RevocationSource } from '../members/certificates.js';

/** Who a call comes from, as far as the transport can tell. */
export interface CallIdentity {
  /** The node name the transport vouches for (the certificate's CN), if any. */
  readonly certName?: string;
  readonly cert?: CallCertificate;
}

/**
 * Decides who a call is from. Dev mode vouches for nobody (the node's secret from its join is
 * the proof); mTLS mode reads the verified client certificate.
 */
export interface Authenticator {
  readonly mode: 'dev' | 'mtls';
  identify(call: ServerSurfaceCall): CallIdentity;
  /**
   * Checks again, now, an identity identify() gave earlier (a Heartbeat stream identifies its
   * caller once, then each message with this): what can change while a connection lasts (a
   * certificate expiring, or revoked). Throws as identify() would.
   */
  recheck?(who: CallIdentity): void;
  /** mTLS with a CRL: which certificates are revoked (their members are then removed). */
  readonly revocations?: RevocationSource;
}

export const devAuthenticator: Authenticator = {
  mode: 'dev',
  identify: () => ({}),
};
