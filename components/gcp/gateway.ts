/**
 * `GcpGateway` (`wiremesh:gcp:GcpGateway`): WireGuard gateway VMs in a VPC you bring (`network` and
 * `subnetwork`), or in one it creates (`createNetwork: { cidr }`: a custom-mode `gcp.compute.Network`
 * `<name>-net` without auto-created subnetworks and one `gcp.compute.Subnetwork` `<name>-subnet` of
 * that range in the zones' region; everything below then uses them as if they had been passed).
 *
 * One gateway is one WireGuard identity: one key (in a {@link GcpKeySecret}), one agent
 * configuration document (in a second Secret Manager secret), one dedicated service account that
 * can read exactly those two secrets (secret-level `roles/secretmanager.secretAccessor`), deployed
 * as `instanceCount` instances spread round-robin over `zones` (one region). Instances of one
 * gateway share the key; a peer pins one public key, so more than one instance is meant for the
 * load-balanced entry point of {@link GcpGatewayGroup} (peers reach the external NLB address).
 *
 * Each instance:
 * - `canIpForward: true` (it forwards between the VPC and the tunnel);
 * - shielded VM (secure boot, vTPM, integrity monitoring) on Ubuntu 24.04 LTS by default: the
 *   image must run cloud-init for `user-data` (Google's Ubuntu images do; its Debian images run
 *   only the guest agent's `startup-script` and would ignore the bootstrap);
 * - the dedicated service account with the `cloud-platform` scope (IAM does the restricting:
 *   the account holds no role but the two secret-level grants);
 * - a static external address (`externalAddresses`, default true);
 * - OS Login on, project-wide SSH keys blocked; no SSH firewall rule is created (use IAP or the
 *   serial console if you must, with your own rules);
 * - `metadata["user-data"]`: the cloud-init of `agentCloudInit`, holding references only (the two
 *   secret names), never key material. A change to it replaces the VM (see instances.ts):
 *   cloud-init would not run it again on the running one. VM `i` depends on VM `i-1`, so the
 *   replacements are rolling, one VM at a time.
 *
 * With `agent.artifact`, the agent tarball goes into a bucket of the gateway that its service account
 * may read exactly that object of (gcp/artifact.ts).
 *
 * Firewall rules: gcp/firewall.ts. Routes (per instance, or through an internal LB): gcp/routes.ts.
 * Arguments and their checks: gcp/gateway-args.ts (run once, before anything is registered).
 *
 * Several instances, one key: WireGuard's cryptokey routing lets a remote site have one peer
 * for the local prefixes, so the instances of a gateway share its key and the remote side sees one
 * peer whose endpoint moves to whichever instance spoke last. That is what the external NLB of a
 * {@link GcpGatewayGroup} gives (peers reach one address, affinity keeps each on one instance).
 * With ECMP routes or the internal LB spreading outbound flows over instances that each hold their
 * own session, the remote end keeps only the newest sessions (current and previous keypair) and
 * sends to the newest endpoint, so instances displace each other and packets are lost as sessions
 * are replaced: `instanceCount` defaults to 1; use more per gateway only behind a group, and
 * expect that churn, or set `activeStandby: true` (one primary instance, the others failover
 * backends of the load balancers: every flow goes through one instance at a time).
 *
 * Not done here (follow-ups): managed instance groups / autoscaling, Cloud NAT,
 * IPv6 remote prefixes, ILB failover policies (active/standby).
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig } from '../../agent/gateway/config-types';
import { GCP_LABEL_ROLE } from '../../common/defaults';
import { agentParts, completeAgentConfig, gatewayUserData, type GatewayAgentConfig } from '../agent-config';
import { readAgentArtifact } from '../artifact';
import { agentConfigDocument } from '../bootstrap';
import { componentLabel } from '../errors';
import { gatewayKey, keySecretVersions, type KeySources } from '../gateway-key';
import { createGcpAgentArtifact, type GcpAgentArtifact } from './artifact';
import { createFirewalls, gatewayFirewallRules } from './firewall';
import { validateGcpGatewayArgs, type GcpGatewayArgs, type ValidatedGcpGatewayArgs } from './gateway-args';
import { createGatewayInstances } from './instances';
import {
  GcpKeySecret,
  grantSecretAccessor,
  grantSecretViewer,
  secretReplication,
  secretResourceName,
} from './key-secret';
import { createInstanceGroups } from './load-balancer';
import { createGatewayNetwork } from './network';
import { createGatewayRoutes, createInternalLoadBalancer, gatewayRouteSpecs } from './routes';

const COMPONENT = 'GcpGateway';
/** The agent's default poll interval of its config secret, written out in GCP documents. */
const DEFAULT_POLL_SECONDS = 60;

