/**
 * Loading and validating a mesh spec: YAML or JSON checked against the JSON Schema (ajv), then the
 * rules a schema cannot say. Every problem is reported, each with the JSON path of the field, as a
 * ConfigError (the agent configuration's error type). Schema problems come alone: the semantic
 * checks run only on a document of the right shape.
 *
 * Semantic rules: site names are unique (and do not collide with the ids `${site}-${n}` of a
 * multi-gateway site); CIDRs parse, have no host bits set and never overlap another site's; the
 * first CIDR holds the site's gateway addresses; hub-and-spoke names at least one hub, each an
 * existing, non-external site, not behind NAT, listed once; full-mesh has no hubs and at most one
 * site behind NAT (two NATed sites would have to peer directly); external sites, and only they,
 * carry a publicKey; a NATed site has no endpoint, every other site has one unless its provider is
 * `local` (the local target assigns it); endpoint ports are 1 to 65535; only one hub, and only a
 * hub, is `fullTunnel`; presharedKeys name two different existing sites that share a tunnel, once.
 */
import { HOST_PORT_MESSAGE } from '../common/hostport';
import { parseAddress, parsePrefix, formatPrefix, type IpPrefix } from '../common/ip';
import { WIREGUARD_KEY_MESSAGE } from '../common/keys';
import { compileSchema } from '../common/schema-compiler';
import { ConfigError, parseDocument, portProblem, schemaProblems, type ConfigProblem } from '../common/validation';
import { prefixBounds } from './aggregate';
import { SITE_NAME_MESSAGE, meshSpecSchema } from './spec-schema';
import type { MeshSpec } from './spec';

const validateSchema = compileSchema(meshSpecSchema);

const WHAT = 'mesh spec';

/**
 * The tunnel address of gateway `index` of a site: host `index + 1` of the site's first CIDR (the
 * network address and, for IPv4, the broadcast address are skipped when the prefix has at least four
 * addresses), as a /32 or /128; undefined when the prefix has no such host.
 */
export function gatewayAddress(prefix: IpPrefix, index: number): string | undefined {
  if (prefix.family === 4) {
    const a = prefix.address;
    const start = ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
    const size = 2 ** (32 - prefix.bits);
    const roomy = size >= 4;
    const host = start + index + (roomy ? 1 : 0);
    if (host > start + size - (roomy ? 2 : 1)) return undefined;
    return `${host >>> 24}.${(host >>> 16) & 255}.${(host >>> 8) & 255}.${host & 255}/32`;
  }
  const [start, end] = prefixBounds(prefix);
  const roomy = end - start >= 4n;
  const host = start + BigInt(index) + (roomy ? 1n : 0n);
  if (host > end - 1n) return undefined;
  const address = new Uint8Array(16);
  let word = host;
  for (let i = 15; i >= 0; i--) {
    address[i] = Number(word & 255n);
    word >>= 8n;
  }
  return formatPrefix({ family: 6, address, bits: 128 });
}

/** The spec's patterns explained in words. */
function patternMessage(path: string): string | undefined {
  if (path.endsWith('.name')) return SITE_NAME_MESSAGE;
  if (path.endsWith('.publicKey')) return WIREGUARD_KEY_MESSAGE;
  if (path.endsWith('.endpoint')) return HOST_PORT_MESSAGE;
  return undefined;
}

interface Cidr {
  site: number;
  index: number;
  text: string;
  start: bigint;
  end: bigint;
}

/** Reports each CIDR that lies inside (or equals) a CIDR of another site, naming that one. */
function overlapProblems(spec: MeshSpec, cidrs: Cidr[], problems: ConfigProblem[]): void {
  // Prefixes either nest or are disjoint: sorted by start (longest first), the prefixes still open
  // form a chain of containers, and any overlap is with one of them.
  cidrs.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end > b.end ? -1 : a.end < b.end ? 1 : 0));
  const open: Cidr[] = [];
  for (const cidr of cidrs) {
    while (open.length > 0 && open[open.length - 1]!.end <= cidr.start) open.pop();
    for (let k = open.length - 1; k >= 0; k--) {
      const container = open[k]!;
      if (container.site === cidr.site) continue;
      problems.push({
        path: `$.sites[${cidr.site}].cidrs[${cidr.index}]`,
        message: `overlaps $.sites[${container.site}].cidrs[${container.index}] (${container.text} of site "${spec.sites[container.site]!.name}"); sites' CIDRs must be disjoint`,
      });
      break;
    }
    open.push(cidr);
  }
}

