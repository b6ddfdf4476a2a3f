/** The arguments of {@link WireGuardMesh} (components/mesh/index.ts) and its `sites` output. */
import type * as aws from '@pulumi/aws';
import type * as command from '@pulumi/command';
import type * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';
import type { DataPlaneKind } from '../../agent/gateway/config-types';
import type { MeshSpec, SiteSpec } from '../../mesh/spec';
import type { AwsGatewaySubnetArgs } from '../aws/gateway-args';
import type { AwsGatewayGroupArgs } from '../aws/gateway-group';
import type { GcpGatewayGroupArgs } from '../gcp/gateway-group';

/** Where one `aws` site's gateway runs, and how. Keyed by site name in {@link AwsMeshArgs.sites}. */
export interface AwsSitePlacement extends Pick<
  AwsGatewayGroupArgs,
  | 'vpcId'
  | 'healthCheckCidrs'
  | 'forwardFromCidrs'
  | 'instanceType'
  | 'ami'
  | 'architecture'
  | 'kmsKeyId'
  | 'secretRecoveryWindowInDays'
  | 'permissionsBoundary'
  | 'rootVolumeSizeGiB'
  | 'tags'
  | 'loadBalancerSubnetIds'
  | 'crossZoneLoadBalancing'
  | 'healthCheckProtocol'
  | 'healthCheckIntervalSeconds'
  | 'deregistrationDelaySeconds'
  | 'deletionProtection'
> {
  /**
   * One subnet per gateway of the site (the spec's `gateways`, default 1), normally one per AZ,
   * each with the route tables that send the remote sites' traffic to that subnet's gateway.
   */
  subnets: AwsGatewaySubnetArgs[];
  /** The AWS provider of this site (its region/account); default {@link AwsMeshArgs.provider}. */
  provider?: aws.Provider;
  /** Source ranges allowed to reach WireGuard, used as given (default: derived, see components/README.md). */
  peerCidrs?: pulumi.Input<string>[];
  /** Opens the WireGuard port (only it) to 0.0.0.0/0 and ::/0 instead of the peers' addresses. */
  allowFromAnywhere?: boolean;
  /** Seconds between the agent's polls of its config secret; default the agent's (60). */
  configPollSeconds?: number;
  /** Node.js major version on the VMs; default "24". */
  nodeVersion?: string;
}

/** The `aws` sites of a mesh. */
export interface AwsMeshArgs {
  /** Default provider of every AWS site (e.g. an explicit region); default: the stack's. */
  provider?: aws.Provider;
  /** The agent package on AWS gateways; default {@link WireGuardMeshArgs.agentPackage}. */
  agentPackage?: pulumi.Input<string>;
  /** Site name -> placement; one entry for every `aws` site of the spec, and only for those. */
  sites: Record<string, AwsSitePlacement>;
}

/** Where one `gcp` site's gateway runs, and how. Keyed by site name in {@link GcpMeshArgs.sites}. */
export interface GcpSitePlacement extends Pick<
  GcpGatewayGroupArgs,
  | 'network'
  | 'subnetwork'
  | 'zones'
  | 'project'
  | 'machineType'
  | 'image'
  | 'bootDiskSizeGb'
  | 'routePriority'
  | 'routeTags'
  | 'internalLoadBalancer'
  | 'activeStandby'
  | 'forwardFromCidrs'
  | 'networkTags'
  | 'labels'
  | 'secretReplication'
  | 'serviceAccountId'
  | 'deletionProtection'
  | 'sessionAffinity'
> {
  /** The GCP provider of this site; default {@link GcpMeshArgs.provider}. */
  provider?: gcp.Provider;
  /**
   * The gateway component's name (prefix of the GCP resource names: RFC 1035, at most 30
   * characters); default `<mesh name>-<site>`.
   */
  resourceName?: string;
  /** Source ranges allowed to reach WireGuard (plain), used as given (default: derived). */
  peerCidrs?: string[];
  /** Opens the WireGuard port (only it) to 0.0.0.0/0 instead of the peers' addresses. */
  allowFromAnywhere?: boolean;
  /** Seconds between the agent's polls of its config secret; default 60. */
  configPollSeconds?: number;
  /** Node.js major version on the VM; default "24". */
  nodeVersion?: string;
}

/** The `gcp` sites of a mesh. */
export interface GcpMeshArgs {
  /** Default provider of every GCP site; default: the stack's. */
  provider?: gcp.Provider;
  /** Default project of every GCP site; default: the provider's. */
  project?: pulumi.Input<string>;
  /** The agent package on GCP gateways; default {@link WireGuardMeshArgs.agentPackage}. */
  agentPackage?: pulumi.Input<string>;
  /** Site name -> placement; one entry for every `gcp` site of the spec, and only for those. */
  sites: Record<string, GcpSitePlacement>;
}

