/**
 * The npm registry the sealed gateways see as registry.npmjs.org: the packed wiremesh tarball plus
 * every package of its production dependency tree, taken from this checkout's node_modules (what
 * `npm ci` installed from the public registry) and packed as registry tarballs. Packuments carry the
 * package.json of each version and its tarball's sha512 integrity, so the gateway's npm resolves and
 * verifies exactly as against the public registry.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export interface RegistryVersion {
  manifest: Record<string, unknown>;
  tarballPath: string;
  integrity: string;
  shasum: string;
}

export interface NpmRegistryContent {
  /** name -> version -> what the registry holds. */
  packages: Map<string, Map<string, RegistryVersion>>;
}

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

function readJson(path: string): PackageJson {
  return JSON.parse(readFileSync(path, 'utf8')) as PackageJson;
}

/** Node's resolution: `name` in `fromDirectory`'s node_modules, then in each enclosing node_modules. */
function resolvePackageDirectory(name: string, fromDirectory: string): string | undefined {
  const parts = fromDirectory.split('/');
  const candidates = [join(fromDirectory, 'node_modules', name)];
  for (let i = parts.length - 1; i >= 0; i--) {
    if (parts[i] === 'node_modules') candidates.push(join(parts.slice(0, i + 1).join('/'), name));
  }
  return candidates.find((candidate) => existsSync(join(candidate, 'package.json')));
}

function tarballIdentity(path: string): { integrity: string; shasum: string } {
  const body = readFileSync(path);
  return {
    integrity: `sha512-${createHash('sha512').update(body).digest('base64')}`,
    shasum: createHash('sha1').update(body).digest('hex'),
  };
}

/** Packs an installed package directory the way `npm pack` lays it out (package/...), without its node_modules. */
function packDirectory(directory: string, out: string): void {
  const partial = `${out}.partial`;
  execFileSync('tar', [
    '-czf',
    partial,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--exclude=./node_modules',
    '--transform',
    's,^\\.,package,',
    '-C',
    directory,
    '.',
  ]);
  renameSync(partial, out);
}

function fileName(name: string, version: string): string {
  return `${name.replace('/', '-').replace(/^@/, '')}-${version}.tgz`;
}

/**
 * The registry content for the package `tarball` (a packed wiremesh) whose dependencies are
 * resolved in `projectRoot`'s node_modules. Dependency tarballs are cached in `cacheDirectory`.
 */
export function npmRegistryContent(
  tarball: string,
  manifest: PackageJson,
  projectRoot: string,
  cacheDirectory: string,
): NpmRegistryContent {
  mkdirSync(cacheDirectory, { recursive: true });
  const packages = new Map<string, Map<string, RegistryVersion>>();
  const add = (pkg: PackageJson, tarballPath: string) => {
    const versions = packages.get(pkg.name) ?? new Map<string, RegistryVersion>();
    versions.set(pkg.version, {
      manifest: pkg as unknown as Record<string, unknown>,
      tarballPath,
      ...tarballIdentity(tarballPath),
    });
    packages.set(pkg.name, versions);
  };
  add(manifest, tarball);
  const seen = new Set<string>();
  const visit = (pkg: PackageJson, directory: string) => {
    // npm installs required peers, never optional ones.
    const peers = Object.keys(pkg.peerDependencies ?? {}).filter((name) => !pkg.peerDependenciesMeta?.[name]?.optional);
    const wanted = [...Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }), ...peers];
    for (const name of wanted) {
      const found = resolvePackageDirectory(name, directory);
      // Optional and peer dependencies this platform or project left out are not served.
      if (found === undefined) continue;
      if (seen.has(found)) continue;
      seen.add(found);
      const dependency = readJson(join(found, 'package.json'));
      const out = join(cacheDirectory, fileName(dependency.name, dependency.version));
      if (!existsSync(out)) packDirectory(found, out);
      add(dependency, out);
      visit(dependency, found);
    }
  };
  visit(manifest, projectRoot);
  return { packages };
}

/** The packument of `name` (the full document npm reads), tarball URLs under `baseUrl`. */
export function packument(
  content: NpmRegistryContent,
  name: string,
  baseUrl: string,
): Record<string, unknown> | undefined {
  const versions = content.packages.get(name);
  if (versions === undefined) return undefined;
  const entries = [...versions.entries()];
  const latest = entries[entries.length - 1]![0];
  return {
    name,
    'dist-tags': { latest },
    versions: Object.fromEntries(
      entries.map(([version, v]) => [
        version,
        {
          ...v.manifest,
          dist: {
            tarball: `${baseUrl}/${name}/-/${fileName(name, version)}`,
            integrity: v.integrity,
            shasum: v.shasum,
          },
        },
      ]),
    ),
  };
}

/** The tarball file for a registry path `/<name>/-/<file>.tgz`, if the registry holds it. */
export function tarballFor(content: NpmRegistryContent, path: string): string | undefined {
  const match = /^\/((?:@[^/]+\/)?[^/@]+)\/-\/([^/]+\.tgz)$/.exec(decodeURIComponent(path));
  if (!match) return undefined;
  const versions = content.packages.get(match[1]!);
  for (const [version, v] of versions ?? []) if (fileName(match[1]!, version) === match[2]) return v.tarballPath;
  return undefined;
}
