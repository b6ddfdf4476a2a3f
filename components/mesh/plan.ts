/**
 * The deployment plan of a WireGuardMesh, computed before anything is registered (pure: no
 * resources, no Outputs): the spec checks WireGuardMesh adds, the placement checks (exactly the
 * sites of each provider), per site what is deployed (kind, gateway ids, component name, routes)
 * and where its WireGuard port accepts packets from, and the preshared-key pairs. Every refusal is a
 * ComponentArgumentError (or the spec's ConfigError) naming the argument path.
 */
import { ConfigError, type ConfigProblem } from '../../common/validation';
import { HEALTH_PORT, WIREGUARD_PORT } from '../../common/defaults';
import { planMesh, type GatewayPlan, type MeshPlan } from '../../mesh/planner';
import type { MeshSpec, SiteSpec } from '../../mesh/spec';
import { GATEWAY_INTERFACE } from '../agent-config';
import { checkAgentPackage } from '../bootstrap';
import { ComponentArgumentError, componentLabel } from '../errors';
import { MAX_GATEWAY_NAME_LENGTH } from '../gcp/gateway-args';
import { checkComponentName } from '../gcp/validation';
import { publicKeyFromPrivateKey } from '../key';
import type { MeshSiteSummary, WireGuardMeshArgs } from './args';
import { endpointSourceCidr, planForExternalSites } from './external';
import { CLOUD, loadMeshSpecForDeployment } from './spec';
import { DEFAULT_MAX_KEY_AGE_DAYS, defaultOverlapDays, keyRotationPlan, type KeyRotationPlan } from '../rotation';

/**
 * Whether a site's peers name its next generation as its `publicKey` in this deploy: in phase
 * switch when peers hold one key each (the rotating gateway switches to it then); else they name
 * the current one.
 */
export function peersNameNextKey(plan: Pick<MeshDeploymentPlan, 'rotation' | 'twoKeyPeers'>, site: string): boolean {
  return !plan.twoKeyPeers && plan.rotation[site]?.phase === 'switch';
}

/** The next public key is offered beside the current one (`nextPublicKey`): phase next, and phase switch with two-key peers. */
export function peersOfferNextKey(plan: Pick<MeshDeploymentPlan, 'rotation' | 'twoKeyPeers'>, site: string): boolean {
  const phase = plan.rotation[site]?.phase;
  return phase === 'next' || (phase === 'switch' && plan.twoKeyPeers);
}

/**
 * Site -> the instant its gateway switches to its next key, for the sites whose switch is
 * scheduled: one key per peer entry (docs/key-rotation.md, "The scheduled switch"), from phase
 * next, when the gateway and its peers first hold the next key, through phase switch.
 */
export function scheduledSwitches(plan: Pick<MeshDeploymentPlan, 'rotation' | 'twoKeyPeers'>): Record<string, string> {
  if (plan.twoKeyPeers) return {};
  return Object.fromEntries(
    Object.entries(plan.rotation)
      .filter(([, rotation]) => rotation.next !== null)
      .map(([site, rotation]) => [site, rotation.switchAt]),
  );
}

/** The name of a cloud site's WireGuardKey (and what its epoch offset is derived from). */
export function meshKeyName(mesh: string, site: string): string {
  return `${mesh}-${site}-key`;
}

/**
 * The spec without the revoked sites (`revokedSites`): gone from every peer list, route, hub list
 * and preshared-key pair, so each peer's document drops them on this deploy, and their gateways
 * are not deployed (destroyed). The placements of revoked sites are ignored.
 */
function withoutRevokedSites(
  label: string,
  loaded: { spec: MeshSpec; planning: MeshSpec },
  revoked: string[] | undefined,
): { spec: MeshSpec; planning: MeshSpec } {
  if (revoked === undefined || revoked.length === 0) return loaded;
  if (!Array.isArray(revoked) || revoked.some((site) => typeof site !== 'string')) {
    throw new ComponentArgumentError(`${label}: revokedSites must be an array of site names`);
  }
  revoked.forEach((site, i) => {
    if (!loaded.spec.sites.some((s) => s.name === site))
      throw new ComponentArgumentError(`${label}: revokedSites[${i}] "${site}" is not a site of the spec`);
  });
  const drop = (spec: MeshSpec): MeshSpec => ({
    ...spec,
    sites: spec.sites.filter((s) => !revoked.includes(s.name)),
    topology:
      spec.topology.type === 'hub-and-spoke'
        ? { ...spec.topology, hubs: spec.topology.hubs.filter((h) => !revoked.includes(h)) }
        : spec.topology,
    ...(spec.presharedKeys !== undefined
      ? { presharedKeys: spec.presharedKeys.filter((p) => !p.sites.some((s) => revoked.includes(s))) }
      : {}),
  });
  const remaining = drop(loaded.spec);
  if (remaining.topology.type === 'hub-and-spoke' && remaining.topology.hubs.length === 0) {
    throw new ComponentArgumentError(
      `${label}: revokedSites removes every hub of the hub-and-spoke spec; name another hub first`,
    );
  }
  return { spec: remaining, planning: drop(loaded.planning) };
}

