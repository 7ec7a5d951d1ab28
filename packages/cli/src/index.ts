export { main } from './main.js';
export { resolveFlags, formatHelp, envName, type FlagSpec, type Resolved } from './flags/parse.js';
export { UsageError } from './errors.js';
export { formatInfo, formatRtt, nodeRows } from './ui/format.js';
export { initCa, issueCertificate, revokeCertificate, listCertificates, caFiles, type IssuedRecord, type IssueOptions } from './ca/ca.js';
export { CaError, LocalApiUnavailable, StartInterrupted, exitCodeFor } from './errors.js';
export { clientCertificateProblem } from './commands/tls.js';
export { loadOrEnroll, enrollFiles, makeCsr, fetchPinnedCa, type EnrolledIdentity } from './enroll/enroll.js';
export { EnrollmentFailed } from './errors.js';
