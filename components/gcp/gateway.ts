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
 *   secret names), never key material. A change to it replaces the VM ({@link bootstrapReplacement}):
 *   cloud-init would not run it again on the running one. VM `i` depends on VM `i-1`, so the
 *   replacements are rolling, one VM at a time.
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
import type { SecretSourceConfig } from '../../agent/secrets/types';
import { GCP_GATEWAY_NETWORK_TAG, GCP_LABEL_ROLE, ROLE_GATEWAY } from '../../common/defaults';
import { agentParts, bootstrapConfigOf, completeAgentConfig, type GatewayAgentConfig } from '../agent-config';
import { agentCloudInit, agentConfigDocument } from '../bootstrap';
import { componentLabel } from '../errors';
import { gatewayKey } from '../gateway-key';
import { createFirewalls, gatewayFirewallRules } from './firewall';
import {
  CLOUD_PLATFORM_SCOPE,
  DEFAULT_IMAGE,
  validateGcpGatewayArgs,
  type GcpGatewayArgs,
  type ValidatedGcpGatewayArgs,
} from './gateway-args';
import { GcpKeySecret, grantSecretAccessor, secretReplication, secretResourceName } from './key-secret';
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
 *   agent: { package: "wiremesh@0.1.0", config: { interface: { addresses: ["10.99.0.2/24"] }, peers: [...] } },
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
  /** The created network (`createNetwork` only). */
  public readonly network?: gcp.compute.Network;
  /** The created subnetwork (`createNetwork` only). */
  public readonly subnetwork?: gcp.compute.Subnetwork;

  constructor(name: string, args: GcpGatewayArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Validate before registering: a refused argument registers nothing.
    const v = validateGcpGatewayArgs(COMPONENT, name, args);
    const replication = secretReplication(COMPONENT, name, args.secretReplication);
    super('wiremesh:gcp:GcpGateway', name, {}, opts);
    this.region = v.region;
    this.listenPort = v.listenPort;
    this.healthPort = v.healthPort;
    this.activeStandby = v.activeStandby;
    const project = args.project;
    const labels = args.labels ?? {};
    const deletionProtection = args.deletionProtection ?? false;

    // The network: the caller's, or a custom-mode one with one subnetwork, made here.
    let network: pulumi.Input<string> = args.network!;
    let subnetwork: pulumi.Input<string> = args.subnetwork!;
    if (args.createNetwork !== undefined) {
      ({ network: this.network, subnetwork: this.subnetwork } = createGatewayNetwork(
        name,
        project,
        v.region,
        args.createNetwork.cidr,
        this,
      ));
      network = this.network.id;
      subnetwork = this.subnetwork.id;
    }

    // Key: the caller's, or a new one; stored in Secret Manager.
    const key = gatewayKey(name, componentLabel(COMPONENT, name), args.key, args.maxKeyAgeDays, this);
    this.publicKey = key.publicKey;
    this.keySecret = new GcpKeySecret(
      `${name}-key`,
      {
        privateKey: key.privateKey,
        createdAt: key.createdAt,
        project,
        labels,
        ...(args.secretReplication !== undefined ? { replication: args.secretReplication } : {}),
        deletionProtection,
      },
      { parent: this },
    );

    // The service account: no role but the secret-level grants below.
    this.serviceAccount = new gcp.serviceaccount.Account(
      `${name}-sa`,
      {
        project,
        accountId: v.serviceAccountId,
        displayName: `wiremesh gateway ${name}`,
        description: `WireGuard gateway ${name}: reads its key and configuration secrets only`,
      },
      { parent: this },
    );
    this.serviceAccountEmail = this.serviceAccount.email;

    // The agent configuration document, in its own secret.
    this.configSecret = new gcp.secretmanager.Secret(
      `${name}-config`,
      { project, replication, labels: { ...labels, [GCP_LABEL_ROLE]: 'agent-config' }, deletionProtection },
      { parent: this },
    );
    this.configSecretName = secretResourceName(this.configSecret);
    const fullConfig = completedDocument(
      componentLabel(COMPONENT, name),
      args,
      v,
      this.keySecret.sourceConfig,
      this.configSecretName,
    );
    this.agentConfig = agentConfigDocument(fullConfig);
    const configVersion = new gcp.secretmanager.SecretVersion(
      `${name}-config-version`,
      { secret: this.configSecret.id, secretData: this.agentConfig, enabled: true },
      { parent: this },
    );

    this.secretGrants = [
      this.keySecret.grantAccessor(`${name}-key-read`, this.serviceAccountEmail, { parent: this }),
      grantSecretAccessor(
        `${name}-config-read`,
        { secret: this.configSecret, serviceAccountEmail: this.serviceAccountEmail },
        { parent: this },
      ),
      ...(args.extraSecretReads ?? []).map((secret, i) =>
        grantSecretAccessor(
          `${name}-read-${i}`,
          { secret, serviceAccountEmail: this.serviceAccountEmail },
          { parent: this },
        ),
      ),
    ];
    this.userData = agentCloudInit({
      agentPackage: args.agent.package,
      ...(args.agent.nodeVersion !== undefined ? { nodeVersion: args.agent.nodeVersion } : {}),
      bootstrapConfig: fullConfig.apply(bootstrapConfigOf),
    });

    // Instances, each with a static external address.
    this.instanceZones = Array.from({ length: v.instanceCount }, (_, i) => args.zones[i % args.zones.length]!);
    this.addresses = [];
    this.instances = [];
    for (const [i, zone] of this.instanceZones.entries()) {
      const address = v.externalAddresses
        ? new gcp.compute.Address(
            `${name}-ip-${i}`,
            {
              project,
              region: v.region,
              addressType: 'EXTERNAL',
              networkTier: 'PREMIUM',
              description: `wiremesh gateway ${name} instance ${i}`,
            },
            { parent: this },
          )
        : undefined;
      if (address !== undefined) this.addresses.push(address);
      const previous = this.instances[i - 1];
      this.instances.push(
        createGatewayVm(
          `${name}-${i}`,
          {
            project,
            zone,
            network,
            subnetwork,
            address,
            v,
            image: args.image,
            serviceAccountEmail: this.serviceAccountEmail,
            userData: this.userData,
            networkTags: args.networkTags,
            labels,
            deletionProtection,
          },
          // The agent reads both secrets at boot: grants and versions exist first. The previous VM
          // too, so a bootstrap change replaces one VM of the gateway at a time.
          {
            parent: this,
            dependsOn: [
              ...this.secretGrants,
              configVersion,
              this.keySecret.version,
              ...(previous !== undefined ? [previous] : []),
            ],
            ...bootstrapReplacement(address !== undefined),
          },
        ),
      );
    }
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
    // Instance groups (load-balanced gateways): one unmanaged group per zone in use; the routes.
    this.instanceGroups = v.loadBalanced
      ? createInstanceGroups(name, project, this.instances, this.instanceZones, this)
      : [];
    if (args.internalLoadBalancer) {
      this.internalForwardingRule = createInternalLoadBalancer(
        name,
        { project, region: v.region, network, subnetwork, healthPort: v.healthPort, activeStandby: v.activeStandby },
        this.instanceGroups,
        this,
      );
    }
    this.routes = createGatewayRoutes(
      gatewayRouteSpecs(name, args.remoteCidrs, v.instanceCount, args.internalLoadBalancer === true),
      {
        project,
        network,
        priority: v.routePriority,
        ...(args.routeTags !== undefined && args.routeTags.length > 0 ? { tags: [...args.routeTags] } : {}),
      },
      (instance) =>
        instance === undefined
          ? { nextHopIlb: this.internalForwardingRule!.id }
          : { nextHopInstance: this.instances[instance]!.id },
      this,
    );

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

/** The gateway's document completed with its key and config secrets and its ports. */
function completedDocument(
  label: string,
  args: GcpGatewayArgs,
  v: ValidatedGcpGatewayArgs,
  keySource: pulumi.Output<SecretSourceConfig>,
  configSecretName: pulumi.Output<string>,
): pulumi.Output<AgentConfig> {
  const pollSeconds = args.agent.configPollSeconds ?? DEFAULT_POLL_SECONDS;
  return pulumi.all([args.agent.config, keySource, configSecretName]).apply(([config, privateKey, secretName]) =>
    completeAgentConfig(label, config as GatewayAgentConfig, {
      ...agentParts(args.agent),
      listenPort: v.listenPort,
      healthPort: v.healthPort,
      privateKey,
      configSource: { source: 'gcp-secret-manager', name: secretName, pollSeconds },
    }),
  );
}

/** Where and how one gateway VM runs. */
interface GatewayVmSettings {
  project: pulumi.Input<string> | undefined;
  zone: string;
  network: pulumi.Input<string>;
  subnetwork: pulumi.Input<string>;
  address: gcp.compute.Address | undefined;
  v: ValidatedGcpGatewayArgs;
  image: pulumi.Input<string> | undefined;
  serviceAccountEmail: pulumi.Input<string>;
  userData: pulumi.Input<string>;
  networkTags: string[] | undefined;
  labels: Record<string, string>;
  deletionProtection: boolean;
}

/**
 * How a VM takes a changed bootstrap (agent package, secret names): by being replaced. GCP updates
 * metadata in place and cloud-init runs `user-data` once per instance, so an in-place change
 * would never reach the agent; a new VM boots the new bootstrap from scratch (no state to carry:
 * the key and configuration are in Secret Manager). A static external address can be on one VM
 * only, so a VM holding one is deleted before its replacement is created.
 */
function bootstrapReplacement(
  holdsStaticAddress: boolean,
): Pick<pulumi.CustomResourceOptions, 'replaceOnChanges' | 'deleteBeforeReplace'> {
  return { replaceOnChanges: [USER_DATA_PATH], deleteBeforeReplace: holdsStaticAddress };
}

/** The property path of the cloud-init user data in an instance's metadata. */
const USER_DATA_PATH = 'metadata["user-data"]';

/** One gateway VM: shielded, forwarding, OS Login, the dedicated service account, references-only user data. */
function createGatewayVm(name: string, s: GatewayVmSettings, opts: pulumi.CustomResourceOptions): gcp.compute.Instance {
  return new gcp.compute.Instance(
    name,
    {
      project: s.project,
      zone: s.zone,
      machineType: s.v.machineType,
      canIpForward: true,
      bootDisk: {
        initializeParams: { image: s.image ?? DEFAULT_IMAGE, size: s.v.bootDiskSizeGb, type: 'pd-balanced' },
      },
      networkInterfaces: [
        {
          network: s.network,
          subnetwork: s.subnetwork,
          ...(s.address ? { accessConfigs: [{ natIp: s.address.address, networkTier: 'PREMIUM' }] } : {}),
        },
      ],
      serviceAccount: { email: s.serviceAccountEmail, scopes: [CLOUD_PLATFORM_SCOPE] },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      metadata: { 'enable-oslogin': 'TRUE', 'block-project-ssh-keys': 'TRUE', 'user-data': s.userData },
      tags: [GCP_GATEWAY_NETWORK_TAG, ...(s.networkTags ?? [])],
      labels: { ...s.labels, [GCP_LABEL_ROLE]: ROLE_GATEWAY },
      allowStoppingForUpdate: true,
      deletionProtection: s.deletionProtection,
      scheduling: { automaticRestart: true, onHostMaintenance: 'MIGRATE' },
    },
    opts,
  );
}
