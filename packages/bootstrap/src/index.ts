export { Bootstrap, type BootstrapComponents, type BootstrapInit } from './bootstrap.js';
export * from './errors.js';
export { DEFAULTS, LIMITS } from './constants.js';
export { Ipam, parsePrefix, prefixContains, isIp } from './ipam/ipam.js';
export { MemberTable, systemClock, type Clock, type Identity, type MemberDelta } from './members/table.js';
export { FileStateStore, MemoryStateStore, type MeshState, type Member, type StateStore } from './members/store.js';
export { createMeshService } from './service/mesh-service.js';
export { devAuthenticator, PermissionDenied, type Authenticator, type CallIdentity } from './service/auth.js';
export { toServiceError } from './service/status.js';