/**
 * WireGuard gateway instances in an existing VPC, with their key and configuration in Secret
 * Manager, a least-privilege service account, firewall rules and routes to the remote sites.
 *
 * ```ts
 * const gw = new GcpGateway("site-b", {
 *   zones: ["europe-west1-b"], network: vpc.id, subnetwork: subnet.id,
 *   peerCidrs: ["203.0.113.10/32"], remoteCidrs: ["10.10.0.0/16"],
 *   agent: { artifact: "wiremesh-0.1.0.tgz", config: { interface: { addresses: ["10.99.0.2/24"] }, peers: [...] } },
 * });
 * gw.publicKey; gw.endpoints; // for the peers
 * ```
 */
export class GcpGateway extends pulumi.ComponentResource {
  /** The gateway's public key (peers' configuration). */
  public readonly publicKey: pulumi.Output<string>;
  /** The secret holding the private key. */
  public readonly keySecret: GcpKeySecret;
  /** The secret holding the agent configuration document. */
  public readonly configSecret: gcp.secretmanager.Secret;
  /** `projects/P/secrets/S` of the configuration secret. */
  public readonly configSecretName: pulumi.Output<string>;
  /** The agent configuration document (JSON) stored in `configSecret`. */
  public readonly agentConfig: pulumi.Output<string>;
  /** The cloud-init user data of every instance (references only). */
  public readonly userData: pulumi.Output<string>;
  /** The gateway's dedicated service account. */
  public readonly serviceAccount: gcp.serviceaccount.Account;
  /** Its email. */
  public readonly serviceAccountEmail: pulumi.Output<string>;
  /** The secret-level accessor grants of the service account (key, config). */
  public readonly secretGrants: gcp.secretmanager.SecretIamMember[];
  /** The instances, in index order. */
  public readonly instances: gcp.compute.Instance[];
  /** Zone of each instance. */
  public readonly instanceZones: string[];
  /** Static external addresses (empty when `externalAddresses` is false). */
  public readonly addresses: gcp.compute.Address[];
  /** `ip:port` of each instance's external address. */
  public readonly endpoints: pulumi.Output<string[]>;
  /** Internal IP of each instance. */
  public readonly internalIps: pulumi.Output<string[]>;
  /** The firewall rules (WireGuard, then health when created, then forwarding when asked). */
  public readonly firewalls: gcp.compute.Firewall[];
  /** Routes to the remote CIDRs. */
  public readonly routes: gcp.compute.Route[];
  /** Per-zone unmanaged instance groups (load-balanced gateways only). */
  public readonly instanceGroups: gcp.compute.InstanceGroup[];
  /** The internal LB forwarding rule (with `internalLoadBalancer`). */
  public readonly internalForwardingRule?: gcp.compute.ForwardingRule;
  /** The region of the zones. */
  public readonly region: string;
  public readonly listenPort: number;
  public readonly healthPort: number;
  /** True when the first zone's instance is the only active backend of the load balancers. */
  public readonly activeStandby: boolean;
  /** The agent artifact's bucket, object and read grant; only with `agent.artifact`. */
  public readonly agentArtifact?: GcpAgentArtifact;
  /** The created network (`createNetwork` only). */
  public readonly network?: gcp.compute.Network;
  /** The created subnetwork (`createNetwork` only). */
  public readonly subnetwork?: gcp.compute.Subnetwork;

