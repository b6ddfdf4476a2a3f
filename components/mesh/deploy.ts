/**
 * One deploy function per kind of site of a WireGuardMesh. Each is called before the mesh registers
 * (it builds and validates the component's arguments: a refusal registers nothing) and returns
 * `create`, which constructs the component once the mesh and its keys exist. The components'
 * outputs the rest of the mesh needs (endpoint, source addresses) go into the deferred Outputs of
 * {@link MeshWiring}.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig, DataPlaneKind } from '../../agent/gateway/config-types';
import type { GatewayAgentArgs, GatewayAgentConfig } from '../agent-config';
import { AwsGateway } from '../aws/gateway';
import { validateAwsGatewayArgs, type AwsGatewayArgs } from '../aws/gateway-args';
import { AwsGatewayGroup, validateAwsGatewayGroupArgs, type AwsGatewayGroupArgs } from '../aws/gateway-group';
import type { SecretReadGrant } from '../aws/policy';
import { componentLabel } from '../errors';
import type { GatewayKeyArgs } from '../gateway-key';
import { GcpGateway } from '../gcp/gateway';
import { validateGcpGatewayArgs, type GcpGatewayArgs } from '../gcp/gateway-args';
import { GcpGatewayGroup, validateGcpGatewayGroupArgs, type GcpGatewayGroupArgs } from '../gcp/gateway-group';
import { regionOfZone } from '../gcp/validation';
import { DEFAULT_REMOTE_KEY_PATH, RemoteHostAgent } from '../remote-host';
import type { WireGuardMeshArgs } from './args';
import { planAgentConfig, withNextPublicKeys } from './external';
import { onPremKeyMatchesSpec, type MeshDeploymentPlan, type SitePlan, type SourceRef } from './plan';
import type { MeshPlan } from '../../mesh/planner';

/** A value made later (after the mesh registers, or by another site's component). */
export interface Deferred<T> {
  output: pulumi.Output<T>;
  resolve: (source: pulumi.Output<T>) => void;
}

export function deferred<T>(): Deferred<T> {
  const [output, resolve] = pulumi.deferredOutput<T>();
  return { output, resolve };
}

/** What the deploy functions share with the mesh. */
export interface MeshWiring {
  name: string;
  parent: pulumi.Resource;
  args: WireGuardMeshArgs;
  plan: MeshDeploymentPlan;
  /** The key of a cloud site (made after the mesh registers). */
  keyOf(site: string): GatewayKeyArgs;
  /** A cloud site's endpoint, to be resolved by its component (absent behind NAT). */
  endpointOf: Record<string, Deferred<string>>;
  /** The addresses a gcp site allocates (see MeshDeploymentPlan.addressSlots). */
  addressSlots: Record<string, Deferred<string>[]>;
  /** The agent document of planned gateway `id` in `cloud` (its preshared keys from that cloud's copies). */
  agentConfigOf(id: string, cloud: 'aws' | 'gcp'): pulumi.Output<Omit<AgentConfig, 'privateKey'>>;
  /** The plan of the external and on-prem sites (planned like gateways). */
  externalPlan: pulumi.Output<MeshPlan>;
  /** Site -> its key's next public key, for the sites rotating now (phases next and switch). */
  nextPublicKeys: pulumi.Output<Record<string, string>>;
  /** Site -> when its gateway switches to its next key, for the sites whose switch is scheduled (plan.ts scheduledSwitches). */
  switchTimes: Record<string, string>;
  /** The preshared-key secrets a site's gateways read (filled in before `create` runs). */
  awsPskReads: Record<string, pulumi.Output<SecretReadGrant>[]>;
  gcpPskReads: Record<string, gcp.secretmanager.Secret[]>;
}

/** What a deployed site hands back. */
export interface DeployedSite {
  component?: AwsGateway | AwsGatewayGroup | GcpGateway | GcpGatewayGroup | RemoteHostAgent;
  instanceIds?: pulumi.Output<string[]>;
  publicIps?: pulumi.Output<string[]>;
}

