import type { parse as yamlParse } from 'yaml';
import { lazyRequire } from '@wgmesh/agent/lazy-require';
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

// Loaded only when a run reads a -config file.
const yaml = lazyRequire<{ parse: typeof yamlParse }>(import.meta.url, 'yaml');

export type FlagType = 'string' | 'int' | 'bool' | 'list' | 'duration';

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly help: string;
  readonly default?: string | number | boolean | readonly string[];
  /** Shown in help for the value, e.g. "HOST:PORT". */
  readonly value?: string;
}

export type FlagValue = string | number | boolean | string[];
export type FlagValues = Record<string, FlagValue | undefined>;

export { UsageError };

/** Where each value came from: for --help and for tests of precedence. */
export type Source = 'flag' | 'env' | 'file' | 'default';

export interface Resolved {
  readonly values: FlagValues;
  readonly sources: Record<string, Source>;
  readonly positionals: string[];
  readonly help: boolean;
}

/** WGMESH_GRPC_BIND_PORT for grpc-bind-port. */
export function envName(flag: string): string {
  return `WGMESH_${flag.toUpperCase().replace(/-/g, '_')}`;
}

function convert(spec: FlagSpec, raw: unknown, where: string): FlagValue {
  switch (spec.type) {
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const text = String(raw).toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(text)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(text)) return false;
      throw new UsageError(`${where}: -${spec.name} takes true or false, not "${String(raw)}"`);
    }
    case 'int': {
      const n = typeof raw === 'number' ? raw : Number(String(raw).trim());
      if (!Number.isInteger(n) || String(raw).trim() === '') throw new UsageError(`${where}: -${spec.name} takes a whole number, not "${String(raw)}"`);
      return n;
    }
    case 'duration': {
      const ms = parseDuration(String(raw));
      if (ms === undefined) throw new UsageError(`${where}: -${spec.name} takes a duration like 500ms, 15s, 10m or 1h, not "${String(raw)}"`);
      return ms;
    }
    case 'list':
      if (Array.isArray(raw)) return raw.map(String);
      return String(raw).split(',').map((s) => s.trim()).filter(Boolean);
    default:
      if (typeof raw === 'object' && raw !== null) throw new UsageError(`${where}: -${spec.name} takes a single value`);
      return String(raw);
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations ("1h30m", "15s", "500ms") in milliseconds; a bare number is seconds. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== t) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}

/**
 * Go `flag` style: `-flag value`, `-flag=value`, `--flag value`; bools need no value. Flags and
 * positionals may mix; `--` ends flags. Then env (WGMESH_FLAG) and the YAML -config file fill in
 * what the command line did not set: flag > env > file > default.
 */
export function resolveFlags(
  specs: readonly FlagSpec[],
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Resolved {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const fromFlags: FlagValues = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'h' || name === 'help') {
      help = true;
      continue;
    }
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown flag -${name}; see --help`);
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.type === 'bool') raw = 'true';
    else {
      if (i + 1 >= argv.length) throw new UsageError(`-${name} needs a value${spec.value ? ` (${spec.value})` : ''}`);
      raw = argv[++i]!;
    }
    const value = convert(spec, raw, 'command line');
    if (spec.type === 'list') fromFlags[name] = [...((fromFlags[name] as string[] | undefined) ?? []), ...(value as string[])];
    else fromFlags[name] = value;
  }

  let fromFile: Record<string, unknown> = {};
  const configPath = (fromFlags.config as string | undefined) ?? env[envName('config')];
  if (configPath && byName.has('config')) {
    let text: string;
    try {
      text = readFile(configPath);
    } catch (err) {
      throw new UsageError(`cannot read config file ${configPath}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = yaml().parse(text);
    } catch (err) {
      throw new UsageError(`config file ${configPath} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new UsageError(`config file ${configPath} must be a mapping of flag names to values`);
    }
    fromFile = (parsed ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(fromFile)) {
      if (!byName.has(key)) throw new UsageError(`config file ${configPath}: unknown setting "${key}" (settings are flag names without the dash)`);
    }
  }

  const values: FlagValues = {};
  const sources: Record<string, Source> = {};
  for (const spec of specs) {
    const envValue = env[envName(spec.name)];
    if (fromFlags[spec.name] !== undefined) {
      values[spec.name] = fromFlags[spec.name];
      sources[spec.name] = 'flag';
    } else if (envValue !== undefined && envValue !== '') {
      values[spec.name] = convert(spec, envValue, `environment ${envName(spec.name)}`);
      sources[spec.name] = 'env';
    } else if (fromFile[spec.name] !== undefined && fromFile[spec.name] !== null) {
      values[spec.name] = convert(spec, fromFile[spec.name], `config file ${configPath}`);
      sources[spec.name] = 'file';
    } else {
      const d = spec.default;
      values[spec.name] = Array.isArray(d) ? [...d] : (d as FlagValue | undefined);
      sources[spec.name] = 'default';
    }
  }
  return { values, sources, positionals, help };
}

export function formatHelp(usage: string, description: string, specs: readonly FlagSpec[]): string {
  const lines = [`usage: ${usage}`, '', description, ''];
  if (specs.length) {
    const fromFile = specs.some((s) => s.name === 'config') ? ', or in the -config YAML file' : '';
    lines.push(`flags (each also settable in the environment variable shown in brackets${fromFile}):`);
  }
  for (const s of specs) {
    const head = `  -${s.name}${s.type === 'bool' ? '' : ` ${s.value ?? s.type.toUpperCase()}`}`;
    const shown = s.type === 'duration' && typeof s.default === 'number' ? formatDuration(s.default) : Array.isArray(s.default) ? s.default.join(',') : String(s.default);
    const def = s.default === undefined || s.default === '' || (Array.isArray(s.default) && s.default.length === 0) ? '' : ` (default ${shown})`;
    lines.push(head.padEnd(34) + ' ' + s.help + def + ` [${envName(s.name)}]`);
  }
  return lines.join('\n') + '\n';
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