  constructor(name: string, args: GcpGatewayArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Validate before registering: a refused argument registers nothing.
    const v = validateGcpGatewayArgs(COMPONENT, name, args);
    const replication = secretReplication(COMPONENT, name, args.secretReplication);
    const artifact =
      args.agent.artifact === undefined
        ? undefined
        : readAgentArtifact(
            componentLabel(COMPONENT, name),
            'agent.artifact',
            args.agent.artifact,
            /^(t2a|c4a)-/.test(v.machineType) ? 'arm64' : 'x64',
          );
    super('wiremesh:gcp:GcpGateway', name, {}, opts);
    this.region = v.region;
    this.listenPort = v.listenPort;
    this.healthPort = v.healthPort;
    this.activeStandby = v.activeStandby;
    const project = args.project;
    const labels = args.labels ?? {};
    const deletionProtection = args.deletionProtection ?? false;

    // The network: the caller's, or a custom-mode one with one subnetwork, made here.
    const created = args.createNetwork && createGatewayNetwork(name, project, v.region, args.createNetwork.cidr, this);
    if (created) ({ network: this.network, subnetwork: this.subnetwork } = created);
    const network: pulumi.Input<string> = created ? created.network.id : args.network!;
    const subnetwork: pulumi.Input<string> = created ? created.subnetwork.id : args.subnetwork!;

    // Key (the caller's, or a new one) in Secret Manager; the service account that reads it.
    ({
      publicKey: this.publicKey,
      keySecret: this.keySecret,
      serviceAccount: this.serviceAccount,
    } = createGatewayIdentity(name, args, v, { project, labels, deletionProtection }, this));
    this.serviceAccountEmail = this.serviceAccount.email;

    // The agent configuration document, in its own secret.
    const config = createConfigSecret(
      name,
      args,
      v,
      { project, replication, labels, deletionProtection },
      this.keySecret,
      this,
    );
    ({
      configSecret: this.configSecret,
      configSecretName: this.configSecretName,
      agentConfig: this.agentConfig,
    } = config);
    const { fullConfig, configVersion } = config;

    this.secretGrants = grantSecretReads(
      name,
      this.serviceAccountEmail,
      this.keySecret,
      this.configSecret,
      args.extraSecretReads ?? [],
      this,
    );
    // The agent the VMs install: the artifact in the gateway's bucket, or the caller's package.
    this.agentArtifact =
      artifact &&
      createGcpAgentArtifact(name, artifact, { project, region: v.region, labels }, this.serviceAccountEmail, this);
    this.userData = gatewayUserData(args.agent, this.agentArtifact?.location ?? args.agent.package!, fullConfig);

    // Instances, each with a static external address; behind a load balancer, members of their zone's group.
    this.instanceZones = Array.from({ length: v.instanceCount }, (_, i) => args.zones[i % args.zones.length]!);
    const groups = v.loadBalanced ? createInstanceGroups(name, project, this.instanceZones, this) : undefined;
    this.instanceGroups = [...(groups?.values() ?? [])];
    // The VMs' health gates read the internal LB's backend service, which is made after them.
    const [internalBackendService, resolveInternalBackendService] = pulumi.deferredOutput<string>();
    ({ addresses: this.addresses, instances: this.instances } = createGatewayInstances(
      name,
      this.instanceZones,
      {
        project,
        network,
        subnetwork,
        v,
        image: args.image,
        serviceAccountEmail: this.serviceAccountEmail,
        userData: this.userData,
        networkTags: args.networkTags,
        labels,
        deletionProtection,
      },
      // The agent reads both secrets at boot, the bootstrap the artifact: grants and versions exist first.
      [
        ...this.secretGrants,
        configVersion,
        this.keySecret.version,
        ...(this.agentArtifact ? [this.agentArtifact.object, this.agentArtifact.readGrant] : []),
      ],
      this,
      groups && args.internalLoadBalancer ? { groups, backendService: internalBackendService } : undefined,
    ));
    this.endpoints = pulumi
      .all(this.addresses.map((a) => a.address))
      .apply((ips) => ips.map((ip) => `${ip}:${v.listenPort}`));
    this.internalIps = pulumi.all(
      this.instances.map((inst) => inst.networkInterfaces.apply((nics) => nics[0]?.networkIp ?? '')),
    );

    this.firewalls = createFirewalls(
      gatewayFirewallRules(name, v, {
        peerCidrs: args.peerCidrs ?? [],
        allowFromAnywhere: args.allowFromAnywhere === true,
        healthCheckRanges: v.healthCheckRanges,
        forwardFromCidrs: args.forwardFromCidrs ?? [],
      }),
      project,
      network,
      this.serviceAccountEmail,
      this,
    );
    // Instance groups (load-balanced gateways), the internal load balancer, the routes.
    ({ internalForwardingRule: this.internalForwardingRule, routes: this.routes } = createGatewayTraffic(
      name,
      args,
      v,
      { project, network, subnetwork },
      this.instances,
      this.instanceGroups,
      this,
    ));
    // The rule's backend service is the one created with it: always set.
    if (this.internalForwardingRule)
      resolveInternalBackendService(this.internalForwardingRule.backendService.apply((id) => id!));

    this.registerOutputs({
      publicKey: this.publicKey,
      keySecretName: this.keySecret.secretName,
      configSecretName: this.configSecretName,
      serviceAccountEmail: this.serviceAccountEmail,
      endpoints: this.endpoints,
      internalIps: this.internalIps,
    });
  }
}

