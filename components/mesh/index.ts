/**
 * `WireGuardMesh` (`wiremesh:mesh:WireGuardMesh`): a whole site-to-site mesh from one mesh spec.
 * What it deploys, how keys, endpoints and the plan flow, and what it refuses: components/README.md.
 * The constructor only wires: the decisions are in ./plan.ts (pure, before anything registers),
 * the per-kind deployments in ./deploy.ts, the preshared keys in ./preshared-keys.ts.
 */
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig } from '../../agent/gateway/config-types';
import { planMesh, type MeshPlan } from '../../mesh/planner';
import type { MeshSpec } from '../../mesh/spec';
import type { AwsGateway } from '../aws/gateway';
import type { AwsGatewayGroup } from '../aws/gateway-group';
import type { AwsKeySecret } from '../aws/key-secret';
import { componentLabel } from '../errors';
import type { GcpGateway } from '../gcp/gateway';
import type { GcpGatewayGroup } from '../gcp/gateway-group';
import type { GcpKeySecret } from '../gcp/key-secret';
import { WireGuardKey } from '../key';
import type { WireGuardPresharedKey } from '../preshared-key';
import type { RemoteHostAgent } from '../remote-host';
import type { MeshSiteSummary, WireGuardMeshArgs } from './args';
import {
  deferred,
  deployAwsSite,
  deployGcpSite,
  deployOnPremSite,
  meshAgentOptions,
  type Deferred,
  type DeployedSite,
  type MeshWiring,
  type PreparedSite,
} from './deploy';
import {
  externalSiteRotations,
  pairKey,
  planAgentConfig,
  revocationInputs,
  withNextPublicKeys,
  type ExternalSiteRotation,
  planForExternalSites,
  renderExternalSiteConfig,
  type PresharedKeySources,
} from './external';
import {
  liveExternalKeys,
  meshKeyName,
  peersNameNextKey,
  peersOfferNextKey,
  scheduledSwitches,
  planMeshDeployment,
  type SitePlan,
} from './plan';
import type { KeyRotationPlan } from '../rotation';
import { deployPresharedKeys } from './preshared-keys';
import { CLOUD } from './spec';

export * from './args';
export * from './external';
export { planMeshDeployment, type MeshDeploymentPlan, type SitePlan, type SourceRef } from './plan';
export { loadMeshSpecForDeployment, readMeshSpecFile } from './spec';

/**
 * A WireGuard site-to-site mesh on AWS, GCP and existing hosts, from one mesh spec.
 *
 * ```ts
 * const mesh = new WireGuardMesh("corp", {
 *   spec: "mesh.yaml",
 *   agentArtifact: "wiremesh-0.1.0.tgz", // npm pack of the wiremesh package
 *   aws: { sites: { "aws-eu": { vpcId, subnets: [{ subnetId, routeTableIds: [rtb] }] } } },
 *   gcp: { sites: { "gcp-eu": { network, subnetwork, zones: ["europe-west1-b"] } } },
 *   sourceCidrs: { "aws-eu": ["198.51.100.7/32"] },
 * });
 * export const sites = mesh.sites;
 * ```
 */
