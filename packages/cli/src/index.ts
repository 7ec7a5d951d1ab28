export { main } from './main.js';
export { resolveFlags, formatHelp, envName, UsageError, type FlagSpec, type Resolved } from './flags/parse.js';
export { formatInfo, formatRtt, nodeRows } from './ui/format.js';
export { initCa, issueCertificate, revokeCertificate, listCertificates, caFiles, CaError, type IssuedRecord, type IssueOptions } from './ca/ca.js';
export { clientCertificateProblem } from './commands/tls.js';
