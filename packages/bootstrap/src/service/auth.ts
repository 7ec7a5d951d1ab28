import type { ServerUnaryCall } from '@grpc/grpc-js';

export type ServerSurfaceCall = Pick<ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'getPeer'>;
import { WgmeshError } from '../errors.js';

export class PermissionDenied extends WgmeshError {}

/** Who a call comes from, as far as the transport can tell. */
export interface CallIdentity {
  /** The node name the transport vouches for (the certificate's CN), if any. */
  readonly certName?: string;
  readonly certFingerprint?: string;
}

/**
 * Decides who a call is from. Dev mode vouches for nobody (the request's public key is the
 * only proof); mTLS mode reads the verified client certificate.
 */
export interface Authenticator {
  readonly mode: 'dev' | 'mtls';
  identify(call: ServerSurfaceCall): CallIdentity;
}

export const devAuthenticator: Authenticator = {
  mode: 'dev',
  identify: () => ({}),
};
