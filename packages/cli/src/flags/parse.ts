import type { parse as yamlParse } from 'yaml';
import { lazyRequire } from '@wgmesh/agent/lazy-require';
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { describeValue, settingsFromFile, type FileSettings } from './config-file.js';
import { applies, isIgnored, ORIGINAL_NAMES, type CompatScope } from './original.js';

// Loaded only when a run reads a -config file.
const yaml = lazyRequire<{ parse: typeof yamlParse }>(import.meta.url, 'yaml');

/**
 * `list`: repeatable, and each value may be comma-separated (`-tags a=1,b=2`). `multi`:
 * repeatable, one value per flag, taken whole (`tags -set svc:web=port=80,proto=tcp`).
 */
export type FlagType = 'string' | 'int' | 'bool' | 'list' | 'multi' | 'duration';

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
export type { CompatScope };

/** Where each value came from: for --help and for tests of precedence. */
export type Source = 'flag' | 'env' | 'file' | 'default';

export interface Resolved {
  readonly values: FlagValues;
  readonly sources: Record<string, Source>;
  readonly positionals: string[];
  readonly help: boolean;
  /** Settings accepted but ignored (the original wgmesh's that mean nothing here), each saying why. */
  readonly warnings: string[];
}

export interface ResolveOptions {
  readonly readFile?: (path: string) => string;
  /** Also take the original wgmesh's flag, environment and config file names for this side (original.ts). */
  readonly compat?: CompatScope;
}

/** WGMESH_GRPC_BIND_PORT for grpc-bind-port. */
export function envName(flag: string): string {
  return `WGMESH_${flag.toUpperCase().replace(/-/g, '_')}`;
}

const EXPECTED: Record<FlagType, string> = {
  string: 'a single value',
  int: 'a whole number',
  bool: 'true or false',
  list: 'a list (or comma-separated values)',
  multi: 'a list',
  duration: 'a duration like 500ms, 15s, 10m or 1h',
};

/** `raw` as `spec`'s type; `where` and `label` name the source in errors ("config file c.yaml", '"wireguard.listen-port"'). */
function convert(spec: FlagSpec, raw: unknown, where: string, label = `-${spec.name}`): FlagValue {
  const wrong = (): never => {
    throw new UsageError(`${where}: ${label} takes ${EXPECTED[spec.type]}, not ${typeof raw === 'string' ? `"${raw}"` : describeValue(raw)}`);
  };
  const scalar = raw === null || typeof raw !== 'object';
  switch (spec.type) {
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (!scalar) return wrong();
      const text = String(raw).toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(text)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(text)) return false;
      return wrong();
    }
    case 'int': {
      if (typeof raw !== 'number' && typeof raw !== 'string') return wrong();
      const n = typeof raw === 'number' ? raw : Number(raw.trim());
      if (!Number.isInteger(n) || String(raw).trim() === '') return wrong();
      return n;
    }
    case 'duration': {
      if (!scalar) return wrong();
      const ms = parseDuration(String(raw));
      return ms === undefined ? wrong() : ms;
    }
    case 'list':
      if (Array.isArray(raw)) return raw.every((r) => r === null || typeof r !== 'object') ? raw.map(String) : wrong();
      if (!scalar) return wrong();
      return String(raw).split(',').map((s) => s.trim()).filter(Boolean);
    case 'multi':
      if (Array.isArray(raw)) return raw.every((r) => r === null || typeof r !== 'object') ? raw.map(String) : wrong();
      return scalar ? [String(raw)] : wrong();
    default:
      return scalar ? String(raw) : wrong();
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

/** A name the command line may use: one of the command's flags, or one of the original's (original.ts). */
interface Accepted {
  readonly spec: FlagSpec;
  /** Set for the original's names that mean nothing here: the warning's reason. */
  readonly ignored?: string;
}

/** The original's names that apply to a command of `scope` taking `specs`, keyed as each source spells them. */
function originalNames(specs: ReadonlyMap<string, FlagSpec>, scope: CompatScope | undefined) {
  const flags = new Map<string, Accepted>();
  const env: { name: string; flag: string; ignored?: string }[] = [];
  for (const entry of ORIGINAL_NAMES) {
    if (!applies(entry, scope)) continue;
    if (isIgnored(entry)) {
      if (!specs.has(entry.ignored)) flags.set(entry.ignored, { spec: { name: entry.ignored, type: entry.type, help: '' }, ignored: entry.because });
      for (const name of entry.env) env.push({ name, flag: entry.ignored, ignored: entry.because });
      continue;
    }
    const spec = specs.get(entry.flag);
    if (!spec) continue;
    // A command's own flag of the same name wins (`ca init -name` is not the mesh name).
    for (const name of entry.flags ?? []) if (!specs.has(name)) flags.set(name, { spec });
    for (const name of entry.env ?? []) env.push({ name, flag: entry.flag });
  }
  return { flags, env };
}

/**
 * Go `flag` style: `-flag value`, `-flag=value`, `--flag value`; bools need no value. Flags and
 * positionals may mix; `--` ends flags. Then env (WGMESH_FLAG) and the YAML -config file fill in
 * what the command line did not set: flag > env > file > default. With `compat`, the original
 * wgmesh's names (original.ts) count as ours at the same rank; where both are set in the
 * environment, ours wins.
 */
