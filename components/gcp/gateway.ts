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
 *   secret names), never key material.
 *
 * Firewall (ingress, targeted at the gateway's service account, never at the whole network):
 * - UDP `listenPort` (default 51820) from `peerCidrs` only; `0.0.0.0/0` only with
 *   `allowFromAnywhere: true`;
 * - TCP `healthPort` from Google's health-check probe ranges, only when something probes it (the
 *   internal LB: 35.191.0.0/16, 130.211.0.0/22; the external NLB of a group: 35.191.0.0/16,
 *   209.85.152.0/22, 209.85.204.0/22);
 * - optionally (`forwardFromCidrs`) all traffic from local ranges that send through the gateway.
 *   Without it, forwarded traffic needs one of your own rules (a custom VPC denies ingress by
 *   default).
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
 * Routes to the remote sites (`remoteCidrs`):
 * - default: one `gcp.compute.Route` per remote CIDR per instance (`nextHopInstance`), all with the
 *   same priority, so the VPC spreads flows over the instances (ECMP; no health awareness);
 * - `internalLoadBalancer: true`: an internal passthrough NLB (L3_DEFAULT forwarding rule over a
 *   backend service of per-zone unmanaged instance groups, TCP health check on `healthPort`) and
 *   one route per remote CIDR with `nextHopIlb` pointing at it (health-checked).
 *
 * Not done here (follow-ups): managed instance groups / autoscaling, Cloud NAT,
 * IPv6 remote prefixes, ILB failover policies (active/standby).
 */
import { createHash } from 'node:crypto';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig, DataPlaneKind, HealthConfig, InterfaceConfig, ListenConfig } from '../../agent/gateway/config-types';
import type { SecretSourceConfig } from '../../agent/secrets/types';
import { agentCloudInit, agentConfigDocument } from '../bootstrap';
import { WireGuardKey } from '../key';
import {
  GcpKeySecret,
  type GcpSecretReplicationArgs,
  grantSecretAccessor,
  secretReplication,
  secretResourceName,
} from './key-secret';
import {
  GOOGLE_HEALTH_CHECK_RANGES,
  NETWORK_LB_HEALTH_CHECK_RANGES,
  checkCidrList,
  checkComponentName,
  checkLabels,
  checkNetworkTags,
  checkPort,
  parseIpv4Cidr,
  regionOfZone,
} from './validation';
import { fail, isPlain } from '../errors';
import { splitHostPort } from '../../common/hostport';
import { GCP_GATEWAY_NETWORK_TAG, GCP_LABEL_ROLE, HEALTH_PORT, ROLE_GATEWAY, WIREGUARD_PORT } from '../../common/defaults';

const COMPONENT = 'GcpGateway';

/** The OAuth scope of the gateway VMs: IAM, not scopes, restricts what they may do. */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Default boot image: shielded-VM capable, with cloud-init (reads `user-data`). */
export const DEFAULT_IMAGE = 'ubuntu-os-cloud/ubuntu-2404-lts-amd64';
/** Longest component name: children are `<name>-<role>` and auto-named with 8 more characters. */
export const MAX_GATEWAY_NAME_LENGTH = 30;
/** Most instances one gateway may have. */
export const MAX_INSTANCES = 16;

/** The agent interface settings the caller gives (name and port come from the gateway). */
export interface GcpGatewayInterfaceConfig extends Omit<InterfaceConfig, 'name' | 'listenPort'> {
  /** Must equal the gateway's `agent.interfaceName` when given. */
  name?: string;
  /** Must equal the gateway's `listenPort` when given. */
  listenPort?: number;
}

/**
 * The agent configuration document without the parts the gateway fills in: `privateKey` (its key
 * secret), `configSource` (its config secret), `interface.name`/`listenPort` and `health.listen`.
 */
export interface GcpGatewayAgentConfig extends Omit<AgentConfig, 'interface' | 'privateKey' | 'nextPrivateKey' | 'configSource'> {
  interface: GcpGatewayInterfaceConfig;
}

/** How the agent is installed and configured. */
export interface GcpGatewayAgentArgs {
  /** The pinned agent package (`wiremesh@0.1.0` or an https `.tgz` URL), see `agentCloudInit`. */
  package: pulumi.Input<string>;
  /** Node.js major version on the VM; default "24". */
  nodeVersion?: string;
  /** WireGuard interface name; default `wm0`. */
  interfaceName?: string;
  /** Data plane; default: the document's `dataPlane`, else `auto`. */
  dataPlane?: DataPlaneKind;
  /** host:port of the metrics listener; default: the document's, else none. */
  metricsListen?: string;
  /** How often the agent polls its config secret, seconds; default 60. */
  configPollSeconds?: number;
  /** Peers, addresses, routes... (see {@link GcpGatewayAgentConfig}). */
  config: pulumi.Input<GcpGatewayAgentConfig>;
}