export class WireGuardMesh extends pulumi.ComponentResource {
  /** The spec as written (validated). */
  public readonly spec: MeshSpec;
  /** The plan of every gateway, from the deployed keys and endpoints. */
  public readonly plan: pulumi.Output<MeshPlan>;
  /** Site name -> what was deployed there. */
  public readonly sites: pulumi.Output<Record<string, MeshSiteSummary>>;
  /** External site name (without an on-prem host) -> its wg-quick configuration. Secret. */
  public readonly externalConfigs: pulumi.Output<Record<string, string>>;
  /** External site name -> when its configuration changes and when its own key expires (plain). */
  public readonly externalSites: pulumi.Output<Record<string, ExternalSiteRotation>>;
  /** Cloud site name -> its key's rotation plan at this deploy's clock: what rotates when (known in a preview). */
  public readonly rotationPlan: Record<string, KeyRotationPlan>;
  /** Site name -> its key (aws and gcp sites). */
  public readonly keys: Record<string, WireGuardKey> = {};
  public readonly awsGateways: Record<string, AwsGateway> = {};
  public readonly awsGatewayGroups: Record<string, AwsGatewayGroup> = {};
  public readonly gcpGateways: Record<string, GcpGateway> = {};
  public readonly gcpGatewayGroups: Record<string, GcpGatewayGroup> = {};
  public readonly remoteHosts: Record<string, RemoteHostAgent> = {};
  /** `a|b` (sorted site names) -> the preshared key of that pair (spec `presharedKeys`). */
  public readonly presharedKeys: Record<string, WireGuardPresharedKey> = {};
  /** `a|b` -> the secrets holding that pair's preshared key, one per cloud of its sites. */
  public readonly presharedKeySecrets: Record<string, { aws?: AwsKeySecret; gcp?: GcpKeySecret }> = {};

  constructor(name: string, args: WireGuardMeshArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Every decision and check first: a refused argument registers nothing.
    const plan = planMeshDeployment(name, args);
    const { spec, planning } = plan;
    const wiring = meshWiring(name, args, plan);
    const prepared: Array<[SitePlan, PreparedSite]> = plan.sites.map((site) => [site, prepareSite(wiring.w, site)]);

    // The spec (without revoked sites) and the revocations are the component's inputs, so policy
    // packs can check them (public keys only).
    super(
      'wiremesh:mesh:WireGuardMesh',
      name,
      { spec, ...revocationInputs(args), ...(args.externalKeys ? { externalKeys: liveExternalKeys(args) } : {}) },
      opts,
    );
    wiring.w.parent = this;
    this.spec = spec;
    this.rotationPlan = plan.rotation;
    for (const site of spec.sites.filter((s) => CLOUD.has(s.provider))) {
      const key = new WireGuardKey(
        meshKeyName(name, site.name),
        {
          ...(args.maxKeyAgeDays !== undefined ? { maxAgeDays: args.maxKeyAgeDays } : {}),
          ...(args.overlapDays !== undefined ? { overlapDays: args.overlapDays } : {}),
          ...(args.rotationComplete?.includes(site.name) ? { rotationComplete: true } : {}),
          now: () => plan.now,
        },
        { parent: this },
      );
      this.keys[site.name] = key;
      wiring.resolveKey(site.name, key);
    }
    const psk = deployPresharedKeys(wiring.w);
    Object.assign(this.presharedKeys, psk.keys);
    Object.assign(this.presharedKeySecrets, psk.secrets);
    wiring.pskSources.resolve(psk.sources);
    const deployed: Record<string, DeployedSite> = {};
    for (const [site, create] of prepared) {
      deployed[site.site.name] = create();
      this.record(site, deployed[site.site.name]!.component);
    }

    const publicKeys = pulumi.all(
      Object.fromEntries(Object.entries(this.keys).map(([site, key]) => [site, key.publicKey])),
    );
    // What every document (and external file) names as each site's key in this deploy.
    const namedKeys = pulumi.all(
      Object.fromEntries(
        Object.entries(this.keys).map(([site, key]) => [
          site,
          peersNameNextKey(plan, site) ? key.next!.publicKey : key.publicKey,
        ]),
      ),
    );
    const endpoints = pulumi.all(
      Object.fromEntries(Object.entries(wiring.w.endpointOf).map(([site, d]) => [site, d.output])),
    );
    const plans = pulumi.all([namedKeys, endpoints]).apply(([keys, eps]) => ({
      plan: planMesh(planning, { publicKeys: keys, endpoints: eps }),
      external: planForExternalSites(planning, keys, eps),
    }));
    this.plan = plans.apply((p) => p.plan);
    wiring.planOutput.resolve(this.plan);
    wiring.externalPlanOutput.resolve(plans.apply((p) => p.external));

    this.externalConfigs = pulumi.secret(
      pulumi.all([plans, psk.sources]).apply(([p, sources]) =>
        Object.fromEntries(
          plan.sites
            .filter((s) => s.kind === 'external')
            .map((s) => [
              s.site.name,
              renderExternalSiteConfig(
                p.external,
                p.external.gateways.find((g) => g.site === s.site.name)!,
                spec,
                sources,
              ),
            ]),
        ),
      ),
    );
    this.externalSites = externalSiteRotations(
      plan,
      args,
      this.externalConfigs,
      plans.apply((p) => p.external),
      wiring.nextKeys,
    );
    this.sites = siteSummaries(plan.sites, deployed, publicKeys, endpoints);
    this.registerOutputs({
      sites: this.sites,
      externalConfigs: this.externalConfigs,
      externalSites: this.externalSites,
      plan: this.plan,
      rotationPlan: this.rotationPlan,
    });
  }