/** The gateway's key in Secret Manager and its service account, which has no role but the secret-level grants. */
function createGatewayIdentity(
  name: string,
  args: GcpGatewayArgs,
  v: ValidatedGcpGatewayArgs,
  where: { project: pulumi.Input<string> | undefined; labels: Record<string, string>; deletionProtection: boolean },
  parent: pulumi.Resource,
): { publicKey: pulumi.Output<string>; keySecret: GcpKeySecret; serviceAccount: gcp.serviceaccount.Account } {
  const { project, labels, deletionProtection } = where;
  const key = gatewayKey(name, componentLabel(COMPONENT, name), args.key, args.maxKeyAgeDays, parent);
  const keySecret = new GcpKeySecret(
    `${name}-key`,
    {
      ...keySecretVersions(key),
      project,
      labels,
      ...(args.secretReplication !== undefined ? { replication: args.secretReplication } : {}),
      deletionProtection,
    },
    { parent },
  );
  const serviceAccount = new gcp.serviceaccount.Account(
    `${name}-sa`,
    {
      project,
      accountId: v.serviceAccountId,
      displayName: `wiremesh gateway ${name}`,
      description: `WireGuard gateway ${name}: reads its key and configuration secrets only`,
    },
    { parent },
  );
  return { publicKey: key.publicKey, keySecret, serviceAccount };
}

/** The gateway's document completed with its key and config secrets and its ports. */
function completedDocument(
  label: string,
  args: GcpGatewayArgs,
  v: ValidatedGcpGatewayArgs,
  keys: pulumi.Output<KeySources>,
  configSecretName: pulumi.Output<string>,
): pulumi.Output<AgentConfig> {
  const pollSeconds = args.agent.configPollSeconds ?? DEFAULT_POLL_SECONDS;
  return pulumi.all([args.agent.config, keys, configSecretName]).apply(([config, keySources, secretName]) =>
    completeAgentConfig(label, config as GatewayAgentConfig, {
      ...agentParts(args.agent),
      listenPort: v.listenPort,
      healthPort: v.healthPort,
      ...keySources,
      configSource: { source: 'gcp-secret-manager', name: secretName, pollSeconds },
    }),
  );
}