/** A key created elsewhere (a `WireGuardKey` fits). */
export interface GcpGatewayKeyArgs {
  /** Secret Output, base64. */
  privateKey: pulumi.Input<string>;
  publicKey: pulumi.Input<string>;
  /** ISO 8601. */
  createdAt: pulumi.Input<string>;
}

/** The network a gateway creates (see {@link GcpGatewayArgs.createNetwork}). */
export interface GcpGatewayCreateNetworkArgs {
  /** The subnetwork's primary IPv4 range, e.g. `10.40.0.0/24`. */
  cidr: string;
}

/** Arguments of {@link GcpGateway}. */
export interface GcpGatewayArgs {
  /** Project of every resource; default: the provider's project. */
  project?: pulumi.Input<string>;
  /** Zones of the instances, all in one region (e.g. `["europe-west1-b", "europe-west1-c"]`). */
  zones: string[];
  /** Number of instances, spread round-robin over `zones`; default 1 (1 to 16). */
  instanceCount?: number;
  /** The VPC network (name, id or self link), with `subnetwork`. Excludes `createNetwork`. */
  network?: pulumi.Input<string>;
  /** With `network`: the subnetwork of the instances (in the zones' region). */
  subnetwork?: pulumi.Input<string>;
  /**
   * Create the network instead of passing `network` and `subnetwork`: a custom-mode network and one
   * subnetwork with primary range `cidr` (IPv4, /8 to /29) in the zones' region.
   */
  createNetwork?: GcpGatewayCreateNetworkArgs;
  /** Machine type; default `e2-small`. */
  machineType?: string;
  /**
   * Boot image; default `ubuntu-os-cloud/ubuntu-2404-lts-amd64`. It must support shielded VM and
   * run cloud-init (the bootstrap is `user-data`): Google's Debian images do not run cloud-init.
   */
  image?: pulumi.Input<string>;
  /** Boot disk size in GB; default 10. */
  bootDiskSizeGb?: number;
  /** WireGuard UDP port; default 51820. */
  listenPort?: number;
  /** TCP port of the agent's health listener; default 9587. */
  healthPort?: number;
  /** Where peers connect from: the only sources of the WireGuard firewall rule. */
  peerCidrs?: string[];
  /** Open the WireGuard port to 0.0.0.0/0 (peers behind changing addresses). Default false. */
  allowFromAnywhere?: boolean;
  /** The remote sites' prefixes routed to the gateway. */
  remoteCidrs: string[];
  /** Priority of the routes (0 to 65535, lower wins); default 900. */
  routePriority?: number;
  /** Only instances with one of these tags use the routes; default: the whole network. */
  routeTags?: string[];
  /** Route through an internal passthrough NLB over the instances instead of one route per instance. */
  internalLoadBalancer?: boolean;
  /**
   * Active/standby instead of spreading flows: the instance in the first zone is the load
   * balancers' primary backend, the others are failover backends that take over when it fails its
   * health check (and hand back when it recovers). Needs a load balancer (`internalLoadBalancer`, or
   * a group) and at most one instance per zone. Recommended with a shared key (see above).
   */
  activeStandby?: boolean;
  /**
   * Prepare the instances as backends of an external passthrough NLB (per-zone instance groups,
   * health port open to the NLB probe ranges). Set by {@link GcpGatewayGroup}, which creates the LB.
   */
  externalLoadBalancer?: boolean;
  /** Static external address per instance; default true. */
  externalAddresses?: boolean;
  /** Ranges allowed to send any traffic through the gateways (firewall rule); default none. */
  forwardFromCidrs?: string[];
  /** Extra network tags of the instances. */
  networkTags?: string[];
  /** Extra labels on instances and secrets (plain; `wiremesh-` is reserved). */
  labels?: Record<string, string>;
  /** Agent installation and configuration. */
  agent: GcpGatewayAgentArgs;
  /** A key created elsewhere; default: a new `WireGuardKey` (rotated every `maxKeyAgeDays`). */
  key?: GcpGatewayKeyArgs;
  /** Maximum key age when the gateway creates the key; default 90. */
  maxKeyAgeDays?: number;
  /** Replication of the key and config secrets; default automatic. */
  secretReplication?: GcpSecretReplicationArgs;
  /**
   * The service account id (6 to 30 characters); default `wm-<name>-<hash>` (the hash of project,
   * stack and name keeps stacks sharing a GCP project apart).
   */
  serviceAccountId?: string;
  /** Refuse deleting the instances and secrets; default false. */
  deletionProtection?: boolean;
  /**
   * Further secrets the agent reads (e.g. the preshared keys its configuration references): the
   * service account gets `roles/secretmanager.secretAccessor` on exactly each (a secret-level
   * member `<name>-read-<i>`), before the instances boot. Default none.
   */
  extraSecretReads?: gcp.secretmanager.Secret[];
}

