/**
 * The root Pulumi program of the `wiremesh` project (Pulumi.yaml `main: dist/pulumi/program.js`;
 * build it with `npm run build` first). It deploys one WireGuardMesh from a mesh spec file and the
 * per-site placement in the stack configuration:
 *
 * ```yaml
 * config:
 *   wiremesh:spec: examples/aws-gcp/mesh.yaml        # default; relative to the project directory
 *   wiremesh:agentArtifact: wiremesh-0.1.0.tgz        # the agent tarball (npm run pack:package);
 *                                                     # or wiremesh:agentPackage, a pinned package you publish
 *   wiremesh:aws:                                     # the spec's aws sites
 *     region: eu-west-1                               # optional: an explicit provider
 *     sites:
 *       aws-eu:
 *         vpcId: vpc-0123456789abcdef0
 *         subnets: [{ subnetId: subnet-0a, routeTableIds: [rtb-0a] }]   # one per gateway
 *         forwardFromCidrs: [10.10.0.0/16]            # optional (see components/README.md)
 *         region: eu-central-1                        # optional: this site's own region
 *   wiremesh:gcp:                                     # the spec's gcp sites
 *     project: my-project                             # optional
 *     sites:
 *       gcp-eu: { network: mesh-vpc, subnetwork: gateways, zones: [europe-west1-b] }
 *   wiremesh:onPrem:                                  # external sites to install the agent on, over SSH
 *     branch: { host: 203.0.113.10, user: admin }
 *   wiremesh:onPremSecrets:                           # secret: pulumi config set --secret --path ...
 *     branch: { sshPrivateKey: "-----BEGIN ...", wireguardPrivateKey: "..." }
 *   wiremesh:sourceCidrs:                             # where sites send from, when not derivable
 *     aws-eu: [198.51.100.7/32]
 *   wiremesh:maxKeyAgeDays: 90                        # optional
 *   wiremesh:name: wm                                 # optional: the prefix of every resource name
 * ```
 *
 * Placement keys are checked (an unknown key is an error); the mesh checks the rest. Stack
 * outputs: `sites` (per-site summary), `externalConfigs` (secret wg-quick files of external
 * sites), `gateways` (the planner's gateway ids).
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import * as aws from '@pulumi/aws';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import {
  WireGuardMesh,
  type AwsSitePlacement,
  type GcpSitePlacement,
  type OnPremSiteArgs,
  type WireGuardMeshArgs,
} from '../components';

/** The default spec: the AWS <-> GCP example. */
export const DEFAULT_SPEC_PATH = 'examples/aws-gcp/mesh.yaml';

/** The directory of the root Pulumi.yaml, from pulumi/ or dist/pulumi/. */
export function projectRoot(from = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'Pulumi.yaml')) || !existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/** A relative spec (or artifact) path is the project directory's (where Pulumi.yaml is), like the default. */
export function resolveSpecPath(path: string, root = projectRoot()): string {
  return isAbsolute(path) ? path : resolve(root, path);
}

const AWS_SITE_KEYS = [
  'vpcId',
  'subnets',
  'region',
  'peerCidrs',
  'allowFromAnywhere',
  'forwardFromCidrs',
  'healthCheckCidrs',
  'instanceType',
  'ami',
  'architecture',
  'kmsKeyId',
  'secretRecoveryWindowInDays',
  'permissionsBoundary',
  'rootVolumeSizeGiB',
  'configPollSeconds',
  'nodeVersion',
  'tags',
  'loadBalancerSubnetIds',
  'crossZoneLoadBalancing',
  'healthCheckProtocol',
  'healthCheckIntervalSeconds',
  'deregistrationDelaySeconds',
  'deletionProtection',
];
const GCP_SITE_KEYS = [
  'network',
  'subnetwork',
  'zones',
  'project',
  'region',
  'peerCidrs',
  'allowFromAnywhere',
  'forwardFromCidrs',
  'machineType',
  'image',
  'bootDiskSizeGb',
  'routePriority',
  'routeTags',
  'internalLoadBalancer',
  'activeStandby',
  'networkTags',
  'labels',
  'secretReplication',
  'serviceAccountId',
  'deletionProtection',
  'sessionAffinity',
  'resourceName',
  'configPollSeconds',
  'nodeVersion',
];
const ON_PREM_KEYS = ['host', 'user', 'port', 'hostKey', 'keyPath', 'agentPackage'];

/** Stack configuration of the aws sites (`wiremesh:aws`). */
export interface AwsStackConfig {
  region?: string;
  sites: Record<string, Omit<AwsSitePlacement, 'provider'> & { region?: string }>;
}
/** Stack configuration of the gcp sites (`wiremesh:gcp`). */
export interface GcpStackConfig {
  project?: string;
  region?: string;
  sites: Record<string, Omit<GcpSitePlacement, 'provider'> & { region?: string }>;
}
/** Stack configuration of one on-prem host (`wiremesh:onPrem`); its secrets are in `wiremesh:onPremSecrets`. */
export interface OnPremStackConfig {
  host: string;
  user: string;
  port?: number;
  hostKey?: string;
  keyPath?: string;
  agentPackage?: string;
}
/** Secrets of one on-prem host (`wiremesh:onPremSecrets`, a secret object). */
export interface OnPremStackSecrets {
  sshPrivateKey?: string;
  password?: string;
  wireguardPrivateKey: string;
}