/** The `externalKeys` of the sites still in the mesh (a revoked site's entry stays unused, as its placement does). */
export function liveExternalKeys(args: WireGuardMeshArgs): WireGuardMeshArgs['externalKeys'] {
  if (args.externalKeys === undefined) return undefined;
  return Object.fromEntries(Object.entries(args.externalKeys).filter(([site]) => !args.revokedSites?.includes(site)));
}

/** `externalKeys`: external sites only, an ISO 8601 creation time and a whole maxAgeDays. */
function checkExternalKeys(label: string, spec: MeshSpec, externalKeys: WireGuardMeshArgs['externalKeys']): void {
  for (const [site, key] of Object.entries(externalKeys ?? {})) {
    const path = `externalKeys["${site}"]`;
    if (spec.sites.find((s) => s.name === site)?.provider !== 'external')
      throw new ComponentArgumentError(`${label}: ${path}: the spec has no external site "${site}"`);
    if (typeof key?.createdAt !== 'string' || !Number.isFinite(Date.parse(key.createdAt)))
      throw new ComponentArgumentError(`${label}: ${path}.createdAt must be an ISO 8601 date`);
    if (key.maxAgeDays !== undefined && (!Number.isInteger(key.maxAgeDays) || key.maxAgeDays < 1))
      throw new ComponentArgumentError(`${label}: ${path}.maxAgeDays must be a whole number of days of at least 1`);
  }
}

/** A site the spec lists with a revoked public key (`revokedKeys`) is refused. */
function checkRevokedKeys(label: string, spec: MeshSpec, revokedKeys: string[] | undefined): void {
  if (revokedKeys === undefined) return;
  if (!Array.isArray(revokedKeys) || revokedKeys.some((k) => typeof k !== 'string')) {
    throw new ComponentArgumentError(`${label}: revokedKeys must be an array of public keys`);
  }
  spec.sites.forEach((site, i) => {
    if (site.publicKey !== undefined && revokedKeys.includes(site.publicKey)) {
      throw new ComponentArgumentError(
        `${label}: spec sites[${i}] ("${site.name}") has a revoked public key (revokedKeys): give it a new key, or revoke the site (revokedSites)`,
      );
    }
  });
}

/** One source range of a peer: known now, or address `slot` of a gcp site (allocated by the deployment). */
export type SourceRef = { cidr: string } | { site: string; slot: number };

/** What is deployed at one site. */
export interface SitePlan {
  site: SiteSpec;
  kind: MeshSiteSummary['kind'];
  /** The planner's gateway ids (`site`, or `site-1`...`site-n`); empty for plain external sites. */
  gatewayIds: string[];
  /** The gateway component's name (cloud sites) or the RemoteHostAgent's (on-prem). */
  componentName: string;
  /** The VPC routes of a cloud site: the planner's routes of its gateways. */
  remoteCidrs: string[];
  /** Where a cloud gateway accepts WireGuard from; undefined: the placement's peerCidrs / allowFromAnywhere as given. */
  peerSources?: SourceRef[];
}