/**
 * Failover policy of active/standby backend services: fail over as soon as the one primary
 * instance is unhealthy, without draining (UDP flows move at once), and keep forwarding to every
 * instance when all are down rather than dropping.
 */
export const ACTIVE_STANDBY_FAILOVER_POLICY = Object.freeze({
  failoverRatio: 1,
  disableConnectionDrainOnFailover: true,
  dropTrafficIfUnhealthy: false,
});

/** Backends of a passthrough LB over the gateway's instance groups (the first is primary when active/standby). */
export function loadBalancerBackends(
  groups: readonly gcp.compute.InstanceGroup[],
  activeStandby: boolean,
): gcp.types.input.compute.RegionBackendServiceBackend[] {
  return groups.map((group, i) => ({ group: group.id, balancingMode: 'CONNECTION', ...(activeStandby ? { failover: i > 0 } : {}) }));
}

/** The default service account id of a gateway: `wm-<name, at most 20>-<6 hex>`. */
export function defaultServiceAccountId(name: string): string {
  const hash = createHash('sha256').update(`${pulumi.getProject()}/${pulumi.getStack()}/${name}`).digest('hex').slice(0, 6);
  const prefix = name.slice(0, 20).replace(/-+$/, '');
  return `wm-${prefix}-${hash}`;
}

/** `10.20.0.0/16` → `10-20-0-0-16` (route names derive from the CIDR, so adding one renames none). */
function cidrSlug(cidr: string): string {
  return cidr.replace(/[./]/g, '-');
}

/** Everything about the agent document the gateway fills in. */
export interface AgentDocumentParts {
  interfaceName: string;
  listenPort: number;
  healthPort: number;
  privateKey: SecretSourceConfig;
  configSecretName: string;
  pollSeconds: number;
  dataPlane: DataPlaneKind | undefined;
  metricsListen: string | undefined;
}

