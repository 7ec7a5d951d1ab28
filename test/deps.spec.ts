/**
 * Dependencies point one way (STYLE.md, convention 1): the agent knows nothing of the bootstrap
 * or the CLI, the bootstrap nothing of the CLI; a package reaches another only through its name
 * and exports (`@wgmesh/agent`, `@wgmesh/cli/lab`, …), never by a relative path into its files;
 * and no test depends on the benchmarks.
 *
 * Every .ts and .tsx file under packages/* /src, packages/* /test, test/ and bench/ is read with
 * the TypeScript compiler's own pre-processor (`ts.preProcessFile`), which finds `import`,
 * `import type`, `export … from`, dynamic `import('…')`, `require('…')` and leading
 * `/// <reference path>` directives: the same list the compiler itself follows.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '..');

/** A workspace package: its folder (relative to the root, '/'-separated) and its npm name. */
interface WorkspacePackage {
  readonly dir: string;
  readonly name: string;
}

/** One import-like statement of one file. */
interface ImportEdge {
  /** The importing file, relative to the root. */
  readonly file: string;
  readonly line: number;
  /** The specifier exactly as written. */
  readonly specifier: string;
}

interface Violation extends ImportEdge {
  readonly rule: string;
}

function workspacePackages(): WorkspacePackage[] {
  const dirs = [
    ...readdirSync(path.join(ROOT, 'packages'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `packages/${d.name}`),
    'test',
    'bench',
  ];
  return dirs
    .filter((dir) => existsSync(path.join(ROOT, dir, 'package.json')))
    .map((dir) => ({ dir, name: (JSON.parse(readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as { name: string }).name }));
}

/** Source files to check, relative to the root: .ts/.tsx under the given folders, without node_modules or dist. */
function sourceFiles(dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    const abs = path.join(ROOT, dir);
    if (!existsSync(abs)) return;
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'dist') walk(rel);
      } else if (/\.tsx?$/.test(entry.name)) {
        out.push(rel);
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return out.sort();
}

/** Every import-like statement of a file's text, with its line number. */
function importsOf(file: string, text: string): ImportEdge[] {
  const info = ts.preProcessFile(text, true, true);
  const lineOf = (pos: number) => text.slice(0, pos).split('\n').length;
  return [...info.importedFiles, ...info.referencedFiles].map((ref) => ({ file, line: lineOf(ref.pos), specifier: ref.fileName }));
}

/**
 * The checker, separate from the file walk so its rules can be tested on made-up files.
 * `packages`: the workspace's packages; returns every edge that breaks a rule.
 */
function checkImports(edges: readonly ImportEdge[], packages: readonly WorkspacePackage[]): Violation[] {
  const byName = new Map(packages.map((p) => [p.name, p]));
  /** The package a root-relative path lies in (the longest matching folder). */
  const packageOfPath = (rel: string) =>
    packages.filter((p) => rel === p.dir || rel.startsWith(`${p.dir}/`)).sort((a, b) => b.dir.length - a.dir.length)[0];
  /** The package a specifier reaches: by npm name (and subpath), or by a relative path's target. */
  const target = (edge: ImportEdge): { pkg: WorkspacePackage | undefined; path: string | undefined } => {
    const s = edge.specifier;
    if (s.startsWith('.') || s.startsWith('/')) {
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(edge.file), s));
      return { pkg: packageOfPath(resolved), path: resolved };
    }
    const name = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!;
    return { pkg: byName.get(name), path: undefined };
  };
  const isTest = (file: string) => file.startsWith('test/') || /^packages\/[^/]+\/test\//.test(file);

  const violations: Violation[] = [];
  for (const edge of edges) {
    const from = packageOfPath(edge.file);
    const to = target(edge);
    if (!from || !to.pkg) continue;
    if (from.dir === 'packages/agent' && (to.pkg.dir === 'packages/bootstrap' || to.pkg.dir === 'packages/cli')) {
      violations.push({ ...edge, rule: `the agent must not depend on ${to.pkg.name}: the bootstrap and the CLI build on the agent, not the other way round` });
    }
    if (from.dir === 'packages/bootstrap' && to.pkg.dir === 'packages/cli') {
      violations.push({ ...edge, rule: `the bootstrap must not depend on ${to.pkg.name}: the CLI builds on the bootstrap, not the other way round` });
    }
    if (to.path !== undefined && to.pkg.dir !== from.dir) {
      violations.push({ ...edge, rule: `a relative path into another package (${to.pkg.name}): import it by name through its package.json "exports" instead` });
    }
    if (isTest(edge.file) && to.pkg.dir === 'bench') {
      violations.push({ ...edge, rule: 'a test must not depend on the benchmarks (bench/): move what both need into a package' });
    }
  }
  return violations;
}

function describeViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.file}:${v.line} imports '${v.specifier}': ${v.rule}`).join('\n');
}

describe('dependencies point one way', () => {
  const packages = workspacePackages();
  const files = sourceFiles([...packages.filter((p) => p.dir.startsWith('packages/')).flatMap((p) => [`${p.dir}/src`, `${p.dir}/test`]), 'test', 'bench']);
  const edges = files.flatMap((file) => importsOf(file, readFileSync(path.join(ROOT, file), 'utf8')));

  test('the walk sees every package and its imports', () => {
    for (const dir of ['packages/agent', 'packages/bootstrap', 'packages/cli', 'test', 'bench']) {
      assert.ok(packages.some((p) => p.dir === dir), `${dir} is a workspace package`);
      assert.ok(files.some((f) => f.startsWith(`${dir}/`)), `files of ${dir} are checked`);
    }
    assert.ok(edges.length > files.length, `${edges.length} imports in ${files.length} files`);
  });

  test('no file breaks a rule', () => {
    const violations = checkImports(edges, packages);
    assert.ok(violations.length === 0, `${violations.length} import${violations.length === 1 ? '' : 's'} break the dependency rules:\n${describeViolations(violations)}`);
  });

  test('the checker catches each rule (on made-up files)', () => {
    const made = (file: string, source: string) => importsOf(file, source);
    const edges = [
      ...made('packages/agent/src/a.ts', "import { Bootstrap } from '@wgmesh/bootstrap';\nimport type { main } from '@wgmesh/cli';"),
      ...made('packages/agent/test/a.test.ts', "const m = await import('../../cli/src/main.js');"),
      ...made('packages/bootstrap/src/b.ts', "export { main } from '@wgmesh/cli';\nimport { x } from '@wgmesh/agent';"),
      ...made('test/sim/c.test.ts', "import { labUp } from '../../packages/cli/src/lab/index.js';\nimport { w } from '../helpers/wait.js';\nimport { labDown } from '@wgmesh/cli/lab';"),
      ...made('test/e2e/d.test.ts', "import { measure } from '../../bench/wg-pair.js';"),
      ...made('packages/cli/test/e.test.ts', "import { main } from '../src/main.js';"),
    ];
    const found = checkImports(edges, [
      { dir: 'packages/agent', name: '@wgmesh/agent' },
      { dir: 'packages/bootstrap', name: '@wgmesh/bootstrap' },
      { dir: 'packages/cli', name: '@wgmesh/cli' },
      { dir: 'test', name: '@wgmesh/test' },
      { dir: 'bench', name: '@wgmesh/bench' },
    ]);
    assert.deepEqual(
      found.map((v) => `${v.file}:${v.line} ${v.specifier} (${v.rule.split(':')[0]})`),
      [
        'packages/agent/src/a.ts:1 @wgmesh/bootstrap (the agent must not depend on @wgmesh/bootstrap)',
        'packages/agent/src/a.ts:2 @wgmesh/cli (the agent must not depend on @wgmesh/cli)',
        'packages/agent/test/a.test.ts:1 ../../cli/src/main.js (the agent must not depend on @wgmesh/cli)',
        'packages/agent/test/a.test.ts:1 ../../cli/src/main.js (a relative path into another package (@wgmesh/cli))',
        'packages/bootstrap/src/b.ts:1 @wgmesh/cli (the bootstrap must not depend on @wgmesh/cli)',
        'test/sim/c.test.ts:1 ../../packages/cli/src/lab/index.js (a relative path into another package (@wgmesh/cli))',
        'test/e2e/d.test.ts:1 ../../bench/wg-pair.js (a relative path into another package (@wgmesh/bench))',
        'test/e2e/d.test.ts:1 ../../bench/wg-pair.js (a test must not depend on the benchmarks (bench/))',
      ],
    );
  });
});