/** An existing host of an `external` site that WireGuardMesh installs wiremesh-agent on (RemoteHostAgent). */
export interface OnPremSiteArgs {
  /** SSH connection (host, user, privateKey or password...). Kept secret. */
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /**
   * The host's WireGuard private key, base64, preferably a secret Output (`config.requireSecret`).
   * Its public key must be the site's `publicKey` in the spec.
   */
  privateKey: pulumi.Input<string>;
  /** Key file on the host; default /etc/wiremesh/private.key. */
  keyPath?: string;
  /** The agent package on this host; default {@link WireGuardMeshArgs.agentPackage}, else the mesh's `agentArtifact`. */
  agentPackage?: pulumi.Input<string>;
}

/** Arguments of {@link WireGuardMesh}. */
export interface WireGuardMeshArgs {
  /** The mesh spec: an object, or the path of a YAML/JSON file (relative to the working directory). */
  spec: MeshSpec | string;
  /**
   * Path of the agent tarball every cloud gateway installs (`npm pack` of the wiremesh package this
   * program uses; see GatewayAgentArgs.artifact): each gateway uploads it to its own bucket and its
   * VMs install it after checking its sha256. Exclusive with `agentPackage`.
   */
  agentArtifact?: string;
  /**
   * Instead of `agentArtifact`: a package you publish yourself, pinned (an exact version like
   * `@acme/wiremesh@1.2.3`, or an https `.tgz` URL).
   */
  agentPackage?: pulumi.Input<string>;
  /** Placement of the `aws` sites. */
  aws?: AwsMeshArgs;
  /** Placement of the `gcp` sites. */
  gcp?: GcpMeshArgs;
  /** `external` sites that are hosts to install wiremesh-agent on, by site name. */
  onPrem?: Record<string, OnPremSiteArgs>;
  /**
   * Where a site's WireGuard packets come from (public addresses, CIDR), by site name: what its
   * peers' firewalls allow when it cannot be derived (aws sites, sites behind NAT or with DNS
   * endpoints). See components/README.md.
   */
  sourceCidrs?: Record<string, string[]>;
  /** WireGuard interface name on every gateway; default `wm0`. */
  interfaceName?: string;
  /** The agent's TCP health port on cloud gateways; default 9587. */
  healthPort?: number;
  /** host:port of the agents' metrics listener; default none. */
  metricsListen?: string;
  /** The agents' data plane; default the agent's (`auto`). */
  dataPlane?: DataPlaneKind;
  /** Maximum key age of the generated keys (and preshared keys) in days; default 90 (WireGuardKey's). */
  maxKeyAgeDays?: number;
  /**
   * The generated keys' overlap window in days (WireGuardKey's `overlapDays`, default 7): each
   * rotation offers the next key this long before the epoch ends and retires the old one this
   * long after it. 0: replaced at once at the epoch end (tunnels break until the agents poll).
   */
  overlapDays?: number;
  /**
   * Cloud sites whose status documents report the rotation complete (every peer on the next key),
   * read before this deploy: their old key is retired at the epoch end instead of `overlapDays` after.
   */
  rotationComplete?: string[];
  /**
   * Sites taken out of the mesh (compromised, or being removed): gone from every peer's document,
   * route and firewall on this deploy; their gateways are destroyed. Their placements may stay.
   */
  revokedSites?: string[];
  /**
   * Public keys that must not be used (compromised): a spec site listing one is refused, and the
   * policy pack (`wiremesh-revoked-keys`) refuses a stack with any document that lists one.
   */
  revokedKeys?: string[];
  /**
   * Own key schedule of external sites (their private keys are theirs): when each was created and
   * how long it may live (default 365 days). The `externalSites` output and the policy pack say
   * when each expires.
   */
  externalKeys?: Record<string, { createdAt: string; maxAgeDays?: number }>;
  /** The clock of the keys' rotation epochs (tests). */
  now?: () => Date;
}

/** What the mesh deployed at one site (the `sites` output). */
export interface MeshSiteSummary {
  site: string;
  provider: SiteSpec['provider'];
  /** How the site is deployed. */
  kind: 'aws-gateway' | 'aws-gateway-group' | 'gcp-gateway' | 'gcp-gateway-group' | 'on-prem' | 'external';
  publicKey: string;
  /** host:port peers use; null when the site is behind NAT. */
  endpoint: string | null;
  /** The planner's gateway ids (`site`, or `site-1`...`site-n`); empty for external sites. */
  gatewayIds: string[];
  /** EC2 / Compute Engine instance ids; empty off the clouds. */
  instanceIds: string[];
  /** The public addresses the site's peers see it at, when known (cloud sites; an AWS group: its NLB's Elastic IPs). */
  publicIps: string[];
  cidrs: string[];
}
