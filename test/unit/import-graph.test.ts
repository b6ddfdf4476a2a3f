/**
 * The source tree's import graph has no circles: neither between modules nor between areas (a
 * top-level folder, or one of agent/'s: core, crypto, gateway, wg, ...), so an area imports another
 * only if that one never imports it back, directly or not. Scans the relative imports of every .ts
 * file outside test/, examples/ and node_modules.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../../agent/package-root';

const ROOT = packageRoot();
const SKIP = new Set(['node_modules', 'dist', 'test', '.git', 'examples']);
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'(\.[^']+)'|require\('(\.[^']+)'\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return SKIP.has(name) ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function resolveImport(from: string, specifier: string, files: Set<string>): string | undefined {
  const base = resolve(dirname(from), specifier);
  return [`${base}.ts`, join(base, 'index.ts')].find((candidate) => files.has(candidate));
}

/** Tarjan's strongly connected components with more than one node (or a self-loop). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.has(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** agent/gateway/planes/kernel.ts -> agent/gateway; mesh/local/target.ts -> mesh; index.ts -> . */
function area(file: string): string {
  const parts = file.split('/').slice(0, -1);
  return parts.length === 0 ? '.' : parts.slice(0, parts[0] === 'agent' ? 2 : 1).join('/');
}

function importGraph(): { modules: Map<string, Set<string>>; areas: Map<string, Set<string>> } {
  const files = new Set(sourceFiles(ROOT));
  const modules = new Map<string, Set<string>>();
  const areas = new Map<string, Set<string>>();
  for (const file of files) {
    const from = relative(ROOT, file);
    const targets = new Set<string>();
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolveImport(file, (match[1] ?? match[2])!, files);
      if (target) targets.add(relative(ROOT, target));
    }
    modules.set(from, targets);
    const own = area(from);
    const areaTargets = areas.get(own) ?? new Set<string>();
    for (const target of targets) if (area(target) !== own) areaTargets.add(area(target));
    areas.set(own, areaTargets);
  }
  return { modules, areas };
}

describe('import graph', () => {
  const { modules, areas } = importGraph();

  it('scans the tree', () => {
    expect(modules.size).toBeGreaterThan(50);
    expect(modules.get('cli/wiremesh.ts')).toContain('cli/mesh.ts');
  });

  it('has no circle between modules', () => {
    expect(cycles(modules)).toEqual([]);
  });

  it('has no circle between areas', () => {
    expect(cycles(areas)).toEqual([]);
  });

  it('keeps the on-host agent free of the planner and the CLI', () => {
    const agentImports = [...areas].filter(([name]) => name.startsWith('agent')).flatMap(([, targets]) => [...targets]);
    expect(agentImports.filter((target) => !target.startsWith('agent') && target !== 'common')).toEqual([]);
  });
});