export interface MeshDeploymentPlan {
  /** The spec as written (validated) and the spec the planner is given (placeholder endpoints). */
  spec: MeshSpec;
  planning: MeshSpec;
  interfaceName: string;
  healthPort: number;
  listenPort: number;
  sites: SitePlan[];
  /** The spec's presharedKeys pairs, each sorted. */
  presharedKeyPairs: Array<[string, string]>;
  /** The rotation plan of each cloud site's key (computed from the mesh's clock, the same as its WireGuardKey's). */
  rotation: Record<string, KeyRotationPlan>;
  /** The clock instant every key of this deploy is planned at. */
  now: Date;
  /**
   * The agents hold two keys per peer (`dataPlane: userspace`): a rotating site's next key is
   * offered as `nextPublicKey` through phase switch, and its old key stays valid until retirement.
   * Otherwise (kernel, wireguard-go, auto) a peer entry holds one key: phase switch names the next
   * key as the rotating site's `publicKey` (docs/key-rotation.md, "Through deploys").
   */
  twoKeyPeers: boolean;
  /**
   * Sites without sourceCidrs whose source addresses the deployment allocates -> how many: a gcp
   * site's (instances, then the LB's), an aws group's (its NLB's Elastic IPs, one per NLB subnet).
   */
  addressSlots: Record<string, number>;
}

const GROUP_ONLY_AWS = [
  'loadBalancerSubnetIds',
  'crossZoneLoadBalancing',
  'healthCheckProtocol',
  'healthCheckIntervalSeconds',
  'deregistrationDelaySeconds',
  'deletionProtection',
] as const;

/** Everything WireGuardMesh decides before registering; throws naming the argument. */
export function planMeshDeployment(name: string, args: WireGuardMeshArgs): MeshDeploymentPlan {
  const label = componentLabel('WireGuardMesh', name);
  const fail = (message: string): never => {
    throw new ComponentArgumentError(`${label}: ${message}`);
  };
  checkMeshArgs(label, args);
  const loaded = loadMeshSpecForDeployment(args.spec);
  const { spec, planning } = withoutRevokedSites(label, loaded, args.revokedSites);
  checkRevokedKeys(label, spec, args.revokedKeys);
  checkExternalKeys(label, spec, liveExternalKeys(args));
  const interfaceName = args.interfaceName ?? GATEWAY_INTERFACE;
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(interfaceName))
    fail('interfaceName must be 1 to 15 of letters, digits, "_=+.-"');

  // Peers and routes need no keys or endpoints: plan with placeholder keys.
  const shapeKeys = Object.fromEntries(
    spec.sites.filter((s) => s.provider !== 'external').map((s) => [s.name, `placeholder-key-of-${s.name}`]),
  );
  const shape = planMesh(planning, { publicKeys: shapeKeys });
  const externalShape = planForExternalSites(planning, shapeKeys, {});
  checkFullTunnel(spec, shape);
  checkPlacement(label, spec, args);

  const addressSlots: Record<string, number> = {};
  for (const site of spec.sites) {
    if (site.provider === 'gcp' && args.sourceCidrs?.[site.name] === undefined)
      addressSlots[site.name] = (site.gateways ?? 1) + ((site.gateways ?? 1) > 1 ? 1 : 0);
    // An AWS group's peers see it at its NLB's Elastic IPs, which depend on nothing (no cycle); a single AWS gateway's EIP sits on its ENI, behind its security group.
    if (site.provider === 'aws' && (site.gateways ?? 1) > 1 && args.sourceCidrs?.[site.name] === undefined) {
      addressSlots[site.name] = args.aws?.sites[site.name]?.loadBalancerSubnetIds?.length ?? site.gateways!;
    }
  }
  const presharedKeyPairs = (spec.presharedKeys ?? []).map((entry) => [...entry.sites].sort() as [string, string]);
  for (const site of presharedKeyPairs.flat()) {
    if (has(args.onPrem, site)) {
      fail(
        `presharedKeys: site "${site}" is an on-prem host (onPrem["${site}"]); WireGuardMesh stores preshared keys only for aws, gcp and plain external sites (remove the pair, or configure that host's tunnel outside the mesh)`,
      );
    }
  }
  const peersOf = (site: string): string[] =>
    (shape.gateways.find((g) => g.site === site) ?? externalShape.gateways.find((g) => g.site === site))!.peers.map(
      (p) => p.site,
    );
  const sources = (peer: SiteSpec, plainOnly: boolean): SourceRef[] | undefined => {
    const explicit = args.sourceCidrs?.[peer.name];
    if (explicit !== undefined) return explicit.map((cidr) => ({ cidr }));
    if (addressSlots[peer.name] !== undefined)
      return plainOnly
        ? undefined
        : Array.from({ length: addressSlots[peer.name]! }, (_, slot) => ({ site: peer.name, slot }));
    const cidr = peer.provider === 'external' ? endpointSourceCidr(peer.endpoint) : undefined;
    return cidr === undefined ? undefined : [{ cidr }];
  };
  const context: SiteContext = {
    label,
    spec,
    args,
    firstPlan: (site) => shape.gateways.find((g) => g.site === site)!,
    peersOf,
    sources,
    name,
  };
  const sites = spec.sites.map((site) => planSite(context, site));
  const now = (args.now ?? (() => new Date()))();
  if (!(now instanceof Date) || !Number.isFinite(now.getTime())) fail('now() must return a valid Date');
  const rotation: Record<string, KeyRotationPlan> = {};
  for (const site of spec.sites.filter((s) => CLOUD.has(s.provider))) {
    try {
      rotation[site.name] = keyRotationPlan(
        meshKeyName(name, site.name),
        now,
        args.maxKeyAgeDays ?? DEFAULT_MAX_KEY_AGE_DAYS,
        args.overlapDays ?? defaultOverlapDays(args.maxKeyAgeDays ?? DEFAULT_MAX_KEY_AGE_DAYS),
        args.rotationComplete?.includes(site.name) ?? false,
      );
    } catch (error) {
      fail((error as Error).message);
    }
  }
  return {
    rotation,
    now,
    twoKeyPeers: args.dataPlane === 'userspace',
    spec,
    planning,
    interfaceName,
    healthPort: args.healthPort ?? HEALTH_PORT,
    listenPort: spec.defaults?.listenPort ?? WIREGUARD_PORT,
    sites,
    presharedKeyPairs,
    addressSlots,
  };
}