export function resolveFlags(
  specs: readonly FlagSpec[],
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
  options: ResolveOptions | ((path: string) => string) = {},
): Resolved {
  const { readFile = (p: string) => readFileSync(p, 'utf8'), compat } = typeof options === 'function' ? { readFile: options } : options;
  const own = new Map(specs.map((s) => [s.name, s]));
  const original = originalNames(own, compat);
  const accepted = new Map<string, Accepted>([...original.flags, ...specs.map((s) => [s.name, { spec: s }] as const)]);
  const warnings: string[] = [];
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
    const found = accepted.get(name);
    if (!found) throw new UsageError(`unknown flag -${name}; see --help`);
    const { spec } = found;
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.type === 'bool') raw = 'true';
    else {
      if (i + 1 >= argv.length) throw new UsageError(`-${name} needs a value${spec.value ? ` (${spec.value})` : ''}`);
      raw = argv[++i]!;
    }
    const value = convert(spec, raw, 'command line', `-${name}`);
    if (found.ignored) warnings.push(`-${name} is ignored: ${found.ignored}`);
    else if (spec.type === 'list' || spec.type === 'multi') fromFlags[spec.name] = [...((fromFlags[spec.name] as string[] | undefined) ?? []), ...(value as string[])];
    else fromFlags[spec.name] = value;
  }

  let fromFile: FileSettings = { settings: new Map(), ignored: [] };
  const configPath = (fromFlags.config as string | undefined) ?? env[envName('config')];
  const where = `config file ${configPath}`;
  if (configPath && own.has('config')) {
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
    fromFile = settingsFromFile((parsed ?? {}) as Record<string, unknown>, new Set(own.keys()), compat, where);
    for (const { key, entry } of fromFile.ignored) warnings.push(`${where}: "${key}" is ignored: ${entry.because}`);
  }
  for (const e of original.env) {
    if (e.ignored && env[e.name] !== undefined && env[e.name] !== '') warnings.push(`${e.name} is ignored: ${e.ignored}`);
  }

  const values: FlagValues = {};
  const sources: Record<string, Source> = {};
  for (const spec of specs) {
    const envNames = [envName(spec.name), ...original.env.filter((e) => !e.ignored && e.flag === spec.name).map((e) => e.name)];
    const envVar = envNames.find((n) => env[n] !== undefined && env[n] !== '');
    const file = fromFile.settings.get(spec.name);
    if (fromFlags[spec.name] !== undefined) {
      values[spec.name] = fromFlags[spec.name];
      sources[spec.name] = 'flag';
    } else if (envVar !== undefined) {
      values[spec.name] = convert(spec, env[envVar], `environment ${envVar}`);
      sources[spec.name] = 'env';
    } else if (file) {
      values[spec.name] = convert(spec, file.value, where, `"${file.key}"`);
      sources[spec.name] = 'file';
    } else {
      const d = spec.default;
      values[spec.name] = Array.isArray(d) ? [...d] : (d as FlagValue | undefined);
      sources[spec.name] = 'default';
    }
  }
  return { values, sources, positionals, help, warnings };
}

/** resolveFlags for a command run: the warnings go to stderr, prefixed with the command. */
export function resolveCommandFlags(command: string, specs: readonly FlagSpec[], argv: readonly string[], env: Readonly<Record<string, string | undefined>>, compat?: CompatScope): Resolved {
  const resolved = resolveFlags(specs, argv, env, compat ? { compat } : {});
  for (const w of resolved.warnings) process.stderr.write(`wgmesh ${command}: warning: ${w}\n`);
  return resolved;
}

/** The help of a command's flags; with `compat`, each flag's original wgmesh spellings beside it. */
export function formatHelp(usage: string, description: string, specs: readonly FlagSpec[], compat?: CompatScope): string {
  const lines = [`usage: ${usage}`, '', description, ''];
  if (specs.length) {
    const fromFile = specs.some((s) => s.name === 'config') ? ', or in the -config YAML file' : '';
    lines.push(`flags (each also settable in the environment variable shown in brackets${fromFile}):`);
  }
  for (const s of specs) {
    const head = `  -${s.name}${s.type === 'bool' ? '' : ` ${s.value ?? s.type.toUpperCase()}`}`;
    const shown = s.type === 'duration' && typeof s.default === 'number' ? formatDuration(s.default) : Array.isArray(s.default) ? s.default.join(',') : String(s.default);
    const def = s.default === undefined || s.default === '' || (Array.isArray(s.default) && s.default.length === 0) ? '' : ` (default ${shown})`;
    const original = compat ? originalSpellings(s.name, new Set(specs.map((x) => x.name)), compat) : [];
    lines.push(head.padEnd(34) + ' ' + s.help + def + ` [${envName(s.name)}]` + (original.length ? ` (original wgmesh: ${original.join(', ')})` : ''));
  }
  const ignored = compat ? ORIGINAL_NAMES.filter((e) => isIgnored(e) && applies(e, compat)) : [];
  if (ignored.length) lines.push('', `accepted from the original wgmesh and ignored, with a warning: ${ignored.map((e) => '-' + (e as { ignored: string }).ignored).join(', ')}`);
  return lines.join('\n') + '\n';
}

/** The original's flag and environment names of our flag `name` (those a command of `scope` accepts). */
function originalSpellings(name: string, own: ReadonlySet<string>, scope: CompatScope): string[] {
  return ORIGINAL_NAMES.filter((e) => !isIgnored(e) && e.flag === name && applies(e, scope)).flatMap((e) => {
    const names = e as { flags?: readonly string[]; env?: readonly string[] };
    return [...(names.flags ?? []).filter((f) => !own.has(f)).map((f) => '-' + f), ...(names.env ?? [])];
  });
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
