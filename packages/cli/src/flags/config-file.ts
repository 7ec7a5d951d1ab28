import { UsageError } from '../errors.js';
import { nearest } from './nearest.js';
import { applies, isIgnored, ORIGINAL_FILE_KEYS, ORIGINAL_FILE_SECTIONS, type CompatScope, type IgnoredName } from './original.js';

/** A value the config file gives one of our flags, and the key it was written under. */
export interface FileSetting {
  readonly key: string;
  readonly value: unknown;
}

export interface FileSettings {
  /** By our flag name. */
  readonly settings: ReadonlyMap<string, FileSetting>;
  /** The original's settings that mean nothing here, as the file gave them (each gets a warning). */
  readonly ignored: readonly { readonly key: string; readonly entry: IgnoredName }[];
}

/**
 * The settings of a -config YAML document for a command taking `flags`: our flat keys (flag names
 * without the dash) and, for a command with a compat scope, the original wgmesh's nested keys
 * (original.ts). A key of the original's file that another command uses (a `bootstrap:` section
 * given to `join`) is accepted and left alone, as the original does with its one shared file. An
 * unknown key is refused naming the nearest valid one; a section that is not a mapping, by name.
 */
export function settingsFromFile(doc: Readonly<Record<string, unknown>>, flags: ReadonlySet<string>, scope: CompatScope | undefined, where: string): FileSettings {
  const settings = new Map<string, FileSetting>();
  const ignored: { key: string; entry: IgnoredName }[] = [];
  const set = (flag: string, key: string, value: unknown) => {
    if (value === null || value === undefined) return;
    const before = settings.get(flag);
    if (before) throw new UsageError(`${where}: "${before.key}" and "${key}" both set -${flag}; keep one of them`);
    settings.set(flag, { key, value });
  };
  const walk = (section: Readonly<Record<string, unknown>>, prefix: string) => {
    for (const [key, value] of Object.entries(section)) {
      const dotted = prefix ? `${prefix}.${key}` : key;
      if (!prefix && flags.has(key)) {
        set(key, key, value);
        continue;
      }
      const entry = scope ? ORIGINAL_FILE_KEYS.get(dotted) : undefined;
      if (entry) {
        if (!applies(entry, scope)) continue;
        if (isIgnored(entry)) {
          if (value !== null && value !== undefined) ignored.push({ key: dotted, entry });
        } else if (flags.has(entry.flag)) set(entry.flag, dotted, value);
        continue;
      }
      if (scope && ORIGINAL_FILE_SECTIONS.has(dotted)) {
        if (value === null || value === undefined) continue;
        if (typeof value !== 'object' || Array.isArray(value)) {
          throw new UsageError(`${where}: "${dotted}" must be a mapping of settings (${childKeys(dotted).join(', ')}), not ${describeValue(value)}`);
        }
        walk(value as Record<string, unknown>, dotted);
        continue;
      }
      const candidates = prefix ? childKeys(prefix).map((k) => `${prefix}.${k}`) : [...flags, ...(scope ? childKeys('') : [])];
      const hint = nearest(dotted, candidates);
      throw new UsageError(`${where}: unknown key "${dotted}"${hint ? `; did you mean "${hint}"?` : ''} (keys are flag names without the dash${scope ? ', or the original wgmesh\'s nested keys' : ''})`);
    }
  };
  walk(doc, '');
  return { settings, ignored };
}

/** The keys directly under a section of the original's file ('' for the top level). */
function childKeys(section: string): string[] {
  const depth = section ? section.split('.').length : 0;
  const keys = new Set<string>();
  for (const k of [...ORIGINAL_FILE_KEYS.keys(), ...ORIGINAL_FILE_SECTIONS]) {
    const parts = k.split('.');
    if (parts.length === depth + 1 && (depth === 0 || k.startsWith(`${section}.`))) keys.add(parts[depth]!);
  }
  return [...keys];
}

/** A YAML value's kind, for messages: a list, a mapping, the number 5, the text "x". */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the text "${value}"`;
  return `${typeof value === 'number' ? 'the number' : 'the value'} ${String(value)}`;
}