interface SiteContext {
  label: string;
  name: string;
  spec: MeshSpec;
  args: WireGuardMeshArgs;
  firstPlan(site: string): GatewayPlan;
  peersOf(site: string): string[];
  sources(peer: SiteSpec, plainOnly: boolean): SourceRef[] | undefined;
}

function planSite(c: SiteContext, site: SiteSpec): SitePlan {
  const gateways = site.gateways ?? 1;
  const gatewayIds = gateways > 1 ? Array.from({ length: gateways }, (_, i) => `${site.name}-${i + 1}`) : [site.name];
  const group = gateways > 1;
  const fail = (message: string): never => {
    throw new ComponentArgumentError(`${c.label}: ${message}`);
  };
  if (site.provider === 'aws') {
    const placement = c.args.aws!.sites[site.name]!;
    const path = `aws.sites["${site.name}"]`;
    if (!Array.isArray(placement.subnets) || placement.subnets.length !== gateways) {
      fail(
        `${path}.subnets must list ${gateways} subnet${gateways > 1 ? 's' : ''}, one per gateway of site "${site.name}" (the spec's gateways: ${gateways})`,
      );
    }
    const peerSources = peerSourcesOf(
      c,
      site,
      path,
      placement.peerCidrs !== undefined || placement.allowFromAnywhere === true,
      false,
    );
    if (!group)
      for (const k of GROUP_ONLY_AWS)
        if (placement[k] !== undefined)
          fail(`${path}.${k} is for load-balanced sites (gateways > 1); site "${site.name}" has one gateway`);
    const kind = group ? 'aws-gateway-group' : 'aws-gateway';
    return {
      site,
      kind,
      gatewayIds,
      componentName: `${c.name}-${site.name}`,
      remoteCidrs: [...c.firstPlan(site.name).routes],
      ...(peerSources ? { peerSources } : {}),
    };
  }
  if (site.provider === 'gcp') {
    const placement = c.args.gcp!.sites[site.name]!;
    const path = `gcp.sites["${site.name}"]`;
    const componentName = placement.resourceName ?? `${c.name}-${site.name}`.toLowerCase();
    try {
      checkComponentName(group ? 'GcpGatewayGroup' : 'GcpGateway', componentName, MAX_GATEWAY_NAME_LENGTH);
    } catch {
      fail(
        `the GCP resources of site "${site.name}" would be named "${componentName}", which is not 1 to 30 lowercase letters, digits and hyphens starting with a letter; set ${path}.resourceName`,
      );
    }
    const peerSources = peerSourcesOf(
      c,
      site,
      path,
      placement.peerCidrs !== undefined || placement.allowFromAnywhere === true,
      true,
    );
    if (!group && placement.sessionAffinity !== undefined)
      fail(`${path}.sessionAffinity is for load-balanced sites (gateways > 1); site "${site.name}" has one gateway`);
    const kind = group ? 'gcp-gateway-group' : 'gcp-gateway';
    return {
      site,
      kind,
      gatewayIds,
      componentName,
      remoteCidrs: [...c.firstPlan(site.name).routes],
      ...(peerSources ? { peerSources } : {}),
    };
  }
  if (site.provider === 'external' && has(c.args.onPrem, site.name)) {
    checkOnPremHost(c.label, site, c.args);
    return { site, kind: 'on-prem', gatewayIds: [site.name], componentName: `${c.name}-${site.name}`, remoteCidrs: [] };
  }
  return { site, kind: 'external', gatewayIds: [], componentName: `${c.name}-${site.name}`, remoteCidrs: [] };
}