/** Prepared (and validated) deployment of one site. */
export type PreparedSite = () => DeployedSite;

/** The peers' source ranges as inputs (a gcp site's allocated address as `<ip>/32`). */
function peerCidrsOf(w: MeshWiring, refs: SourceRef[]): pulumi.Input<string>[] {
  return refs.map((ref) =>
    'cidr' in ref ? ref.cidr : w.addressSlots[ref.site]![ref.slot]!.output.apply((ip) => `${ip}/32`),
  );
}

/** What a site installs: its package when it has one, else the mesh's artifact (plan.ts checked that one is given). */
function agentSourceOf(
  agentPackage: pulumi.Input<string> | undefined,
  agentArtifact: string | undefined,
):
  | { agentPackage: pulumi.Input<string>; agentArtifact?: undefined }
  | { agentPackage?: undefined; agentArtifact: string } {
  return agentPackage !== undefined ? { agentPackage } : { agentArtifact: agentArtifact! };
}

/** The agent argument of a cloud site's gateways. */
function agentOf(
  w: MeshWiring,
  site: SitePlan,
  cloud: 'aws' | 'gcp',
  extra: { configPollSeconds?: number | undefined; nodeVersion?: string | undefined },
): GatewayAgentArgs {
  const args = w.args;
  const { agentPackage, agentArtifact } = agentSourceOf(
    args[cloud]?.agentPackage ?? args.agentPackage,
    args.agentArtifact,
  );
  return {
    ...(agentPackage !== undefined ? { package: agentPackage } : { artifact: agentArtifact }),
    interfaceName: w.plan.interfaceName,
    config: w.agentConfigOf(site.gatewayIds[0]!, cloud) as pulumi.Output<GatewayAgentConfig>,
    ...(extra.configPollSeconds !== undefined ? { configPollSeconds: extra.configPollSeconds } : {}),
    ...(extra.nodeVersion !== undefined ? { nodeVersion: extra.nodeVersion } : {}),
    ...(args.metricsListen !== undefined ? { metricsListen: args.metricsListen } : {}),
    ...(args.dataPlane !== undefined ? { dataPlane: args.dataPlane } : {}),
  };
}