  private record(site: SitePlan, component: DeployedSite['component']): void {
    const table = {
      'aws-gateway': this.awsGateways,
      'aws-gateway-group': this.awsGatewayGroups,
      'gcp-gateway': this.gcpGateways,
      'gcp-gateway-group': this.gcpGatewayGroups,
      'on-prem': this.remoteHosts,
      external: undefined,
    }[site.kind];
    if (table !== undefined && component !== undefined) (table as Record<string, unknown>)[site.site.name] = component;
  }
}

function prepareSite(w: MeshWiring, site: SitePlan): PreparedSite {
  switch (site.kind) {
    case 'aws-gateway':
    case 'aws-gateway-group':
      return deployAwsSite(w, site);
    case 'gcp-gateway':
    case 'gcp-gateway-group':
      return deployGcpSite(w, site);
    case 'on-prem':
      return deployOnPremSite(w, site);
    case 'external':
      return () => ({});
  }
}

/**
 * The deferred values the sites are wired with: keys (made after registering), endpoints and
 * source addresses (made by the gateway components), the plan and the preshared-key sources
 * (computed from them). Nothing a gateway's address depends on waits for a configuration.
 */
function meshWiring(name: string, args: WireGuardMeshArgs, plan: ReturnType<typeof planMeshDeployment>) {
  const label = componentLabel('WireGuardMesh', name);
  type DeferredPair = { privateKey: Deferred<string>; publicKey: Deferred<string>; createdAt: Deferred<string> };
  const pair = (): DeferredPair => ({ privateKey: deferred(), publicKey: deferred(), createdAt: deferred() });
  const keys: Record<string, DeferredPair & { next?: DeferredPair }> = {};
  const endpointOf: Record<string, Deferred<string>> = {};
  for (const site of plan.spec.sites.filter((s) => CLOUD.has(s.provider))) {
    keys[site.name] = { ...pair(), ...(plan.rotation[site.name]!.next !== null ? { next: pair() } : {}) };
    if (!site.behindNat) endpointOf[site.name] = deferred();
  }
  // Each site's next public key while it rotates; peers are offered it as soon as it exists.
  const nextKeys = pulumi.all(
    Object.fromEntries(
      Object.entries(keys).flatMap(([site, k]) => (k.next ? [[site, k.next.publicKey.output] as const] : [])),
    ),
  );
  const nextPublicKeys = nextKeys.apply((all) =>
    Object.fromEntries(Object.entries(all).filter(([site]) => peersOfferNextKey(plan, site))),
  );
  const addressSlots = Object.fromEntries(
    Object.entries(plan.addressSlots).map(([site, count]) => [
      site,
      Array.from({ length: count }, () => deferred<string>()),
    ]),
  );
  const switchTimes = scheduledSwitches(plan);
  const planOutput = deferred<MeshPlan>();
  const externalPlanOutput = deferred<MeshPlan>();
  const pskSources = deferred<Record<string, PresharedKeySources>>();
  const agentConfigOf = (id: string, cloud: 'aws' | 'gcp'): pulumi.Output<Omit<AgentConfig, 'privateKey'>> =>
    pulumi.all([planOutput.output, pskSources.output, nextPublicKeys]).apply(([meshPlan, sources, nextKeys]) => {
      const gateway = meshPlan.gateways.find((g) => g.id === id);
      if (gateway === undefined) throw new Error(`${label}: the plan has no gateway ${id}`);
      return withNextPublicKeys(
        planAgentConfig(gateway, {
          ...meshAgentOptions(plan.interfaceName, args),
          // The copy in this site's own cloud (the planner passes the two names sorted).
          presharedKey: (a, b) => {
            const source = sources[pairKey(a, b)]?.[cloud];
            if (source === undefined)
              throw new Error(`${label}: no ${cloud} copy of the preshared key of ${a} and ${b}`);
            return source;
          },
        }),
        nextKeys,
        switchTimes,
      );
    });
  const w: MeshWiring = {
    name,
    parent: undefined as unknown as pulumi.Resource,
    args,
    plan,
    keyOf: (site) => {
      const { next } = keys[site]!;
      const switchAt = switchTimes[site];
      return {
        ...outputsOf(keys[site]!),
        rotation: { ...plan.rotation[site]!, ...(switchAt !== undefined ? { scheduledSwitchAt: switchAt } : {}) },
        ...(next !== undefined ? { next: outputsOf(next) } : {}),
      };
    },
    endpointOf,
    addressSlots,
    agentConfigOf,
    externalPlan: externalPlanOutput.output,
    nextPublicKeys,
    switchTimes,
    awsPskReads: {},
    gcpPskReads: {},
  };
  const outputsOf = (p: DeferredPair) => ({
    privateKey: p.privateKey.output,
    publicKey: p.publicKey.output,
    createdAt: p.createdAt.output,
  });
  const resolvePair = (
    p: DeferredPair,
    g: { privateKey: pulumi.Output<string>; publicKey: pulumi.Output<string>; createdAt: pulumi.Output<string> },
  ): void => {
    p.privateKey.resolve(g.privateKey);
    p.publicKey.resolve(g.publicKey);
    p.createdAt.resolve(g.createdAt);
  };
  const resolveKey = (site: string, key: WireGuardKey): void => {
    resolvePair(keys[site]!, key.current);
    if (keys[site]!.next !== undefined) resolvePair(keys[site]!.next!, key.next!);
  };
  return { w, resolveKey, planOutput, externalPlanOutput, pskSources, nextKeys };
}