function semanticProblems(spec: MeshSpec, parsed: IpPrefix[][]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string): void => void problems.push({ path, message });
  const { sites, topology } = spec;

  // Names: the first site of a name is the one hubs and presharedKeys refer to.
  const byName = new Map<string, number>();
  sites.forEach((site, i) => {
    const first = byName.get(site.name);
    if (first !== undefined) add(`$.sites[${i}].name`, `duplicates $.sites[${first}].name`);
    else byName.set(site.name, i);
  });
  sites.forEach((site, i) => {
    const gateways = site.gateways ?? 1;
    if (gateways < 2 || site.provider === 'external') return;
    for (let g = 1; g <= gateways; g++) {
      const clash = byName.get(`${site.name}-${g}`);
      if (clash !== undefined)
        add(
          `$.sites[${clash}].name`,
          `is also the id of gateway ${g} of $.sites[${i}] ("${site.name}" has ${gateways} gateways)`,
        );
    }
  });

  // Topology.
  const hubs = new Set<number>();
  const hubList = (topology as { hubs?: string[] }).hubs;
  if (topology.type === 'hub-and-spoke') {
    if (hubList === undefined || hubList.length === 0)
      add('$.topology.hubs', 'hub-and-spoke needs at least one hub (a site name)');
    const seen = new Map<string, number>();
    (hubList ?? []).forEach((hub, k) => {
      const path = `$.topology.hubs[${k}]`;
      const i = byName.get(hub);
      if (seen.has(hub)) add(path, `duplicates $.topology.hubs[${seen.get(hub)}]`);
      else if (i === undefined) add(path, `no site is named "${hub}"`);
      else if (sites[i]!.provider === 'external')
        add(path, `"${hub}" is an external site; a hub must be a wiremesh gateway (aws, gcp or local)`);
      else hubs.add(i);
      if (!seen.has(hub)) seen.set(hub, k);
    });
  } else if (hubList !== undefined) {
    add('$.topology.hubs', 'is only for hub-and-spoke');
  }

  // Sites.
  const cidrs: Cidr[] = [];
  let fullTunnelAt: number | undefined;
  let firstNat: number | undefined;
  sites.forEach((site, i) => {
    const base = `$.sites[${i}]`;
    const external = site.provider === 'external';
    if (external && site.publicKey === undefined)
      add(`${base}.publicKey`, 'is required for an external site (it runs plain WireGuard with its own key)');
    if (!external && site.publicKey !== undefined)
      add(`${base}.publicKey`, `is only for external sites; wiremesh generates the keys of ${site.provider} sites`);

    if (site.behindNat) {
      if (hubs.has(i)) add(`${base}.behindNat`, 'a hub cannot be behind NAT: every spoke must be able to reach it');
      if (site.endpoint !== undefined)
        add(`${base}.endpoint`, 'must be absent for a site behind NAT (nothing can reach it from outside)');
      if (topology.type === 'full-mesh') {
        if (firstNat === undefined) firstNat = i;
        else {
          add(
            `${base}.behindNat`,
            `is behind NAT like $.sites[${firstNat}] ("${sites[firstNat]!.name}"): full-mesh makes them peer directly and neither can reach the other; give one an endpoint, or use hub-and-spoke`,
          );
        }
      }
    } else if (site.endpoint === undefined && site.provider !== 'local') {
      add(
        `${base}.endpoint`,
        'is required for a site not behind NAT (host:port where its peers reach it); or set "behindNat": true',
      );
    }
    portProblem(site.endpoint, `${base}.endpoint`, problems);

    if (site.fullTunnel) {
      if (!hubs.has(i))
        add(`${base}.fullTunnel`, 'only a hub can be a full-tunnel egress (a site listed in $.topology.hubs)');
      else if (fullTunnelAt !== undefined)
        add(
          `${base}.fullTunnel`,
          `$.sites[${fullTunnelAt}] is already the full-tunnel hub; spokes send 0.0.0.0/0 to one peer only`,
        );
      else fullTunnelAt = i;
    }

    const prefixes: IpPrefix[] = [];
    parsed.push(prefixes);
    site.cidrs.forEach((text, j) => {
      const path = `${base}.cidrs[${j}]`;
      let prefix: IpPrefix;
      try {
        prefix = parsePrefix(text);
        prefixes.push(prefix);
      } catch (error) {
        add(path, (error as Error).message);
        return;
      }
      const written = parseAddress(text.trim().split('/')[0]!);
      if (written.some((byte, b) => byte !== prefix.address[b])) {
        add(path, `has host bits set: the network is ${formatPrefix(prefix)}`);
        return;
      }
      const [start, end] = prefixBounds(prefix);
      cidrs.push({
        site: i,
        index: j,
        text: formatPrefix(prefix),
        start: prefix.family === 4 ? start : start + (1n << 32n),
        end: prefix.family === 4 ? end : end + (1n << 32n),
      });
      const gateways = site.gateways ?? 1;
      if (j === 0 && !external && gatewayAddress(prefix, gateways - 1) === undefined) {
        add(
          `${base}.gateways`,
          `${gateways} gateways do not fit in ${base}.cidrs[0] (${formatPrefix(prefix)}), which holds their tunnel addresses`,
        );
      }
    });
  });
  overlapProblems(spec, cidrs, problems);

  // Preshared keys.
  const pairs = new Map<string, number>();
  (spec.presharedKeys ?? []).forEach((entry, k) => {
    const base = `$.presharedKeys[${k}].sites`;
    const known = entry.sites.map((name, x) => {
      const i = byName.get(name);
      if (i === undefined) add(`${base}[${x}]`, `no site is named "${name}"`);
      return i;
    });
    const [a, b] = known;
    if (a === undefined || b === undefined) return;
    if (a === b) {
      add(`${base}[1]`, 'names the same site twice; a preshared key is for a pair of sites');
      return;
    }
    const key = a < b ? `${a},${b}` : `${b},${a}`;
    const first = pairs.get(key);
    if (first !== undefined) add(base, `duplicates $.presharedKeys[${first}].sites`);
    else pairs.set(key, k);
    if (topology.type === 'hub-and-spoke' && !hubs.has(a) && !hubs.has(b)) {
      add(base, `"${sites[a]!.name}" and "${sites[b]!.name}" are both spokes, which have no tunnel between them`);
    }
  });
  return problems;
}

/**
 * validateMeshSpec, also returning each site's CIDRs parsed (in spec order), so the planner does
 * not parse them again.
 */
export function checkMeshSpec(document: unknown): { spec: MeshSpec; prefixes: IpPrefix[][] } {
  if (!validateSchema(document))
    throw new ConfigError(schemaProblems(validateSchema.errors, document, { pattern: patternMessage }), WHAT);
  const spec = document as unknown as MeshSpec;
  const prefixes: IpPrefix[][] = [];
  const problems = semanticProblems(spec, prefixes);
  if (problems.length > 0) throw new ConfigError(problems, WHAT);
  return { spec, prefixes };
}

/** Validates a parsed document; returns the typed spec or throws ConfigError listing every problem. */
export function validateMeshSpec(document: unknown): MeshSpec {
  return checkMeshSpec(document).spec;
}

/** Parses YAML (a superset of JSON) and validates it. */
export function parseMeshSpec(text: string): MeshSpec {
  return validateMeshSpec(parseDocument(text, WHAT, 'an object with name, topology and sites'));
}