/** The WireGuard source ranges of a cloud site's gateway (its peers' sources), or a thrown explanation. */
function peerSourcesOf(
  c: SiteContext,
  site: SiteSpec,
  placementPath: string,
  given: boolean,
  plainOnly: boolean,
): SourceRef[] | undefined {
  if (given) return undefined;
  const refs: SourceRef[] = [];
  const missing: string[] = [];
  for (const peer of c.peersOf(site.name)) {
    const peerSite = c.spec.sites.find((s) => s.name === peer)!;
    const known = c.sources(peerSite, plainOnly);
    if (known === undefined) {
      const why =
        peerSite.provider === 'aws'
          ? (peerSite.gateways ?? 1) > 1
            ? "its NLB's Elastic IPs are allocated by this deployment and GcpGateway takes plain peerCidrs"
            : 'its Elastic IPs are allocated inside AwsGateway'
          : peerSite.provider === 'gcp'
            ? 'its addresses are allocated by this deployment and GcpGateway takes plain peerCidrs'
            : peerSite.behindNat
              ? 'it is behind NAT'
              : `its endpoint ${peerSite.endpoint} is not an IP address`;
      missing.push(`"${peer}" (${why})`);
      continue;
    }
    for (const ref of known) if (!refs.some((r) => JSON.stringify(r) === JSON.stringify(ref))) refs.push(ref);
  }
  if (missing.length > 0) {
    throw new ComponentArgumentError(
      `${c.label}: the gateway of site "${site.name}" accepts WireGuard from its peers only, but the source addresses of ${missing.join(', ')} are not known before deployment; ` +
        `declare them in sourceCidrs, list the ranges in ${placementPath}.peerCidrs, or set ${placementPath}.allowFromAnywhere: true`,
    );
  }
  return refs;
}

/** The arguments that do not depend on the spec. */
function checkMeshArgs(label: string, args: WireGuardMeshArgs): void {
  if (typeof args !== 'object' || args === null) throw new ComponentArgumentError(`${label}: args are required`);
  const hasPackage = args.agentPackage !== undefined && args.agentPackage !== null && args.agentPackage !== '';
  if (hasPackage === (args.agentArtifact !== undefined)) {
    throw new ComponentArgumentError(
      hasPackage
        ? `${label}: agentArtifact and agentPackage are exclusive: give one`
        : `${label}: agentArtifact is required (the path of the agent tarball every gateway installs, made with \`npm pack\`), or agentPackage (a pinned package you publish)`,
    );
  }
  for (const [what, value] of [
    ['agentPackage', args.agentPackage],
    ['aws.agentPackage', args.aws?.agentPackage],
    ['gcp.agentPackage', args.gcp?.agentPackage],
  ] as const) {
    if (typeof value !== 'string') continue;
    try {
      checkAgentPackage(value);
    } catch (error) {
      throw new ComponentArgumentError(`${label}: ${what}: ${(error as Error).message}`);
    }
  }
}

/** A cloud spoke of a fullTunnel hub would route 0.0.0.0/0 through its gateway, which the components refuse. */
function checkFullTunnel(spec: MeshSpec, shape: MeshPlan): void {
  const problems: ConfigProblem[] = [];
  spec.sites.forEach((site, i) => {
    if (
      CLOUD.has(site.provider) &&
      shape.gateways.find((g) => g.site === site.name)!.routes.some((r) => r === '0.0.0.0/0' || r === '::/0')
    ) {
      problems.push({
        path: `$.sites[${i}]`,
        message: `an ${site.provider} spoke of a fullTunnel hub would route 0.0.0.0/0 through its gateway, which the ${site.provider} gateway components refuse; WireGuardMesh supports fullTunnel hubs only with external spokes`,
      });
    }
  });
  if (problems.length > 0) throw new ConfigError(problems, 'mesh spec for WireGuardMesh');
}