/** An `aws` site: AwsGateway (one gateway) or AwsGatewayGroup (n behind an NLB). */
export function deployAwsSite(w: MeshWiring, site: SitePlan): PreparedSite {
  const placement = w.args.aws!.sites[site.site.name]!;
  const provider = placement.provider ?? w.args.aws?.provider;
  const {
    provider: _provider,
    peerCidrs,
    allowFromAnywhere,
    configPollSeconds,
    nodeVersion,
    loadBalancerSubnetIds: _a,
    crossZoneLoadBalancing: _b,
    healthCheckProtocol: _c,
    healthCheckIntervalSeconds: _d,
    deregistrationDelaySeconds: _e,
    deletionProtection: _f,
    ...passThrough
  } = placement;
  const groupOnly = {
    loadBalancerSubnetIds: _a,
    crossZoneLoadBalancing: _b,
    healthCheckProtocol: _c,
    healthCheckIntervalSeconds: _d,
    deregistrationDelaySeconds: _e,
    deletionProtection: _f,
  };
  const ranges = site.peerSources !== undefined ? peerCidrsOf(w, site.peerSources) : peerCidrs;
  const gatewayArgs: AwsGatewayArgs = {
    ...passThrough,
    siteName: site.site.name,
    subnets: placement.subnets,
    remoteCidrs: site.remoteCidrs,
    ...(ranges !== undefined ? { peerCidrs: ranges } : {}),
    ...(allowFromAnywhere !== undefined ? { allowFromAnywhere } : {}),
    key: w.keyOf(site.site.name),
    agent: agentOf(w, site, 'aws', { configPollSeconds, nodeVersion }),
    listenPort: w.plan.listenPort,
    healthPort: w.plan.healthPort,
  };
  const componentOpts = (): pulumi.ComponentResourceOptions => ({
    parent: w.parent,
    ...(provider !== undefined ? { providers: [provider] } : {}),
  });
  const reads = (): { extraSecretReads?: pulumi.Output<SecretReadGrant>[] } =>
    w.awsPskReads[site.site.name]?.length ? { extraSecretReads: w.awsPskReads[site.site.name] } : {};
  if (site.kind === 'aws-gateway-group') {
    const groupArgs: AwsGatewayGroupArgs = { ...(gatewayArgs as AwsGatewayGroupArgs), ...dropUndefined(groupOnly) };
    validateAwsGatewayGroupArgs(componentLabel('AwsGatewayGroup', site.componentName), groupArgs);
    return () => {
      const component = new AwsGatewayGroup(
        site.componentName,
        validateAwsGatewayGroupArgs.carry(groupArgs, { ...groupArgs, ...reads() }),
        componentOpts(),
      );
      w.endpointOf[site.site.name]?.resolve(component.endpoint);
      // Peers see the group at its NLB's Elastic IPs (its instances never initiate): those are its sources.
      w.addressSlots[site.site.name]?.forEach((slot, i) =>
        slot.resolve(component.loadBalancerAddresses.apply((ips) => ips[i]!)),
      );
      return { component, instanceIds: component.instanceIds, publicIps: component.loadBalancerAddresses };
    };
  }
  validateAwsGatewayArgs(componentLabel('AwsGateway', site.componentName), gatewayArgs);
  return () => {
    const component = new AwsGateway(
      site.componentName,
      validateAwsGatewayArgs.carry(gatewayArgs, { ...gatewayArgs, ...reads() }),
      componentOpts(),
    );
    w.endpointOf[site.site.name]?.resolve(component.endpoints.apply((endpoints) => endpoints[0]!));
    return { component, instanceIds: component.instanceIds, publicIps: component.publicIps };
  };
}