/** The `sites` output: per site what was deployed, its key, endpoint, instances and addresses. */
function siteSummaries(
  sites: SitePlan[],
  deployed: Record<string, DeployedSite>,
  publicKeys: pulumi.Output<Record<string, string>>,
  endpoints: pulumi.Output<Record<string, string>>,
): pulumi.Output<Record<string, MeshSiteSummary>> {
  const none = pulumi.output([] as string[]);
  return pulumi
    .all([
      publicKeys,
      endpoints,
      pulumi.all(Object.fromEntries(sites.map((s) => [s.site.name, deployed[s.site.name]?.instanceIds ?? none]))),
      pulumi.all(Object.fromEntries(sites.map((s) => [s.site.name, deployed[s.site.name]?.publicIps ?? none]))),
    ])
    .apply(([keys, eps, instanceIds, publicIps]) =>
      Object.fromEntries(
        sites.map((s): [string, MeshSiteSummary] => [
          s.site.name,
          {
            site: s.site.name,
            provider: s.site.provider,
            kind: s.kind,
            publicKey: keys[s.site.name] ?? s.site.publicKey!,
            endpoint: s.site.behindNat ? null : (eps[s.site.name] ?? s.site.endpoint ?? null),
            gatewayIds: s.gatewayIds,
            instanceIds: instanceIds[s.site.name] ?? [],
            publicIps: publicIps[s.site.name] ?? [],
            cidrs: [...s.site.cidrs],
          },
        ]),
      ),
    );
}
