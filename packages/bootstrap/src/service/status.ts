import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import {
  CertificateRejected, IdentityMismatch, Unauthenticated, InvalidField, MeshNotFound, NameTaken, NodeNotFound, PermissionDenied, PresharedKeysOff, PublicKeyTaken, RangeExhausted,
  StoreConflict, StoreUnavailable, WatcherFellBehind, TokenInvalid, TokenUnknown, TokenExpired, TokenUsed, TokenRevoked, TokenNotFound, TooManyBadTokens,
  CsrRejected, EnrollmentDisabled, CertificateNotFound, RenewalDisabled,
} from '../errors.js';

/** The one place where named errors become gRPC status codes. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = codeFor(err);
  const message = err instanceof Error ? err.message : String(err);
  return { code, details: message, message, metadata: new Metadata() };
}

function codeFor(err: unknown): status {
  if (err instanceof InvalidField) return status.INVALID_ARGUMENT;
  if (err instanceof TokenInvalid) return status.INVALID_ARGUMENT;
  if (err instanceof CsrRejected) return status.INVALID_ARGUMENT;
  if (err instanceof TokenUnknown) return status.UNAUTHENTICATED;
  if (err instanceof TokenExpired) return status.PERMISSION_DENIED;
  if (err instanceof TokenUsed) return status.PERMISSION_DENIED;
  if (err instanceof TokenRevoked) return status.PERMISSION_DENIED;
  if (err instanceof TokenNotFound) return status.NOT_FOUND;
  if (err instanceof CertificateNotFound) return status.NOT_FOUND;
  if (err instanceof TooManyBadTokens) return status.RESOURCE_EXHAUSTED;
  if (err instanceof EnrollmentDisabled) return status.FAILED_PRECONDITION;
  if (err instanceof RenewalDisabled) return status.FAILED_PRECONDITION;
  if (err instanceof MeshNotFound) return status.NOT_FOUND;
  if (err instanceof NodeNotFound) return status.NOT_FOUND;
  if (err instanceof NameTaken) return status.ALREADY_EXISTS;
  if (err instanceof PublicKeyTaken) return status.ALREADY_EXISTS;
  if (err instanceof IdentityMismatch) return status.PERMISSION_DENIED;
  if (err instanceof PermissionDenied) return status.PERMISSION_DENIED;
  if (err instanceof Unauthenticated) return status.UNAUTHENTICATED;
  if (err instanceof CertificateRejected) return status.PERMISSION_DENIED;
  if (err instanceof PresharedKeysOff) return status.FAILED_PRECONDITION;
  if (err instanceof RangeExhausted) return status.RESOURCE_EXHAUSTED;
  // The agent reconnects (with its revision) on any Watch end but NOT_FOUND / PERMISSION_DENIED.
  if (err instanceof WatcherFellBehind) return status.RESOURCE_EXHAUSTED;
  // etcd unreachable: the agent tries its next bootstrap (it moves on UNAVAILABLE).
  if (err instanceof StoreUnavailable) return status.UNAVAILABLE;
  // Lost to other bootstraps' writes more often than retried: the same call again may succeed.
  if (err instanceof StoreConflict) return status.ABORTED;
  return status.INTERNAL;
}