/** Placement: exactly the sites of each provider; sourceCidrs of known sites. */
function checkPlacement(label: string, spec: MeshSpec, args: WireGuardMeshArgs): void {
  const bySite = new Map(spec.sites.map((s) => [s.name, s]));
  const checkKeys = (
    what: string,
    record: Record<string, unknown> | undefined,
    ok: (site: SiteSpec) => boolean,
    expected: string,
  ): void => {
    for (const key of Object.keys(record ?? {})) {
      const site = bySite.get(key);
      if (site === undefined && args.revokedSites?.includes(key)) continue; // Revoked: its placement stays unused.
      if (site === undefined)
        throw new ComponentArgumentError(`${label}: ${what}["${key}"]: the spec has no site "${key}"`);
      if (!ok(site))
        throw new ComponentArgumentError(
          `${label}: ${what}["${key}"]: site "${key}" is ${site.provider}; ${what} is for ${expected} sites`,
        );
    }
  };
  checkKeys('aws.sites', args.aws?.sites, (s) => s.provider === 'aws', 'aws');
  checkKeys('gcp.sites', args.gcp?.sites, (s) => s.provider === 'gcp', 'gcp');
  checkKeys('onPrem', args.onPrem, (s) => s.provider === 'external', 'external');
  checkKeys('sourceCidrs', args.sourceCidrs, () => true, 'any');
  for (const site of spec.sites) {
    if (site.provider === 'aws' && !has(args.aws?.sites, site.name)) {
      throw new ComponentArgumentError(
        `${label}: aws.sites["${site.name}"] is required: the spec's aws site "${site.name}" needs a VPC and subnets`,
      );
    }
    if (site.provider === 'gcp' && !has(args.gcp?.sites, site.name)) {
      throw new ComponentArgumentError(
        `${label}: gcp.sites["${site.name}"] is required: the spec's gcp site "${site.name}" needs a network, subnetwork and zones`,
      );
    }
  }
  for (const [site, cidrs] of Object.entries(args.sourceCidrs ?? {})) {
    if (!Array.isArray(cidrs) || cidrs.length === 0 || cidrs.some((c) => typeof c !== 'string')) {
      throw new ComponentArgumentError(`${label}: sourceCidrs["${site}"] must be a non-empty list of CIDR blocks`);
    }
  }
}

/** An on-prem host: connection, a private key matching the spec's public key, a pinned package. */
function checkOnPremHost(label: string, site: SiteSpec, args: WireGuardMeshArgs): void {
  const host = args.onPrem![site.name]!;
  const path = `onPrem["${site.name}"]`;
  if (typeof host !== 'object' || host === null || host.connection === undefined || host.connection === null) {
    throw new ComponentArgumentError(`${label}: ${path}.connection is required (how to reach the host over SSH)`);
  }
  if (host.privateKey === undefined || host.privateKey === null || host.privateKey === '') {
    throw new ComponentArgumentError(
      `${label}: ${path}.privateKey is required (the host's WireGuard private key, whose public key is the spec's publicKey)`,
    );
  }
  if (typeof host.privateKey === 'string') onPremKeyMatchesSpec(label, site, host.privateKey);
  if (typeof host.agentPackage === 'string') {
    try {
      checkAgentPackage(host.agentPackage);
    } catch (error) {
      throw new ComponentArgumentError(`${label}: ${path}.agentPackage: ${(error as Error).message}`);
    }
  }
}

/** Returns `key` when its public key is the spec's `publicKey` of the site; throws otherwise (never echoing the key). */
export function onPremKeyMatchesSpec(label: string, site: SiteSpec, key: string): string {
  const path = `onPrem["${site.name}"]`;
  let derived: string;
  try {
    derived = publicKeyFromPrivateKey(key);
  } catch (error) {
    throw new ComponentArgumentError(`${label}: ${path}.privateKey: ${(error as Error).message}`);
  }
  if (derived !== site.publicKey) {
    throw new ComponentArgumentError(
      `${label}: ${path}.privateKey belongs to public key ${derived}, but the spec gives site "${site.name}" the public key ${site.publicKey}`,
    );
  }
  return key;
}

export function has(record: Record<string, unknown> | undefined, key: string): boolean {
  return record !== undefined && Object.prototype.hasOwnProperty.call(record, key);
}