/** The service account's reads: its key secret, its config secret, and the extra secrets it was given. */
function grantSecretReads(
  name: string,
  serviceAccountEmail: pulumi.Output<string>,
  keySecret: GcpKeySecret,
  configSecret: gcp.secretmanager.Secret,
  extraSecretReads: NonNullable<GcpGatewayArgs['extraSecretReads']>,
  parent: pulumi.Resource,
): gcp.secretmanager.SecretIamMember[] {
  return [
    keySecret.grantAccessor(`${name}-key-read`, serviceAccountEmail, { parent }),
    // The key version's createTime: the key's age in the agent's metrics and the rotation policy.
    grantSecretViewer(`${name}-key-metadata`, { secret: keySecret.secret, serviceAccountEmail }, { parent }),
    grantSecretAccessor(`${name}-config-read`, { secret: configSecret, serviceAccountEmail }, { parent }),
    ...extraSecretReads.map((secret, i) =>
      grantSecretAccessor(`${name}-read-${i}`, { secret, serviceAccountEmail }, { parent }),
    ),
  ];
}

/**
 * Where traffic for the remote CIDRs goes: the internal passthrough load balancer over the
 * gateway's instance groups when asked for, and the routes (next hop the load balancer, or each
 * instance at equal priority).
 */
function createGatewayTraffic(
  name: string,
  args: GcpGatewayArgs,
  v: ValidatedGcpGatewayArgs,
  where: { project: pulumi.Input<string> | undefined; network: pulumi.Input<string>; subnetwork: pulumi.Input<string> },
  instances: gcp.compute.Instance[],
  instanceGroups: gcp.compute.InstanceGroup[],
  parent: pulumi.Resource,
): {
  internalForwardingRule: gcp.compute.ForwardingRule | undefined;
  routes: gcp.compute.Route[];
} {
  const { project, network, subnetwork } = where;
  const internalForwardingRule = args.internalLoadBalancer
    ? createInternalLoadBalancer(
        name,
        { project, region: v.region, network, subnetwork, healthPort: v.healthPort, activeStandby: v.activeStandby },
        instanceGroups,
        parent,
      )
    : undefined;
  const routes = createGatewayRoutes(
    gatewayRouteSpecs(name, args.remoteCidrs, v.instanceCount, args.internalLoadBalancer === true),
    {
      project,
      network,
      priority: v.routePriority,
      ...(args.routeTags !== undefined && args.routeTags.length > 0 ? { tags: [...args.routeTags] } : {}),
    },
    (instance) =>
      instance === undefined
        ? { nextHopIlb: internalForwardingRule!.id }
        : { nextHopInstance: instances[instance]!.id },
    parent,
  );
  return { internalForwardingRule, routes };
}

/** The agent configuration document's secret and its one version: the completed document, stored. */
function createConfigSecret(
  name: string,
  args: GcpGatewayArgs,
  v: ValidatedGcpGatewayArgs,
  where: {
    project: pulumi.Input<string> | undefined;
    replication: ReturnType<typeof secretReplication>;
    labels: Record<string, string>;
    deletionProtection: boolean;
  },
  keySecret: GcpKeySecret,
  parent: pulumi.Resource,
): {
  configSecret: gcp.secretmanager.Secret;
  configSecretName: pulumi.Output<string>;
  fullConfig: pulumi.Output<AgentConfig>;
  agentConfig: pulumi.Output<string>;
  configVersion: gcp.secretmanager.SecretVersion;
} {
  const { project, replication, labels, deletionProtection } = where;
  const configSecret = new gcp.secretmanager.Secret(
    `${name}-config`,
    { project, replication, labels: { ...labels, [GCP_LABEL_ROLE]: 'agent-config' }, deletionProtection },
    { parent },
  );
  const configSecretName = secretResourceName(configSecret);
  const fullConfig = completedDocument(
    componentLabel(COMPONENT, name),
    args,
    v,
    keySecret.keySources,
    configSecretName,
  );
  const agentConfig = agentConfigDocument(fullConfig);
  const configVersion = new gcp.secretmanager.SecretVersion(
    `${name}-config-version`,
    { secret: configSecret.id, secretData: agentConfig, enabled: true },
    { parent },
  );
  return { configSecret, configSecretName, fullConfig, agentConfig, configVersion };
}
