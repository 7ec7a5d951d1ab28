export { main } from './main.js';
export { resolveFlags, formatHelp, envName, UsageError, type FlagSpec, type Resolved } from './flags/parse.js';
export { formatInfo, formatRtt, nodeRows } from './ui/format.js';