/** A `gcp` site: GcpGateway (one instance) or GcpGatewayGroup (n behind an external passthrough NLB). */
export function deployGcpSite(w: MeshWiring, site: SitePlan): PreparedSite {
  const name = site.site.name;
  const placement = w.args.gcp!.sites[name]!;
  const provider = placement.provider ?? w.args.gcp?.provider;
  const {
    provider: _provider,
    resourceName: _resourceName,
    peerCidrs,
    allowFromAnywhere,
    configPollSeconds,
    nodeVersion,
    sessionAffinity,
    ...passThrough
  } = placement;
  const project = placement.project ?? w.args.gcp?.project;
  const ranges = site.peerSources !== undefined ? (peerCidrsOf(w, site.peerSources) as string[]) : peerCidrs;
  const gateways = site.gatewayIds.length;
  const gatewayArgs: GcpGatewayArgs = {
    ...passThrough,
    ...(project !== undefined ? { project } : {}),
    instanceCount: gateways,
    remoteCidrs: site.remoteCidrs,
    ...(ranges !== undefined ? { peerCidrs: ranges } : {}),
    ...(allowFromAnywhere !== undefined ? { allowFromAnywhere } : {}),
    listenPort: w.plan.listenPort,
    healthPort: w.plan.healthPort,
    key: w.keyOf(name),
    agent: agentOf(w, site, 'gcp', { configPollSeconds, nodeVersion }),
  };
  const opts = (): pulumi.ComponentResourceOptions => ({
    parent: w.parent,
    ...(provider !== undefined ? { providers: [provider] } : {}),
  });
  const reads = (): { extraSecretReads?: gcp.secretmanager.Secret[] } =>
    w.gcpPskReads[name]?.length ? { extraSecretReads: w.gcpPskReads[name] } : {};
  const slots = w.addressSlots[name];
  if (site.kind === 'gcp-gateway-group') {
    // Validated with the address placeholder: the group's own endpoint waits for its instances, so the mesh makes the address.
    const probe: GcpGatewayGroupArgs = {
      ...gatewayArgs,
      ...(sessionAffinity !== undefined ? { sessionAffinity } : {}),
    };
    validateGcpGatewayGroupArgs(site.componentName, probe);
    return () => {
      const address = new gcp.compute.Address(
        `${w.name}-${name}-lb-ip`,
        {
          project,
          region: regionOfZone(placement.zones[0]!)!,
          addressType: 'EXTERNAL',
          networkTier: 'PREMIUM',
          description: `wiremesh mesh ${w.name}: WireGuard endpoint of site ${name}`,
        },
        { parent: w.parent, ...(provider !== undefined ? { provider } : {}) },
      );
      const groupArgs = validateGcpGatewayGroupArgs.carry(probe, {
        ...gatewayArgs,
        ...reads(),
        loadBalancerAddress: address.address,
        ...(sessionAffinity !== undefined ? { sessionAffinity } : {}),
      });
      const component = new GcpGatewayGroup(site.componentName, groupArgs, opts());
      w.endpointOf[name]?.resolve(pulumi.interpolate`${address.address}:${w.plan.listenPort}`);
      const ips = [...component.gateway.addresses.map((a) => a.address), address.address];
      slots?.forEach((slot, i) => slot.resolve(ips[i]!));
      return {
        component,
        instanceIds: pulumi.all(component.gateway.instances.map((instance) => instance.id)),
        publicIps: pulumi.all(ips),
      };
    };
  }
  validateGcpGatewayArgs('GcpGateway', site.componentName, gatewayArgs);
  return () => {
    const component = new GcpGateway(
      site.componentName,
      validateGcpGatewayArgs.carry(gatewayArgs, { ...gatewayArgs, ...reads() }),
      opts(),
    );
    w.endpointOf[name]?.resolve(component.endpoints.apply((endpoints) => endpoints[0]!));
    const ips = component.addresses.map((a) => a.address);
    slots?.forEach((slot, i) => slot.resolve(ips[i]!));
    return {
      component,
      instanceIds: pulumi.all(component.instances.map((instance) => instance.id)),
      publicIps: pulumi.all(ips),
    };
  };
}

/** An `external` site with an `onPrem` host: RemoteHostAgent (wiremesh-agent over SSH). */
export function deployOnPremSite(w: MeshWiring, site: SitePlan): PreparedSite {
  const host = w.args.onPrem![site.site.name]!;
  const keyPath = host.keyPath ?? DEFAULT_REMOTE_KEY_PATH;
  const label = componentLabel('WireGuardMesh', w.name);
  return () => {
    const agentConfig = pulumi.all([w.externalPlan, w.nextPublicKeys]).apply(([plan, nextKeys]): AgentConfig => ({
      ...withNextPublicKeys(
        planAgentConfig(
          plan.gateways.find((g) => g.site === site.site.name)!,
          meshAgentOptions(w.plan.interfaceName, w.args),
        ),
        nextKeys,
        w.switchTimes,
      ),
      privateKey: { source: 'file', path: keyPath },
    }));
    const component = new RemoteHostAgent(
      site.componentName,
      {
        connection: host.connection,
        ...agentSourceOf(host.agentPackage ?? w.args.agentPackage, w.args.agentArtifact),
        agentConfig,
        privateKey: pulumi.secret(
          pulumi.output(host.privateKey).apply((key) => onPremKeyMatchesSpec(label, site.site, key)),
        ),
        keyPath,
      },
      { parent: w.parent },
    );
    return { component };
  };
}

/** The planner options every agent of the mesh shares. */
export function meshAgentOptions(
  interfaceName: string,
  args: WireGuardMeshArgs,
): { interfaceName: string; metricsListen?: string; dataPlane?: DataPlaneKind } {
  return {
    interfaceName,
    ...(args.metricsListen !== undefined ? { metricsListen: args.metricsListen } : {}),
    ...(args.dataPlane !== undefined ? { dataPlane: args.dataPlane } : {}),
  };
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