/** The full agent configuration of a gateway; throws when the caller's part contradicts it. */
export function gatewayAgentConfig(name: string, config: GcpGatewayAgentConfig, parts: AgentDocumentParts, component = COMPONENT): AgentConfig {
  if (typeof config !== 'object' || config === null) fail(component, name, 'agent.config must be an object');
  const forbidden = ['privateKey', 'nextPrivateKey', 'configSource'].filter((k) => k in (config as object));
  if (forbidden.length > 0) {
    fail(component, name, `agent.config must not set ${forbidden.join(', ')}: the gateway points the agent at its own secrets`);
  }
  const iface = config.interface;
  if (typeof iface !== 'object' || iface === null) fail(component, name, 'agent.config.interface is required (addresses, mtu...)');
  if (iface.name !== undefined && iface.name !== parts.interfaceName) {
    fail(component, name, `agent.config.interface.name "${iface.name}" differs from agent.interfaceName "${parts.interfaceName}"`);
  }
  if (iface.listenPort !== undefined && iface.listenPort !== parts.listenPort) {
    fail(component, name, `agent.config.interface.listenPort ${iface.listenPort} differs from listenPort ${parts.listenPort} (the firewall and load balancer port)`);
  }
  const healthListen = `0.0.0.0:${parts.healthPort}`;
  let health: HealthConfig = { listen: healthListen };
  if (config.health !== undefined) {
    const port = typeof config.health.listen === 'string' ? splitHostPort(config.health.listen).port : undefined;
    if (config.health.listen !== undefined && port !== parts.healthPort) {
      fail(component, name, `agent.config.health.listen "${String(config.health.listen)}" must use healthPort ${parts.healthPort} (the health-check port)`);
    }
    health = { ...config.health, listen: config.health.listen ?? healthListen };
  }
  let metrics: ListenConfig | undefined = config.metrics;
  if (parts.metricsListen !== undefined) {
    if (metrics !== undefined && metrics.listen !== parts.metricsListen) {
      fail(component, name, `agent.config.metrics.listen "${metrics.listen}" differs from agent.metricsListen "${parts.metricsListen}"`);
    }
    metrics = { listen: parts.metricsListen };
  }
  const dataPlane = config.dataPlane ?? parts.dataPlane;
  if (config.dataPlane !== undefined && parts.dataPlane !== undefined && config.dataPlane !== parts.dataPlane) {
    fail(component, name, `agent.config.dataPlane "${config.dataPlane}" differs from agent.dataPlane "${parts.dataPlane}"`);
  }
  const { interface: _iface, health: _health, metrics: _metrics, dataPlane: _dataPlane, ...rest } = config;
  return {
    interface: { name: parts.interfaceName, ...iface, listenPort: parts.listenPort },
    privateKey: parts.privateKey,
    ...rest,
    configSource: { source: 'gcp-secret-manager', name: parts.configSecretName, pollSeconds: parts.pollSeconds },
    health,
    ...(metrics !== undefined ? { metrics } : {}),
    ...(dataPlane !== undefined ? { dataPlane } : {}),
  };
}

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
    const v = validateGatewayArgs(name, args);
    const replication = secretReplication(COMPONENT, name, args.secretReplication);
    super('wiremesh:gcp:GcpGateway', name, {}, opts);
    this.region = v.region;
    this.listenPort = v.listenPort;
    this.healthPort = v.healthPort;
    this.activeStandby = v.activeStandby;
    const project = args.project;
    const labels = args.labels ?? {};

    // The network: the caller's, or a custom-mode one with one subnetwork, made here.
    let network: pulumi.Input<string>;
    let subnetwork: pulumi.Input<string>;
    if (args.createNetwork !== undefined) {
      this.network = new gcp.compute.Network(
        `${name}-net`,
        { project, autoCreateSubnetworks: false, routingMode: 'REGIONAL', description: `wiremesh gateway ${name}: its network` },
        { parent: this },
      );
      this.subnetwork = new gcp.compute.Subnetwork(
        `${name}-subnet`,
        {
          project,
          region: v.region,
          network: this.network.id,
          ipCidrRange: args.createNetwork.cidr,
          description: `wiremesh gateway ${name}: its subnetwork`,
        },
        { parent: this },
      );
      network = this.network.id;
      subnetwork = this.subnetwork.id;
    } else {
      network = args.network!;
      subnetwork = args.subnetwork!;
    }

    // Key: the caller's, or a new one; stored in Secret Manager.
    const key = args.key ?? new WireGuardKey(`${name}-key`, args.maxKeyAgeDays !== undefined ? { maxAgeDays: args.maxKeyAgeDays } : {}, { parent: this });
    this.publicKey = pulumi.output(key.publicKey);
    this.keySecret = new GcpKeySecret(
      `${name}-key`,
      {
        privateKey: key.privateKey,
        createdAt: key.createdAt,
        project,
        labels,
        ...(args.secretReplication !== undefined ? { replication: args.secretReplication } : {}),
        deletionProtection: args.deletionProtection ?? false,
      },
      { parent: this },
    );

    // The service account: no role but the two secret-level grants below.
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
      {
        project,
        replication,
        labels: { ...labels, [GCP_LABEL_ROLE]: 'agent-config' },
        deletionProtection: args.deletionProtection ?? false,
      },
      { parent: this },
    );
    this.configSecretName = secretResourceName(this.configSecret);
    const interfaceName = args.agent.interfaceName ?? 'wm0';
    const pollSeconds = args.agent.configPollSeconds ?? 60;
    const partsOf = (privateKey: SecretSourceConfig, configSecretName: string): AgentDocumentParts => ({
      interfaceName,
      listenPort: v.listenPort,
      healthPort: v.healthPort,
      privateKey,
      configSecretName,
      pollSeconds,
      dataPlane: args.agent.dataPlane,
      metricsListen: args.agent.metricsListen,
    });
    const fullConfig = pulumi
      .all([args.agent.config, this.keySecret.sourceConfig, this.configSecretName])
      .apply(([config, privateKey, configSecretName]) =>
        gatewayAgentConfig(name, config as GcpGatewayAgentConfig, partsOf(privateKey, configSecretName)),
      );
    this.agentConfig = agentConfigDocument(fullConfig);
    const configVersion = new gcp.secretmanager.SecretVersion(
      `${name}-config-version`,
      { secret: this.configSecret.id, secretData: this.agentConfig, enabled: true },
      { parent: this },
    );

    this.secretGrants = [
      this.keySecret.grantAccessor(`${name}-key-read`, this.serviceAccountEmail, { parent: this }),
      grantSecretAccessor(`${name}-config-read`, { secret: this.configSecret, serviceAccountEmail: this.serviceAccountEmail }, { parent: this }),
      ...(args.extraSecretReads ?? []).map((secret, i) =>
        grantSecretAccessor(`${name}-read-${i}`, { secret, serviceAccountEmail: this.serviceAccountEmail }, { parent: this }),
      ),
    ];

    this.userData = agentCloudInit({
      agentPackage: args.agent.package,
      ...(args.agent.nodeVersion !== undefined ? { nodeVersion: args.agent.nodeVersion } : {}),
      bootstrapConfig: pulumi.all([this.keySecret.sourceConfig, this.configSecretName]).apply(([privateKey, configSecretName]) => ({
        interfaceName,
        privateKey,
        configSource: { source: 'gcp-secret-manager' as const, name: configSecretName, pollSeconds },
        healthListen: `0.0.0.0:${v.healthPort}`,
        ...(args.agent.metricsListen !== undefined ? { metricsListen: args.agent.metricsListen } : {}),
        ...(args.agent.dataPlane !== undefined ? { dataPlane: args.agent.dataPlane } : {}),
      })),
    });

    // Instances, each with a static external address.
    this.instanceZones = [];
    this.addresses = [];
    this.instances = [];
    for (let i = 0; i < v.instanceCount; i++) {
      const zone = args.zones[i % args.zones.length]!;
      this.instanceZones.push(zone);
      let address: gcp.compute.Address | undefined;
      if (v.externalAddresses) {
        address = new gcp.compute.Address(
          `${name}-ip-${i}`,
          { project, region: v.region, addressType: 'EXTERNAL', networkTier: 'PREMIUM', description: `wiremesh gateway ${name} instance ${i}` },
          { parent: this },
        );
        this.addresses.push(address);
      }
      this.instances.push(
        new gcp.compute.Instance(
          `${name}-${i}`,
          {
            project,
            zone,
            machineType: v.machineType,
            canIpForward: true,
            bootDisk: {
              initializeParams: { image: args.image ?? DEFAULT_IMAGE, size: v.bootDiskSizeGb, type: 'pd-balanced' },
            },
            networkInterfaces: [
              {
                network,
                subnetwork,
                ...(address ? { accessConfigs: [{ natIp: address.address, networkTier: 'PREMIUM' }] } : {}),
              },
            ],
            serviceAccount: { email: this.serviceAccountEmail, scopes: [CLOUD_PLATFORM_SCOPE] },
            shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
            metadata: {
              'enable-oslogin': 'TRUE',
              'block-project-ssh-keys': 'TRUE',
              'user-data': this.userData,
            },
            tags: [GCP_GATEWAY_NETWORK_TAG, ...(args.networkTags ?? [])],
            labels: { ...labels, [GCP_LABEL_ROLE]: ROLE_GATEWAY },
            allowStoppingForUpdate: true,
            deletionProtection: args.deletionProtection ?? false,
            scheduling: { automaticRestart: true, onHostMaintenance: 'MIGRATE' },
          },
          // The agent reads both secrets at boot: grants and versions exist first.
          { parent: this, dependsOn: [...this.secretGrants, configVersion, this.keySecret.version] },
        ),
      );
    }
    this.endpoints = pulumi.all(this.addresses.map((a) => a.address)).apply((ips) => ips.map((ip) => `${ip}:${v.listenPort}`));
    this.internalIps = pulumi.all(this.instances.map((inst) => inst.networkInterfaces.apply((nics) => nics[0]?.networkIp ?? '')));

    // Firewall: WireGuard from the peers; health from the probes (load-balanced only); forwarding on request.
    const targetServiceAccounts = [this.serviceAccountEmail];
    this.firewalls = [
      new gcp.compute.Firewall(
        `${name}-wg`,
        {
          project,
          network,
          description: `wiremesh gateway ${name}: WireGuard UDP ${v.listenPort} from its peers`,
          direction: 'INGRESS',
          priority: 1000,
          allows: [{ protocol: 'udp', ports: [String(v.listenPort)] }],
          sourceRanges: args.allowFromAnywhere ? ['0.0.0.0/0'] : [...(args.peerCidrs ?? [])],
          targetServiceAccounts,
        },
        { parent: this },
      ),
    ];
    if (v.healthCheckRanges.length > 0) {
      this.firewalls.push(
        new gcp.compute.Firewall(
          `${name}-health`,
          {
            project,
            network,
            description: `wiremesh gateway ${name}: agent health port TCP ${v.healthPort} from Google health checks`,
            direction: 'INGRESS',
            priority: 1000,
            allows: [{ protocol: 'tcp', ports: [String(v.healthPort)] }],
            sourceRanges: v.healthCheckRanges,
            targetServiceAccounts,
          },
          { parent: this },
        ),
      );
    }
    if ((args.forwardFromCidrs ?? []).length > 0) {
      this.firewalls.push(
        new gcp.compute.Firewall(
          `${name}-fwd`,
          {
            project,
            network,
            description: `wiremesh gateway ${name}: traffic forwarded through the gateway to the remote sites`,
            direction: 'INGRESS',
            priority: 1000,
            allows: [{ protocol: 'all' }],
            sourceRanges: [...args.forwardFromCidrs!],
            targetServiceAccounts,
          },
          { parent: this },
        ),
      );
    }

    // Instance groups (load-balanced gateways): one unmanaged group per zone in use.
    this.instanceGroups = [];
    if (v.loadBalanced) {
      for (const zone of [...new Set(this.instanceZones)]) {
        const members = this.instances.filter((_, i) => this.instanceZones[i] === zone);
        this.instanceGroups.push(
          new gcp.compute.InstanceGroup(
            `${name}-ig-${zone.slice(zone.lastIndexOf('-') + 1)}`,
            // The network defaults to the instances' (passing a name here would not match a self link).
            { project, zone, instances: members.map((m) => m.id), description: `wiremesh gateway ${name} in ${zone}` },
            { parent: this },
          ),
        );
      }
    }

    // Routes to the remote sites.
    this.routes = [];
    const routeCommon = {
      project,
      network,
      priority: v.routePriority,
      ...(args.routeTags !== undefined && args.routeTags.length > 0 ? { tags: [...args.routeTags] } : {}),
    };
    if (args.internalLoadBalancer) {
      const healthCheck = new gcp.compute.RegionHealthCheck(
        `${name}-ilb-hc`,
        {
          project,
          region: v.region,
          description: `wiremesh gateway ${name}: agent health port`,
          tcpHealthCheck: { port: v.healthPort },
          checkIntervalSec: 5,
          timeoutSec: 5,
          healthyThreshold: 2,
          unhealthyThreshold: 2,
        },
        { parent: this },
      );
      const backendService = new gcp.compute.RegionBackendService(
        `${name}-ilb`,
        {
          project,
          region: v.region,
          description: `wiremesh gateway ${name}: next hop to the remote sites`,
          loadBalancingScheme: 'INTERNAL',
          protocol: 'UNSPECIFIED',
          healthChecks: healthCheck.id,
          backends: loadBalancerBackends(this.instanceGroups, v.activeStandby),
          ...(v.activeStandby ? { failoverPolicy: ACTIVE_STANDBY_FAILOVER_POLICY } : {}),
        },
        { parent: this },
      );
      this.internalForwardingRule = new gcp.compute.ForwardingRule(
        `${name}-ilb-fr`,
        {
          project,
          region: v.region,
          description: `wiremesh gateway ${name}: next hop to the remote sites`,
          loadBalancingScheme: 'INTERNAL',
          ipProtocol: 'L3_DEFAULT',
          allPorts: true,
          backendService: backendService.id,
          network,
          subnetwork,
        },
        { parent: this },
      );
      for (const cidr of args.remoteCidrs) {
        this.routes.push(
          new gcp.compute.Route(
            `${name}-ilb-r-${cidrSlug(cidr)}`,
            { ...routeCommon, destRange: cidr, nextHopIlb: this.internalForwardingRule.id, description: `wiremesh: ${cidr} via gateway ${name} (internal LB)` },
            { parent: this },
          ),
        );
      }
    } else {
      this.instances.forEach((instance, i) => {
        for (const cidr of args.remoteCidrs) {
          this.routes.push(
            new gcp.compute.Route(
              `${name}-r${i}-${cidrSlug(cidr)}`,
              { ...routeCommon, destRange: cidr, nextHopInstance: instance.id, description: `wiremesh: ${cidr} via gateway ${name} instance ${i}` },
              { parent: this },
            ),
          );
        }
      });
    }

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