function checkKeys(what: string, value: unknown, allowed: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`wiremesh:${what} must be an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      throw new Error(`wiremesh:${what}.${key} is not a known setting (allowed: ${allowed.join(', ')})`);
  }
}

/** The WireGuardMesh arguments of a stack's configuration (exported for tests). */
export function meshArgsFromConfig(config: pulumi.Config, root = projectRoot()): WireGuardMeshArgs {
  const args: WireGuardMeshArgs = {
    spec: resolveSpecPath(config.get('spec') ?? DEFAULT_SPEC_PATH, root),
  };
  // The agent: the artifact (relative to the project directory, like the spec), or a pinned package.
  const agentArtifact = config.get('agentArtifact');
  if (agentArtifact !== undefined) args.agentArtifact = resolveSpecPath(agentArtifact, root);
  const agentPackage = config.get('agentPackage');
  if (agentPackage !== undefined) args.agentPackage = agentPackage;
  const sourceCidrs = config.getObject<Record<string, string[]>>('sourceCidrs');
  if (sourceCidrs !== undefined) args.sourceCidrs = sourceCidrs;
  const maxKeyAgeDays = config.getNumber('maxKeyAgeDays');
  if (maxKeyAgeDays !== undefined) args.maxKeyAgeDays = maxKeyAgeDays;

  const awsConfig = config.getObject<AwsStackConfig>('aws');
  if (awsConfig !== undefined) {
    checkKeys('aws', awsConfig, ['region', 'sites']);
    const providers = new Map<string, aws.Provider>();
    const providerFor = (region: string): aws.Provider => {
      if (!providers.has(region))
        providers.set(region, new aws.Provider(`aws-${region}`, { region: region as aws.Region }));
      return providers.get(region)!;
    };
    args.aws = {
      ...(awsConfig.region !== undefined ? { provider: providerFor(awsConfig.region) } : {}),
      sites: Object.fromEntries(
        Object.entries(awsConfig.sites ?? {}).map(([site, placement]) => {
          checkKeys(`aws.sites.${site}`, placement, AWS_SITE_KEYS);
          const { region, ...rest } = placement;
          return [site, { ...rest, ...(region !== undefined ? { provider: providerFor(region) } : {}) }];
        }),
      ),
    };
  }

  const gcpConfig = config.getObject<GcpStackConfig>('gcp');
  if (gcpConfig !== undefined) {
    checkKeys('gcp', gcpConfig, ['project', 'region', 'sites']);
    const provider =
      gcpConfig.project !== undefined || gcpConfig.region !== undefined
        ? new gcp.Provider('gcp', {
            ...(gcpConfig.project !== undefined ? { project: gcpConfig.project } : {}),
            ...(gcpConfig.region !== undefined ? { region: gcpConfig.region } : {}),
          })
        : undefined;
    args.gcp = {
      ...(provider !== undefined ? { provider } : {}),
      ...(gcpConfig.project !== undefined ? { project: gcpConfig.project } : {}),
      sites: Object.fromEntries(
        Object.entries(gcpConfig.sites ?? {}).map(([site, placement]) => {
          checkKeys(`gcp.sites.${site}`, placement, GCP_SITE_KEYS);
          const { region: _region, ...rest } = placement;
          return [site, rest];
        }),
      ),
    };
  }

  const onPrem = config.getObject<Record<string, OnPremStackConfig>>('onPrem');
  if (onPrem !== undefined) {
    const secrets = config.requireSecretObject<Record<string, OnPremStackSecrets>>('onPremSecrets');
    args.onPrem = Object.fromEntries(
      Object.entries(onPrem).map(([site, host]): [string, OnPremSiteArgs] => {
        checkKeys(`onPrem.${site}`, host, ON_PREM_KEYS);
        const secret = secrets.apply((all) => {
          const entry = all?.[site];
          if (entry === undefined || typeof entry.wireguardPrivateKey !== 'string') {
            throw new Error(
              `wiremesh:onPremSecrets.${site}.wireguardPrivateKey is required (the host's WireGuard private key)`,
            );
          }
          return entry;
        });
        return [
          site,
          {
            connection: pulumi.secret(
              secret.apply((entry) => ({
                host: host.host,
                user: host.user,
                ...(host.port !== undefined ? { port: host.port } : {}),
                ...(host.hostKey !== undefined ? { hostKey: host.hostKey } : {}),
                ...(entry.sshPrivateKey !== undefined ? { privateKey: entry.sshPrivateKey } : {}),
                ...(entry.password !== undefined ? { password: entry.password } : {}),
              })),
            ),
            privateKey: pulumi.secret(secret.apply((entry) => entry.wireguardPrivateKey)),
            ...(host.keyPath !== undefined ? { keyPath: host.keyPath } : {}),
            ...(host.agentPackage !== undefined ? { agentPackage: host.agentPackage } : {}),
          },
        ];
      }),
    );
  }
  return args;
}

const config = new pulumi.Config('wiremesh');
/** The mesh component's name (`wiremesh:name`, default `wm`): it prefixes every resource name. */
const mesh = new WireGuardMesh(config.get('name') ?? 'wm', meshArgsFromConfig(config));

/** Per-site summary: kind, public key, endpoint, gateway and instance ids, public addresses, CIDRs. */
export const sites = mesh.sites;
/** The wg-quick configurations of the external sites (secret; their private keys are left to their owners). */
export const externalConfigs = mesh.externalConfigs;
/** The planner's gateway ids. */
export const gateways = mesh.plan.apply((plan) => plan.gateways.map((gateway) => gateway.id));
