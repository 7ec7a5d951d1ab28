export { Bootstrap, type BootstrapComponents, type BootstrapInit } from './bootstrap.js';
export * from './errors.js';
export { DEFAULTS, LIMITS } from './constants.js';
export { Ipam, parsePrefix, prefixContains, isIp } from './ipam/ipam.js';
export { MemberTable, systemClock, type Clock, type Identity, type MemberDelta } from './members/table.js';
export { FileStateStore, MemoryStateStore, isSharedStore, type MeshState, type Member, type StateStore, type SharedMemberStore, type SharedMemberEvent, type StoredMember } from './members/store.js';
export { EtcdCoordinator, COORDINATION_DEFAULTS, mergeSeen, type CoordinatorInit, type CoordinatorStatus } from './store/etcd-coordination.js';
export { createMeshService } from './service/mesh-service.js';
export { devAuthenticator, type Authenticator, type CallIdentity } from './service/auth.js';
export { toServiceError } from './service/status.js';
export { MeshTls, certCommonName, splitPem, type MeshTlsInit } from './tls/mtls.js';
export { createCrl, readCrl, normalizeSerial, type RevokedEntry } from './tls/crl.js';
export { LivenessMonitor, LIVENESS_DEFAULTS, type LivenessInit } from './members/liveness.js';
export { StunResponder, type StunResponderInit, type StunResponderStats } from './stun/responder.js';
export { registerBootstrapMetrics } from './metrics.js';
export { BootstrapNode, createBootstrapNode, type BootstrapNodeComponents, type BootstrapNodeInit, type BootstrapTlsInit } from './node.js';
export { decideMeshStart, meshStartFacts, type MeshStart, type MeshStartFacts } from './members/mesh-start.js';
export {
  EtcdMeshStore,
  ETCD_STORE_DEFAULTS,
  type EtcdMeshStoreInit,
  type MeshRecord,
  type MemberEvent,
  type MemberWatch,
  type StoreAudit,
  type WatchOptions,
} from './store/etcd-mesh-store.js';
export { migrateFileStore, planMigration, type MigrationComponents, type MigrationReport } from './store/migrate.js';
export { encodeToken, decodeToken, newTokenSecret, tokenHash, tokenId, normalizeFingerprint, TOKEN_PREFIX, TOKEN_MAX_CHARS, type EnrollmentToken } from './enroll/token.js';
export { FileTokenStore, MemoryTokenStore, tokenRefusal, type TokenRecord, type TokenStore } from './enroll/token-store.js';
export { backdateMs, checkCsr, CertificateAuthority, CSR_MAX_CHARS, type CheckedCsr } from './enroll/csr.js';
export { BadTokenLimiter, BAD_TOKEN_LIMITS, sourceAddress, type BadTokenLimits } from './enroll/rate-limit.js';
export { Enrollment, ENROLLMENT_DEFAULTS, type EnrollmentComponents, type EnrollmentInit } from './enroll/enrollment.js';
export { EtcdTokenStore, type EtcdTokenStoreComponents } from './enroll/etcd-token-store.js';
export { FileCertificateStore, MemoryCertificateStore, EtcdCertificateStore, CERTIFICATE_FORGET_AFTER_MS, type CertificateRecord, type CertificateStore, type EtcdCertificateStoreComponents } from './enroll/certificate-store.js';
export { CertificateRevocation, REVOCATION_REFRESH_MS, type CertificateRevocationComponents, type CertificateRevocationInit } from './enroll/revocation.js';
