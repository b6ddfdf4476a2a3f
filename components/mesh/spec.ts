/** The mesh spec as WireGuardMesh takes it: read, validated, and what WireGuardMesh refuses (pure). */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type ConfigProblem } from '../../common/validation';
import { WIREGUARD_PORT } from '../../common/defaults';
import type { MeshSpec } from '../../mesh/spec';
import { parseMeshSpec, validateMeshSpec } from '../../mesh/validate';

/** The providers WireGuardMesh deploys gateways on. */
export const CLOUD = new Set(['aws', 'gcp']);
const placeholderEndpoint = (site: string, port: number): string =>
  `${site.toLowerCase()}.endpoint.wiremesh.invalid:${port}`;

/** Reads a spec file (YAML or JSON text); `path` is relative to `cwd`. */
export function readMeshSpecFile(path: string, cwd = process.cwd()): string {
  const file = resolvePath(cwd, path);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      [
        {
          path: '$',
          message: `cannot read the mesh spec file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        },
      ],
      'mesh spec',
    );
  }
}

/** The spec with placeholder endpoints on the cloud sites that have none (the deployment assigns them). */
function withPlaceholderEndpoints(document: unknown): unknown {
  if (typeof document !== 'object' || document === null) return document;
  const doc = document as { sites?: unknown; defaults?: { listenPort?: unknown } };
  if (!Array.isArray(doc.sites)) return document;
  const port = typeof doc.defaults?.listenPort === 'number' ? doc.defaults.listenPort : WIREGUARD_PORT;
  return {
    ...doc,
    sites: doc.sites.map((site: unknown) => {
      if (typeof site !== 'object' || site === null) return site;
      const s = site as Record<string, unknown>;
      if (
        CLOUD.has(s.provider as string) &&
        s.endpoint === undefined &&
        s.behindNat !== true &&
        typeof s.name === 'string'
      ) {
        return { ...s, endpoint: placeholderEndpoint(s.name, port) };
      }
      return s;
    }),
  };
}

/**
 * Loads and validates a spec for WireGuardMesh. Returns the spec as written (`spec`) and the spec
 * the planner is given (`planning`: placeholder endpoints on cloud sites, overridden by the
 * deployed ones). Throws the validator's ConfigError, then one for what WireGuardMesh refuses.
 */
export function loadMeshSpecForDeployment(
  spec: MeshSpec | string,
  cwd = process.cwd(),
): { spec: MeshSpec; planning: MeshSpec } {
  let document: unknown;
  if (typeof spec === 'string') {
    const text = readMeshSpecFile(spec, cwd);
    try {
      document = parseYaml(text);
    } catch {
      document = undefined;
    }
    // Unreadable or empty text: the validator's own message.
    if (document === undefined || document === null) parseMeshSpec(text);
  } else if (typeof spec === 'object' && spec !== null) {
    document = JSON.parse(JSON.stringify(spec)) as unknown;
  } else {
    throw new ConfigError(
      [{ path: '$', message: 'must be a mesh spec object or the path of a YAML/JSON file' }],
      'mesh spec',
    );
  }
  // The validator's checks, with the endpoints the deployment assigns standing in for the missing ones.
  const planning = validateMeshSpec(withPlaceholderEndpoints(document));
  const written = document as MeshSpec;

  const problems: ConfigProblem[] = [];
  written.sites.forEach((site, i) => {
    const base = `$.sites[${i}]`;
    if (site.provider === 'local') {
      problems.push({
        path: `${base}.provider`,
        message:
          '"local" sites run on the local target (`wiremesh up`); WireGuardMesh deploys aws, gcp and external sites',
      });
    }
    if (CLOUD.has(site.provider)) {
      if (site.endpoint !== undefined) {
        problems.push({
          path: `${base}.endpoint`,
          message: `is assigned by WireGuardMesh (the ${site.provider} gateway's address or load balancer); leave it out`,
        });
      }
      if (!/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/.test(site.name)) {
        problems.push({
          path: `${base}.name`,
          message: `must be lowercase letters, digits and dashes for an ${site.provider} site (it names cloud resources)`,
        });
      }
    }
  });
  (written.presharedKeys ?? []).forEach((entry, k) => {
    const providers = entry.sites.map((name) => written.sites.find((s) => s.name === name)?.provider);
    if (providers.every((provider) => provider === 'external')) {
      problems.push({
        path: `$.presharedKeys[${k}].sites`,
        message:
          'names two external sites: WireGuardMesh deploys neither end, so it has nowhere to store their preshared key (configure it on both hosts yourself)',
      });
    }
  });
  if (problems.length > 0) throw new ConfigError(problems, 'mesh spec for WireGuardMesh');
  return { spec: written, planning };
}