/** The validated, defaulted plain arguments of a gateway. */
export interface ValidatedGatewayArgs {
  region: string;
  instanceCount: number;
  listenPort: number;
  healthPort: number;
  routePriority: number;
  machineType: string;
  bootDiskSizeGb: number;
  externalAddresses: boolean;
  loadBalanced: boolean;
  healthCheckRanges: string[];
  serviceAccountId: string;
  activeStandby: boolean;
}

/** Checks every plain argument of a gateway (exported for GcpGatewayGroup). */
export function validateGatewayArgs(name: string, args: GcpGatewayArgs, component = COMPONENT): ValidatedGatewayArgs {
  checkComponentName(component, name, MAX_GATEWAY_NAME_LENGTH);
  if (typeof args !== 'object' || args === null) fail(component, name, 'args are required');

  if (!Array.isArray(args.zones) || args.zones.length === 0) fail(component, name, 'zones must list at least one zone (e.g. ["europe-west1-b"])');
  const regions = new Set<string>();
  for (const zone of args.zones) {
    const region = typeof zone === 'string' ? regionOfZone(zone) : undefined;
    if (!region) fail(component, name, `zones: "${String(zone)}" is not a zone name (e.g. europe-west1-b)`);
    regions.add(region);
  }
  if (new Set(args.zones).size !== args.zones.length) fail(component, name, 'zones: a zone is listed twice');
  if (regions.size > 1) fail(component, name, `zones must all be in one region (the subnetwork's), got ${[...regions].join(', ')}`);
  const region = [...regions][0]!;

  const instanceCount = args.instanceCount ?? 1;
  if (!Number.isInteger(instanceCount) || instanceCount < 1 || instanceCount > MAX_INSTANCES) {
    fail(component, name, `instanceCount must be an integer from 1 to ${MAX_INSTANCES}, got ${String(args.instanceCount)}`);
  }
  // The network: exactly one of network + subnetwork (bring your own) and createNetwork.
  const missing = (value: unknown): boolean => value === undefined || value === null || value === '';
  if (args.createNetwork !== undefined && args.createNetwork !== null) {
    if (!missing(args.network) || !missing(args.subnetwork)) {
      fail(component, name, 'give either network and subnetwork (bring your own VPC) or createNetwork (a network the gateway creates), not both');
    }
    const cidr = typeof args.createNetwork === 'object' ? args.createNetwork.cidr : undefined;
    const parsed = typeof cidr === 'string' ? parseIpv4Cidr(cidr) : undefined;
    if (!parsed || parsed.prefixLength < 8 || parsed.prefixLength > 29) {
      fail(component, name, `createNetwork.cidr must be an IPv4 CIDR from /8 to /29 with its host bits zero (e.g. 10.40.0.0/24), got ${JSON.stringify(cidr)}`);
    }
  } else if (missing(args.network) && missing(args.subnetwork)) {
    fail(component, name, 'give network and subnetwork (bring your own VPC) or createNetwork: { cidr } (a network the gateway creates)');
  } else {
    if (missing(args.network)) fail(component, name, 'network is required (bring your own VPC) with subnetwork, or give createNetwork instead of both');
    if (missing(args.subnetwork)) fail(component, name, 'subnetwork is required (bring your own VPC) with network, or give createNetwork instead of both');
  }

  const listenPort = args.listenPort ?? WIREGUARD_PORT;
  checkPort(component, name, 'listenPort', listenPort);
  const healthPort = args.healthPort ?? HEALTH_PORT;
  checkPort(component, name, 'healthPort', healthPort);

  if (args.allowFromAnywhere !== undefined && typeof args.allowFromAnywhere !== 'boolean') fail(component, name, 'allowFromAnywhere must be a boolean');
  if (args.allowFromAnywhere) {
    if ((args.peerCidrs ?? []).length > 0) {
      fail(component, name, 'pass either peerCidrs or allowFromAnywhere: true, not both (allowFromAnywhere opens the port to 0.0.0.0/0)');
    }
  } else {
    if (args.peerCidrs === undefined || (Array.isArray(args.peerCidrs) && args.peerCidrs.length === 0)) {
      fail(component, name, 'peerCidrs must list where peers connect from (or set allowFromAnywhere: true to open the WireGuard port to 0.0.0.0/0)');
    }
    checkCidrList(component, name, 'peerCidrs', args.peerCidrs, { defaultHint: 'set allowFromAnywhere: true to open the WireGuard port to everyone' });
  }

  if (args.remoteCidrs === undefined) fail(component, name, 'remoteCidrs must list the remote sites\' prefixes to route to the gateway');
  checkCidrList(component, name, 'remoteCidrs', args.remoteCidrs, { defaultHint: 'a default route through the gateway is not supported' });
  if (args.forwardFromCidrs !== undefined) {
    checkCidrList(component, name, 'forwardFromCidrs', args.forwardFromCidrs, { allowEmpty: true, defaultHint: 'list the local ranges that send through the gateway' });
  }

  const routePriority = args.routePriority ?? 900;
  if (!Number.isInteger(routePriority) || routePriority < 0 || routePriority > 65535) {
    fail(component, name, `routePriority must be an integer from 0 to 65535, got ${String(args.routePriority)}`);
  }
  checkNetworkTags(component, name, 'routeTags', args.routeTags);
  checkNetworkTags(component, name, 'networkTags', args.networkTags);
  checkLabels(component, name, args.labels);

  const machineType = args.machineType ?? 'e2-small';
  if (typeof machineType !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(machineType)) {
    fail(component, name, `machineType must be a machine type name such as e2-small, got ${JSON.stringify(machineType)}`);
  }
  const bootDiskSizeGb = args.bootDiskSizeGb ?? 10;
  if (!Number.isInteger(bootDiskSizeGb) || bootDiskSizeGb < 10 || bootDiskSizeGb > 65536) {
    fail(component, name, `bootDiskSizeGb must be an integer from 10 to 65536, got ${String(args.bootDiskSizeGb)}`);
  }

  if (typeof args.agent !== 'object' || args.agent === null) fail(component, name, 'agent is required (package and config)');
  if (args.agent.package === undefined || args.agent.package === null || args.agent.package === '') {
    fail(component, name, 'agent.package is required (a pinned agent package, e.g. "wiremesh@0.1.0")');
  }
  if (args.agent.config === undefined || args.agent.config === null) fail(component, name, 'agent.config is required (interface addresses and peers)');
  const interfaceName = args.agent.interfaceName ?? 'wm0';
  if (typeof interfaceName !== 'string' || !/^[A-Za-z0-9_=+.-]{1,15}$/.test(interfaceName)) {
    fail(component, name, `agent.interfaceName must be 1 to 15 of letters, digits, "_=+.-", got ${JSON.stringify(interfaceName)}`);
  }
  const pollSeconds = args.agent.configPollSeconds ?? 60;
  if (!Number.isInteger(pollSeconds) || pollSeconds < 1) {
    fail(component, name, `agent.configPollSeconds must be a positive integer, got ${String(args.agent.configPollSeconds)}`);
  }
  if (isPlain(args.agent.config)) {
    // A plain document is checked now (placeholders for the secret names not known yet); a late
    // one when it resolves, with the same messages.
    gatewayAgentConfig(name, args.agent.config as GcpGatewayAgentConfig, {
      interfaceName,
      listenPort,
      healthPort,
      privateKey: { source: 'gcp-secret-manager', name: 'projects/p/secrets/key' },
      configSecretName: 'projects/p/secrets/config',
      pollSeconds,
      dataPlane: args.agent.dataPlane,
      metricsListen: args.agent.metricsListen,
    }, component);
  }
  if (args.key !== undefined && args.maxKeyAgeDays !== undefined) {
    fail(component, name, 'maxKeyAgeDays applies only to a key the gateway creates; rotate the given key where it is created');
  }
  if (args.key !== undefined && (typeof args.key !== 'object' || args.key === null || !('privateKey' in args.key) || !('publicKey' in args.key) || !('createdAt' in args.key))) {
    fail(component, name, 'key must have privateKey (a secret Output), publicKey and createdAt (a WireGuardKey fits)');
  }
  if (args.key !== undefined && !pulumi.Output.isInstance(args.key.privateKey)) {
    fail(component, name, 'key.privateKey must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain value');
  }
  if (args.maxKeyAgeDays !== undefined && (!Number.isInteger(args.maxKeyAgeDays) || args.maxKeyAgeDays < 1 || args.maxKeyAgeDays > 3650)) {
    fail(component, name, `maxKeyAgeDays must be a whole number of days from 1 to 3650, got ${String(args.maxKeyAgeDays)}`);
  }

  const serviceAccountId = args.serviceAccountId ?? defaultServiceAccountId(name);
  if (typeof serviceAccountId !== 'string' || !/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/.test(serviceAccountId)) {
    fail(component, name, `serviceAccountId must be 6 to 30 lowercase letters, digits and hyphens, starting with a letter, got ${JSON.stringify(serviceAccountId)}`);
  }

  const loadBalanced = args.internalLoadBalancer === true || args.externalLoadBalancer === true;
  const activeStandby = args.activeStandby === true;
  if (activeStandby && !loadBalanced) {
    fail(component, name, 'activeStandby needs a load balancer (internalLoadBalancer: true, or a GcpGatewayGroup): routes to instances have no health checks');
  }
  if (activeStandby && instanceCount > args.zones.length) {
    fail(component, name, `activeStandby takes at most one instance per zone (the first zone's is the primary), got ${instanceCount} instances in ${args.zones.length} zones`);
  }
  const healthCheckRanges = [
    ...new Set([
      ...(args.internalLoadBalancer ? GOOGLE_HEALTH_CHECK_RANGES : []),
      ...(args.externalLoadBalancer ? NETWORK_LB_HEALTH_CHECK_RANGES : []),
    ]),
  ].sort();

  return {
    region,
    instanceCount,
    listenPort,
    healthPort,
    routePriority,
    machineType,
    bootDiskSizeGb,
    externalAddresses: args.externalAddresses ?? true,
    loadBalanced,
    healthCheckRanges,
    serviceAccountId,
    activeStandby,
  };
}
