/**
 * `WireGuardMesh` (`wiremesh:mesh:WireGuardMesh`): a whole site-to-site mesh from one mesh spec
 * (mesh/spec.ts). It validates the spec, makes one key per wiremesh site, deploys each site's
 * gateway with the component of its provider, plans the mesh (mesh/planner.ts) from the deployed
 * keys and addresses, and hands every gateway the agent configuration the planner computed for it.
 *
 * ## Sites
 *
 * | spec `provider`              | deployed as                                                        |
 * |------------------------------|--------------------------------------------------------------------|
 * | `aws`, `gateways: 1`         | `AwsGateway` (one instance, one subnet), endpoint = its Elastic IP  |
 * | `aws`, `gateways: n > 1`     | `AwsGatewayGroup` (n instances behind an NLB), endpoint = NLB name |
 * | `gcp`, `gateways: 1`         | `GcpGateway` (one instance), endpoint = its static address         |
 * | `gcp`, `gateways: n > 1`     | `GcpGatewayGroup` (n instances behind an external passthrough NLB) |
 * | `external` + `onPrem[site]`  | `RemoteHostAgent` (wiremesh-agent over SSH on an existing host)    |
 * | `external`                   | nothing: a wg-quick configuration in `externalConfigs` (secret)    |
 * | `local`                      | refused: local sites are for `wiremesh up`                         |
 *
 * ## Keys, endpoints, plan
 *
 * - One `WireGuardKey` per `aws`/`gcp` site (`<name>-<site>-key`); the gateways of a site share it
 *   (a load balancer may hand a peer's flow to any of them). `external` sites keep their own key
 *   (the spec's `publicKey`); an on-prem site's private key is given in `onPrem[site].privateKey`
 *   and must match the spec's `publicKey` (checked when it resolves).
 * - Cloud sites have no `endpoint` in the spec: it is the address the deployment allocates (and
 *   giving one is refused, so that a stale address can never win). Keys and endpoints are Outputs,
 *   so the plan is computed inside `pulumi.all([keys, endpoints]).apply(planMesh)`. The endpoints
 *   come out of the gateway components, whose `agentConfig` input needs the plan: they are fed
 *   through deferred Outputs, resolved once every gateway exists. Nothing a gateway's address
 *   depends on waits for a configuration, so this has no cycle. For a `GcpGatewayGroup` the mesh
 *   makes the load balancer's address itself (`<name>-<site>-lb-ip`) and passes it in: the
 *   group's own `endpoint` comes from its forwarding rule, which waits for the instances, which
 *   wait for their configuration.
 * - Peers, allowed IPs and routes do not depend on keys or endpoints, so a first plan with
 *   placeholder keys gives, before anything is registered, each cloud site's `remoteCidrs` (the
 *   VPC routes: the planner's routes of the site's gateways) and its peers.
 * - The agent configuration of a gateway is `agentConfigFor(plan gateway)` (interface `wm0`,
 *   forwarding on, the planner's peers and routes) with the key source, config source and health
 *   listener the component fills in. A load-balanced site is one WireGuard identity with one
 *   configuration document (AwsGatewayGroup and GcpGatewayGroup store one per site): the plan of
 *   its first gateway, `<site>-1`. The other indices' plans differ from it only in the tunnel
 *   address (`interface.addresses`), which the instances therefore share.
 * - On-prem hosts and external sites get no plan from the planner (external sites run plain
 *   WireGuard); their configuration is what the planner computes for them when the site is
 *   planned like a gateway (same peers, allowed IPs, keepalive and address rules), see
 *   {@link planForExternalSites}.
 *
 * ## Preshared keys
 *
 * Each pair in the spec's `presharedKeys` gets one `WireGuardPresharedKey` (`<name>-<a>-<b>-psk`,
 * `a`, `b` the sorted site names): 32 random bytes made at deploy time by a dynamic resource
 * (components/preshared-key.ts), a secret Output, rotated on the keys' schedule (`keyMaxAgeDays`).
 * It is stored once in the secret store of each cloud of the pair, with role
 * `wireguard-preshared-key` and no `wiremesh:site` tag (it belongs to both ends):
 * - `aws`: an `AwsKeySecret` `<name>-<a>-<b>-psk-aws`, with the provider, KMS key, recovery window
 *   and tags of the pair's first AWS site; each AWS site of the pair reads it through its gateway
 *   role's read policy (`extraSecretReads` of AwsGateway / AwsGatewayGroup, label `PresharedKey<k>`).
 *   Two AWS sites in different accounts cannot share it (the role policy grants, the secret's
 *   account must agree): not supported;
 * - `gcp`: a `GcpKeySecret` `<name>-<a>-<b>-psk-gcp` in the first GCP site's project, with an
 *   accessor grant on exactly it for each GCP site's gateway service account (`extraSecretReads`
 *   of GcpGateway / GcpGatewayGroup, members `<gateway>-read-<i>`, waited for by the instances).
 * Each cloud gateway's agent configuration references its own cloud's copy as the peer's
 * `presharedKey` (the planner's `agentConfigFor(..., { presharedKey })`); no document holds the key.
 * A plain `external` end gets, in its secret wg-quick configuration, the line
 * `PresharedKey = <preshared key with <peer>>` and a comment naming the secret (ARN or
 * `projects/P/secrets/S`) to copy the value from: the key itself is never in an output (outputs
 * are readable by everyone who can read the stack, and the policy pack refuses `PresharedKey =`
 * values in stack outputs). Refused: a pair of two `external` sites (nothing of theirs is
 * deployed) and a pair with an on-prem host (RemoteHostAgent writes only its private key).
 *
 * ## Who may reach the WireGuard port
 *
 * Each cloud gateway accepts WireGuard (UDP `listenPort`) from the source addresses of its
 * planned peers only (a spoke: its hubs; a hub or full-mesh site: every other site), unless its
 * placement gives `peerCidrs` (used as they are) or `allowFromAnywhere: true`. A site's source
 * addresses are, in this order: `sourceCidrs[site]`; for an `external`/on-prem site with an IP
 * literal endpoint, that address (/32 or /128); for a `gcp` site, its instances' static
 * addresses and its load balancer address (Outputs: usable by AWS security groups only, since
 * GcpGateway takes plain `peerCidrs`). An `aws` site's Elastic IPs are allocated inside AwsGateway
 * and its security group would wait for its peers' addresses and theirs for its own, so they are
 * never derived: give `sourceCidrs` for it (e.g. after a first deployment, from the `sites`
 * output) or open its peers with `allowFromAnywhere`. A needed source that is unknown is an error
 * at construction, naming the three ways out.
 *
 * The health port is open as the gateway components open it (AWS: the VPC's CIDRs; GCP: Google's
 * probe ranges, only behind a load balancer). Local traffic forwarded through a gateway needs
 * `forwardFromCidrs` in its placement (e.g. the site's CIDRs); nothing else is opened.
 *
 * ## Not supported (refused with a message)
 *
 * `presharedKeys` between two external sites or with an on-prem host, `local` sites, a full-tunnel
 * hub with `aws`/`gcp` spokes (VPC routes to 0.0.0.0/0 through a gateway are refused by the
 * components), `endpoint` on `aws`/`gcp` sites, and `cloud` settings in the spec (placement
 * comes from the arguments; `cloud` is ignored).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import type * as aws from '@pulumi/aws';
import type * as command from '@pulumi/command';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type ConfigProblem } from '../agent/gateway/config';
import type { AgentConfig, DataPlaneKind, KeySource } from '../agent/gateway/config-types';
import type { SecretSourceConfig } from '../agent/secrets/types';
import { agentConfigFor, planMesh, type GatewayPlan, type MeshPlan } from '../mesh/planner';
import type { MeshSpec, SiteSpec } from '../mesh/spec';
import { parseMeshSpec, validateMeshSpec } from '../mesh/validate';
import { renderGateway } from '../mesh/wg-quick-render';
import { AwsGateway, checkGatewayArgs, type AwsGatewayAgentConfig, type AwsGatewayArgs, type AwsGatewaySubnetArgs } from './aws/gateway';
import { AwsGatewayGroup, type AwsGatewayGroupArgs } from './aws/gateway-group';
import { AwsKeySecret } from './aws/key-secret';
import type { SecretReadGrant } from './aws/policy';
import { ComponentArgumentError, componentLabel } from './errors';
import { checkAgentPackage } from './bootstrap';
import { GcpGateway, validateGatewayArgs, type GcpGatewayAgentConfig, type GcpGatewayArgs } from './gcp/gateway';
import { GcpGatewayGroup, type GcpGatewayGroupArgs } from './gcp/gateway-group';
import { GcpKeySecret } from './gcp/key-secret';
import { regionOfZone } from './gcp/validation';
import { publicKeyFromPrivateKey, WireGuardKey } from './key';
import { WireGuardPresharedKey } from './preshared-key';
import { DEFAULT_REMOTE_KEY_PATH, RemoteHostAgent } from './remote-host';
import { HEALTH_PORT, ROLE_PRESHARED_KEY, WIREGUARD_PORT } from '../common/defaults';
import { splitHostPort } from '../common/hostport';

/** The WireGuard interface name on every gateway unless `interfaceName` says otherwise. */
export const DEFAULT_MESH_INTERFACE = 'wm0';
/** The placeholder of an external site's private key in its wg-quick configuration. */
export const EXTERNAL_PRIVATE_KEY_PLACEHOLDER = '<your key>';

// ---------------------------------------------------------------------------------------------
// Arguments

/** Where one `aws` site's gateway runs, and how. Keyed by site name in {@link AwsMeshArgs.sites}. */
export interface AwsSitePlacement
  extends Pick<
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
    | 'configPollSeconds'
    | 'nodeVersion'
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
  /** Source ranges allowed to reach WireGuard, used as given (default: derived, see the file header). */
  peerCidrs?: pulumi.Input<string>[];
  /** Opens the WireGuard port (only it) to 0.0.0.0/0 and ::/0 instead of the peers' addresses. */
  allowFromAnywhere?: boolean;
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
export interface GcpSitePlacement
  extends Pick<
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
  /** The agent package on this host; default {@link WireGuardMeshArgs.agentPackage}. */
  agentPackage?: pulumi.Input<string>;
}

/** Arguments of {@link WireGuardMesh}. */
export interface WireGuardMeshArgs {
  /** The mesh spec: an object, or the path of a YAML/JSON file (relative to the working directory). */
  spec: MeshSpec | string;
  /** The pinned agent package every gateway installs (`wiremesh@0.1.0` or an https `.tgz` URL). */
  agentPackage: pulumi.Input<string>;
  /** Placement of the `aws` sites. */
  aws?: AwsMeshArgs;
  /** Placement of the `gcp` sites. */
  gcp?: GcpMeshArgs;
  /** `external` sites that are hosts to install wiremesh-agent on, by site name. */
  onPrem?: Record<string, OnPremSiteArgs>;
  /**
   * Where a site's WireGuard packets come from (public addresses, CIDR), by site name: what its
   * peers' firewalls allow when it cannot be derived (aws sites, sites behind NAT or with DNS
   * endpoints). See the file header.
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
  /** Maximum key age of the generated keys in days; default 90 (WireGuardKey's). */
  keyMaxAgeDays?: number;
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
  /** The public addresses the site's gateways send from, when known (cloud sites). */
  publicIps: string[];
  cidrs: string[];
}

// ---------------------------------------------------------------------------------------------
// Spec helpers (pure)

const CLOUD = new Set(['aws', 'gcp']);
const placeholderEndpoint = (site: string, port: number): string => `${site.toLowerCase()}.endpoint.wiremesh.invalid:${port}`;

/** Reads a spec file (YAML or JSON text); `path` is relative to `cwd`. */
export function readMeshSpecFile(path: string, cwd = process.cwd()): string {
  const file = resolvePath(cwd, path);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: '$', message: `cannot read the mesh spec file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` }], 'mesh spec');
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
      if (CLOUD.has(s.provider as string) && s.endpoint === undefined && s.behindNat !== true && typeof s.name === 'string') {
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
export function loadMeshSpecForDeployment(spec: MeshSpec | string, cwd = process.cwd()): { spec: MeshSpec; planning: MeshSpec } {
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
    throw new ConfigError([{ path: '$', message: 'must be a mesh spec object or the path of a YAML/JSON file' }], 'mesh spec');
  }
  // The validator's checks, with the endpoints the deployment assigns standing in for the missing ones.
  const planning = validateMeshSpec(withPlaceholderEndpoints(document));
  const written = document as MeshSpec;

  const problems: ConfigProblem[] = [];
  written.sites.forEach((site, i) => {
    const base = `$.sites[${i}]`;
    if (site.provider === 'local') {
      problems.push({ path: `${base}.provider`, message: '"local" sites run on the local target (`wiremesh up`); WireGuardMesh deploys aws, gcp and external sites' });
    }
    if (CLOUD.has(site.provider)) {
      if (site.endpoint !== undefined) {
        problems.push({ path: `${base}.endpoint`, message: `is assigned by WireGuardMesh (the ${site.provider} gateway's address or load balancer); leave it out` });
      }
      if (!/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/.test(site.name)) {
        problems.push({ path: `${base}.name`, message: `must be lowercase letters, digits and dashes for an ${site.provider} site (it names cloud resources)` });
      }
    }
  });
  (written.presharedKeys ?? []).forEach((entry, k) => {
    const providers = entry.sites.map((name) => written.sites.find((s) => s.name === name)?.provider);
    if (providers.every((provider) => provider === 'external')) {
      problems.push({
        path: `$.presharedKeys[${k}].sites`,
        message: 'names two external sites: WireGuardMesh deploys neither end, so it has nowhere to store their preshared key (configure it on both hosts yourself)',
      });
    }
  });
  if (problems.length > 0) throw new ConfigError(problems, 'mesh spec for WireGuardMesh');
  return { spec: written, planning };
}

/**
 * The spec with every `external` site planned like a gateway (same name, CIDRs, endpoint, NAT;
 * its spec key as its public key), so the planner says what that site must configure. The plans
 * of the other sites are unchanged: the planner treats external sites differently only in not
 * planning them.
 */
export function planForExternalSites(planning: MeshSpec, publicKeys: Record<string, string>, endpoints: Record<string, string>): MeshPlan {
  const keys: Record<string, string> = { ...publicKeys };
  const sites = planning.sites.map((site): SiteSpec => {
    if (site.provider !== 'external') return site;
    keys[site.name] = site.publicKey!;
    const { publicKey: _publicKey, gateways: _gateways, ...rest } = site;
    return { ...rest, provider: 'aws' };
  });
  return planMesh({ ...planning, sites }, { publicKeys: keys, endpoints });
}

/** The wg-quick configuration of an external site: the planner's view of it, key left to the owner. */
export function renderExternalSiteConfig(plan: MeshPlan, gateway: GatewayPlan, spec: MeshSpec, presharedKeys: Record<string, PresharedKeySources> = {}): string {
  const site = spec.sites.find((s) => s.name === gateway.site)!;
  const text = renderGateway(plan, gateway, spec, EXTERNAL_PRIVATE_KEY_PLACEHOLDER).replace(
    `PrivateKey = ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER}`,
    `# Replace ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER} with this site's private key (wg pubkey must print ${site.publicKey}); wg-quick refuses the file until then.\n` +
      `PrivateKey = ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER}`,
  );
  // Preshared keys: a placeholder naming the secret that holds the key (never the key itself).
  const lines = text.split('\n');
  const out: string[] = [];
  let peer: string | undefined;
  for (const line of lines) {
    out.push(line);
    const comment = /^# (\S+)$/.exec(line);
    if (comment && out[out.length - 2] === '[Peer]') peer = comment[1];
    if (peer !== undefined && line.startsWith('PublicKey = ')) {
      const planned = gateway.peers.find((p) => p.site === peer);
      if (planned?.presharedKey) {
        const [a, b] = [gateway.site, peer].sort() as [string, string];
        const sources = presharedKeys[pairKey(a, b)];
        const where = sources?.awsRef ?? sources?.gcpRef ?? 'the secret store of the mesh';
        out.push(
          `# This tunnel has a preshared key, kept in ${where}: replace ${presharedKeyPlaceholder(peer)} with its value (the secret's content, base64).`,
          `PresharedKey = ${presharedKeyPlaceholder(peer)}`,
        );
      }
      peer = undefined;
    }
  }
  return out.join('\n');
}

/** The placeholder of a preshared key in an external site's wg-quick configuration. */
export function presharedKeyPlaceholder(peer: string): string {
  return `<preshared key with ${peer}>`;
}

/** Where the two ends of a pair read its preshared key: the agent sources per cloud, and what to tell an external site. */
export interface PresharedKeySources {
  aws?: SecretSourceConfig;
  gcp?: SecretSourceConfig;
  /** "AWS Secrets Manager secret <ARN>". */
  awsRef?: string;
  /** "GCP Secret Manager secret projects/P/secrets/S". */
  gcpRef?: string;
}

/** The key of a pair of sites (sorted names). */
export function pairKey(a: string, b: string): string {
  return [a, b].sort().join('|');
}

/** The agent configuration of a planned gateway without its private key (the components fill it in). */
export function planAgentConfig(
  gateway: GatewayPlan,
  options: { interfaceName: string; metricsListen?: string; dataPlane?: DataPlaneKind; presharedKey?: (siteA: string, siteB: string) => KeySource },
): Omit<AgentConfig, 'privateKey'> {
  const { privateKey: _privateKey, ...rest } = agentConfigFor(gateway, {
    interfaceName: options.interfaceName,
    privateKey: { source: 'file', path: '/dev/null' },
    tunnelAddress: false,
    ...(options.presharedKey !== undefined ? { presharedKey: options.presharedKey } : {}),
    ...(options.metricsListen !== undefined ? { metrics: { listen: options.metricsListen } } : {}),
    ...(options.dataPlane !== undefined ? { dataPlane: options.dataPlane } : {}),
  });
  return rest;
}

/** The /32 or /128 of an endpoint whose host is an IP literal; undefined for a DNS name. */
export function endpointSourceCidr(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined) return undefined;
  const { host } = splitHostPort(endpoint);
  const family = isIP(host);
  return family === 4 ? `${host}/32` : family === 6 ? `${host}/128` : undefined;
}

// ---------------------------------------------------------------------------------------------
// The component

/** What a site needs from the others' firewalls: its source addresses, when they can be known. */
interface SiteSources {
  cidrs: pulumi.Input<string>[];
  /** Outputs (addresses allocated by this deployment): fine for AWS security groups, not for GCP firewalls. */
  late: boolean;
}

interface Deferred<T> {
  output: pulumi.Output<T>;
  resolve: (source: pulumi.Output<T>) => void;
}

function deferred<T>(): Deferred<T> {
  const [output, resolve] = pulumi.deferredOutput<T>();
  return { output, resolve };
}

/** One site's deployment, prepared (and checked) before the mesh registers anything. */
interface PreparedSite {
  site: SiteSpec;
  kind: MeshSiteSummary['kind'];
  gatewayIds: string[];
  /** Constructs the site's component(s) once the mesh is registered and the keys exist. */
  create(): void;
}

/**
 * A WireGuard site-to-site mesh on AWS, GCP and existing hosts, from one mesh spec.
 *
 * ```ts
 * const mesh = new WireGuardMesh("corp", {
 *   spec: "mesh.yaml",
 *   agentPackage: "wiremesh@0.1.0",
 *   aws: { sites: { "aws-eu": { vpcId, subnets: [{ subnetId, routeTableIds: [rtb] }] } } },
 *   gcp: { sites: { "gcp-eu": { network, subnetwork, zones: ["europe-west1-b"] } } },
 *   sourceCidrs: { "aws-eu": ["198.51.100.7/32"] },
 * });
 * export const sites = mesh.sites;
 * ```
 *
 * See the file header for what it deploys and what it refuses.
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
    const label = componentLabel('WireGuardMesh', name);
    if (typeof args !== 'object' || args === null) throw new ComponentArgumentError(`${label}: args are required`);
    if (args.agentPackage === undefined || args.agentPackage === null || args.agentPackage === '') {
      throw new ComponentArgumentError(`${label}: agentPackage is required (the pinned wiremesh package every gateway installs)`);
    }
    for (const [what, value] of [['agentPackage', args.agentPackage], ['aws.agentPackage', args.aws?.agentPackage], ['gcp.agentPackage', args.gcp?.agentPackage]] as const) {
      if (typeof value === 'string') {
        try {
          checkAgentPackage(value);
        } catch (error) {
          throw new ComponentArgumentError(`${label}: ${what}: ${(error as Error).message}`);
        }
      }
    }

    // 1. The spec, validated before anything else.
    const { spec, planning } = loadMeshSpecForDeployment(args.spec);
    const interfaceName = args.interfaceName ?? DEFAULT_MESH_INTERFACE;
    if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(interfaceName)) throw new ComponentArgumentError(`${label}: interfaceName must be 1 to 15 of letters, digits, "_=+.-"`);
    const healthPort = args.healthPort ?? HEALTH_PORT;
    const listenPort = spec.defaults?.listenPort ?? WIREGUARD_PORT;

    // 2. The shape of the plan: peers and routes need no keys or endpoints.
    const shapeKeys = Object.fromEntries(spec.sites.filter((s) => s.provider !== 'external').map((s) => [s.name, `placeholder-key-of-${s.name}`]));
    const shape = planMesh(planning, { publicKeys: shapeKeys });
    const firstPlan = (site: string): GatewayPlan => shape.gateways.find((g) => g.site === site)!;
    const externalShape = planForExternalSites(planning, shapeKeys, {});
    const peersOf = (site: string): string[] => (shape.gateways.find((g) => g.site === site) ?? externalShape.gateways.find((g) => g.site === site))!.peers.map((p) => p.site);

    const specProblems: ConfigProblem[] = [];
    spec.sites.forEach((site, i) => {
      if (CLOUD.has(site.provider) && firstPlan(site.name).routes.some((r) => r === '0.0.0.0/0' || r === '::/0')) {
        specProblems.push({
          path: `$.sites[${i}]`,
          message: `an ${site.provider} spoke of a fullTunnel hub would route 0.0.0.0/0 through its gateway, which the ${site.provider} gateway components refuse; WireGuardMesh supports fullTunnel hubs only with external spokes`,
        });
      }
    });
    if (specProblems.length > 0) throw new ConfigError(specProblems, 'mesh spec for WireGuardMesh');

    // 3. Placement: exactly the sites of each provider.
    const bySite = new Map(spec.sites.map((s) => [s.name, s]));
    const checkKeys = (what: string, record: Record<string, unknown> | undefined, ok: (site: SiteSpec) => boolean, expected: string): void => {
      for (const key of Object.keys(record ?? {})) {
        const site = bySite.get(key);
        if (site === undefined) throw new ComponentArgumentError(`${label}: ${what}["${key}"]: the spec has no site "${key}"`);
        if (!ok(site)) throw new ComponentArgumentError(`${label}: ${what}["${key}"]: site "${key}" is ${site.provider}; ${what} is for ${expected} sites`);
      }
    };
    checkKeys('aws.sites', args.aws?.sites, (s) => s.provider === 'aws', 'aws');
    checkKeys('gcp.sites', args.gcp?.sites, (s) => s.provider === 'gcp', 'gcp');
    checkKeys('onPrem', args.onPrem, (s) => s.provider === 'external', 'external');
    checkKeys('sourceCidrs', args.sourceCidrs, () => true, 'any');
    for (const site of spec.sites) {
      if (site.provider === 'aws' && !has(args.aws?.sites, site.name)) {
        throw new ComponentArgumentError(`${label}: aws.sites["${site.name}"] is required: the spec's aws site "${site.name}" needs a VPC and subnets`);
      }
      if (site.provider === 'gcp' && !has(args.gcp?.sites, site.name)) {
        throw new ComponentArgumentError(`${label}: gcp.sites["${site.name}"] is required: the spec's gcp site "${site.name}" needs a network, subnetwork and zones`);
      }
    }
    for (const [site, cidrs] of Object.entries(args.sourceCidrs ?? {})) {
      if (!Array.isArray(cidrs) || cidrs.length === 0 || cidrs.some((c) => typeof c !== 'string')) {
        throw new ComponentArgumentError(`${label}: sourceCidrs["${site}"] must be a non-empty list of CIDR blocks`);
      }
    }

    // 4. Deferred values: keys (made after registering), endpoints and source addresses (made by
    //    the gateway components, after the configurations that depend on them are handed over).
    const keyOf: Record<string, { privateKey: Deferred<string>; publicKey: Deferred<string>; createdAt: Deferred<string> }> = {};
    const endpointOf: Record<string, Deferred<string>> = {};
    const sources: Record<string, SiteSources | undefined> = {};
    const sourceSlots: Record<string, Deferred<string>[]> = {};
    for (const site of spec.sites) {
      const explicit = args.sourceCidrs?.[site.name];
      if (CLOUD.has(site.provider)) {
        keyOf[site.name] = { privateKey: deferred(), publicKey: deferred(), createdAt: deferred() };
        if (!site.behindNat) endpointOf[site.name] = deferred();
      }
      if (explicit !== undefined) {
        sources[site.name] = { cidrs: [...explicit], late: false };
      } else if (site.provider === 'gcp') {
        const count = (site.gateways ?? 1) + ((site.gateways ?? 1) > 1 ? 1 : 0);
        sourceSlots[site.name] = Array.from({ length: count }, () => deferred<string>());
        sources[site.name] = { cidrs: sourceSlots[site.name]!.map((slot) => slot.output.apply((ip) => `${ip}/32`)), late: true };
      } else if (site.provider === 'external') {
        const cidr = endpointSourceCidr(site.endpoint);
        sources[site.name] = cidr === undefined ? undefined : { cidrs: [cidr], late: false };
      } else {
        sources[site.name] = undefined;
      }
    }

    /** The WireGuard source ranges of a cloud site's gateway, or a thrown explanation. */
    const peerRangesFor = (site: SiteSpec, placementPath: string, explicit: pulumi.Input<string>[] | undefined, anywhere: boolean | undefined, plainOnly: boolean): pulumi.Input<string>[] | undefined => {
      if (explicit !== undefined || anywhere === true) return explicit;
      const ranges: pulumi.Input<string>[] = [];
      const missing: string[] = [];
      for (const peer of peersOf(site.name)) {
        const s = sources[peer];
        const peerSite = bySite.get(peer)!;
        if (s === undefined || (plainOnly && s.late)) {
          const why =
            peerSite.provider === 'aws'
              ? 'its Elastic IPs are allocated inside AwsGateway'
              : peerSite.provider === 'gcp'
                ? 'its addresses are allocated by this deployment and GcpGateway takes plain peerCidrs'
                : peerSite.behindNat
                  ? 'it is behind NAT'
                  : `its endpoint ${peerSite.endpoint} is not an IP address`;
          missing.push(`"${peer}" (${why})`);
          continue;
        }
        for (const cidr of s.cidrs) if (!ranges.includes(cidr)) ranges.push(cidr);
      }
      if (missing.length > 0) {
        throw new ComponentArgumentError(
          `${label}: the gateway of site "${site.name}" accepts WireGuard from its peers only, but the source addresses of ${missing.join(', ')} are not known before deployment; ` +
            `declare them in sourceCidrs, list the ranges in ${placementPath}.peerCidrs, or set ${placementPath}.allowFromAnywhere: true`,
        );
      }
      return ranges;
    };

    // 5. Every site's deployment, prepared and checked.
    const planOutput = deferred<MeshPlan>();
    const externalPlanOutput = deferred<MeshPlan>();
    const pskSourcesOutput = deferred<Record<string, PresharedKeySources>>();
    const configOf = (id: string, cloud: 'aws' | 'gcp'): pulumi.Output<Omit<AgentConfig, 'privateKey'>> =>
      pulumi.all([planOutput.output, pskSourcesOutput.output]).apply(([plan, pskSources]) => {
        const gateway = plan.gateways.find((g) => g.id === id);
        if (gateway === undefined) throw new Error(`${label}: the plan has no gateway ${id}`);
        return planAgentConfig(gateway, {
          interfaceName,
          ...(args.metricsListen !== undefined ? { metricsListen: args.metricsListen } : {}),
          ...(args.dataPlane !== undefined ? { dataPlane: args.dataPlane } : {}),
          // The copy in this site's own cloud (the planner passes the two names sorted).
          presharedKey: (a, b) => {
            const source = pskSources[pairKey(a, b)]?.[cloud];
            if (source === undefined) throw new Error(`${label}: no ${cloud} copy of the preshared key of ${a} and ${b}`);
            return source;
          },
        });
      });
    // Preshared keys: checked here, made after registering (below); the gateways read their copies.
    const pskPairs = (spec.presharedKeys ?? []).map((entry) => [...entry.sites].sort() as [string, string]);
    for (const [a, b] of pskPairs) {
      for (const site of [a, b]) {
        if (has(args.onPrem, site)) {
          throw new ComponentArgumentError(
            `${label}: presharedKeys: site "${site}" is an on-prem host (onPrem["${site}"]); WireGuardMesh stores preshared keys only for aws, gcp and plain external sites (remove the pair, or configure that host's tunnel outside the mesh)`,
          );
        }
      }
    }
    const awsPskReads: Record<string, pulumi.Output<SecretReadGrant>[]> = {};
    const gcpPskReads: Record<string, gcp.secretmanager.Secret[]> = {};
    const pskReads = {
      aws: (site: string): { extraSecretReads?: pulumi.Output<SecretReadGrant>[] } => (awsPskReads[site]?.length ? { extraSecretReads: awsPskReads[site] } : {}),
      gcp: (site: string): { extraSecretReads?: gcp.secretmanager.Secret[] } => (gcpPskReads[site]?.length ? { extraSecretReads: gcpPskReads[site] } : {}),
    };
    const prepared: PreparedSite[] = [];
    const instanceIdsOf: Record<string, pulumi.Output<string[]>> = {};
    const publicIpsOf: Record<string, pulumi.Output<string[]>> = {};

    for (const site of spec.sites) {
      const gateways = site.gateways ?? 1;
      const gatewayIds = gateways > 1 ? Array.from({ length: gateways }, (_, i) => `${site.name}-${i + 1}`) : [site.name];
      const firstId = gatewayIds[0]!;
      const remoteCidrs = site.provider === 'external' ? [] : [...firstPlan(site.name).routes];

      if (site.provider === 'aws') {
        const placement = args.aws!.sites[site.name]!;
        const path = `aws.sites["${site.name}"]`;
        const provider = placement.provider ?? args.aws?.provider;
        if (!Array.isArray(placement.subnets) || placement.subnets.length !== gateways) {
          throw new ComponentArgumentError(
            `${label}: ${path}.subnets must list ${gateways} subnet${gateways > 1 ? 's' : ''}, one per gateway of site "${site.name}" (the spec's gateways: ${gateways})`,
          );
        }
        const peerCidrs = peerRangesFor(site, path, placement.peerCidrs, placement.allowFromAnywhere, false);
        const key = keyOf[site.name]!;
        const { provider: _provider, peerCidrs: _peerCidrs, allowFromAnywhere: _anywhere, ...passThrough } = placement;
        const componentName = `${name}-${site.name}`;
        const gatewayArgs: AwsGatewayArgs = {
          ...passThrough,
          siteName: site.name,
          subnets: placement.subnets,
          remoteCidrs,
          ...(peerCidrs !== undefined ? { peerCidrs } : {}),
          ...(placement.allowFromAnywhere !== undefined ? { allowFromAnywhere: placement.allowFromAnywhere } : {}),
          privateKey: key.privateKey.output,
          keyCreatedAt: key.createdAt.output,
          agentConfig: configOf(firstId, 'aws') as pulumi.Output<AwsGatewayAgentConfig>,
          agentPackage: args.aws?.agentPackage ?? args.agentPackage,
          listenPort,
          healthPort,
        };
        const group = gateways > 1;
        if (!group) {
          for (const k of ['loadBalancerSubnetIds', 'crossZoneLoadBalancing', 'healthCheckProtocol', 'healthCheckIntervalSeconds', 'deregistrationDelaySeconds', 'deletionProtection'] as const) {
            if (placement[k] !== undefined) throw new ComponentArgumentError(`${label}: ${path}.${k} is for load-balanced sites (gateways > 1); site "${site.name}" has one gateway`);
          }
        }
        checkGatewayArgs(componentLabel(group ? 'AwsGatewayGroup' : 'AwsGateway', componentName), gatewayArgs);
        prepared.push({
          site,
          kind: group ? 'aws-gateway-group' : 'aws-gateway',
          gatewayIds,
          create: () => {
            const componentOpts = { parent: this, ...(provider !== undefined ? { providers: [provider] } : {}) };
            if (group) {
              const component = new AwsGatewayGroup(componentName, { ...(gatewayArgs as AwsGatewayGroupArgs), ...pskReads.aws(site.name) }, componentOpts);
              this.awsGatewayGroups[site.name] = component;
              endpointOf[site.name]?.resolve(component.endpoint);
              instanceIdsOf[site.name] = component.instanceIds;
              publicIpsOf[site.name] = component.gateway.publicIps;
            } else {
              const { loadBalancerSubnetIds: _a, crossZoneLoadBalancing: _b, healthCheckProtocol: _c, healthCheckIntervalSeconds: _d, deregistrationDelaySeconds: _e, deletionProtection: _f, ...single } =
                gatewayArgs as AwsGatewayGroupArgs;
              const component = new AwsGateway(componentName, { ...single, ...pskReads.aws(site.name) }, componentOpts);
              this.awsGateways[site.name] = component;
              endpointOf[site.name]?.resolve(component.endpoints.apply((endpoints) => endpoints[0]!));
              instanceIdsOf[site.name] = component.instanceIds;
              publicIpsOf[site.name] = component.publicIps;
            }
          },
        });
      } else if (site.provider === 'gcp') {
        const placement = args.gcp!.sites[site.name]!;
        const path = `gcp.sites["${site.name}"]`;
        const provider = placement.provider ?? args.gcp?.provider;
        const componentName = placement.resourceName ?? `${name}-${site.name}`.toLowerCase();
        if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(componentName) || componentName.length > 30) {
          throw new ComponentArgumentError(
            `${label}: the GCP resources of site "${site.name}" would be named "${componentName}", which is not 1 to 30 lowercase letters, digits and hyphens starting with a letter; set ${path}.resourceName`,
          );
        }
        const peerCidrs = peerRangesFor(site, path, placement.peerCidrs, placement.allowFromAnywhere, true) as string[] | undefined;
        const group = gateways > 1;
        if (!group && placement.sessionAffinity !== undefined) {
          throw new ComponentArgumentError(`${label}: ${path}.sessionAffinity is for load-balanced sites (gateways > 1); site "${site.name}" has one gateway`);
        }
        const key = keyOf[site.name]!;
        const {
          provider: _provider,
          resourceName: _resourceName,
          peerCidrs: _peerCidrs,
          allowFromAnywhere: _anywhere,
          configPollSeconds,
          nodeVersion,
          sessionAffinity,
          ...passThrough
        } = placement;
        const project = placement.project ?? args.gcp?.project;
        const gatewayArgs: GcpGatewayArgs = {
          ...passThrough,
          ...(project !== undefined ? { project } : {}),
          instanceCount: gateways,
          remoteCidrs,
          ...(peerCidrs !== undefined ? { peerCidrs } : {}),
          ...(placement.allowFromAnywhere !== undefined ? { allowFromAnywhere: placement.allowFromAnywhere } : {}),
          listenPort,
          healthPort,
          key: { privateKey: key.privateKey.output, publicKey: key.publicKey.output, createdAt: key.createdAt.output },
          agent: {
            package: args.gcp?.agentPackage ?? args.agentPackage,
            interfaceName,
            config: configOf(firstId, 'gcp') as unknown as pulumi.Output<GcpGatewayAgentConfig>,
            ...(configPollSeconds !== undefined ? { configPollSeconds } : {}),
            ...(nodeVersion !== undefined ? { nodeVersion } : {}),
            ...(args.metricsListen !== undefined ? { metricsListen: args.metricsListen } : {}),
            ...(args.dataPlane !== undefined ? { dataPlane: args.dataPlane } : {}),
          },
        };
        validateGatewayArgs(componentName, group ? { ...gatewayArgs, externalLoadBalancer: true } : gatewayArgs, group ? 'GcpGatewayGroup' : 'GcpGateway');
        const region = regionOfZone(placement.zones[0]!)!;
        prepared.push({
          site,
          kind: group ? 'gcp-gateway-group' : 'gcp-gateway',
          gatewayIds,
          create: () => {
            const slots = sourceSlots[site.name];
            if (group) {
              // The load balancer's address, made here: the group's own endpoint waits for its instances.
              const address = new gcp.compute.Address(
                `${name}-${site.name}-lb-ip`,
                { project, region, addressType: 'EXTERNAL', networkTier: 'PREMIUM', description: `wiremesh mesh ${name}: WireGuard endpoint of site ${site.name}` },
                { parent: this, ...(provider !== undefined ? { provider } : {}) },
              );
              const component = new GcpGatewayGroup(
                componentName,
                { ...gatewayArgs, ...pskReads.gcp(site.name), loadBalancerAddress: address.address, ...(sessionAffinity !== undefined ? { sessionAffinity } : {}) },
                { parent: this, ...(provider !== undefined ? { providers: [provider] } : {}) },
              );
              this.gcpGatewayGroups[site.name] = component;
              endpointOf[site.name]?.resolve(pulumi.interpolate`${address.address}:${listenPort}`);
              const ips = [...component.gateway.addresses.map((a) => a.address), address.address];
              slots?.forEach((slot, i) => slot.resolve(ips[i]!));
              instanceIdsOf[site.name] = pulumi.all(component.gateway.instances.map((instance) => instance.id));
              publicIpsOf[site.name] = pulumi.all(ips);
            } else {
              const component = new GcpGateway(componentName, { ...gatewayArgs, ...pskReads.gcp(site.name) }, { parent: this, ...(provider !== undefined ? { providers: [provider] } : {}) });
              this.gcpGateways[site.name] = component;
              endpointOf[site.name]?.resolve(component.endpoints.apply((endpoints) => endpoints[0]!));
              const ips = component.addresses.map((a) => a.address);
              slots?.forEach((slot, i) => slot.resolve(ips[i]!));
              instanceIdsOf[site.name] = pulumi.all(component.instances.map((instance) => instance.id));
              publicIpsOf[site.name] = pulumi.all(ips);
            }
          },
        });
      } else if (site.provider === 'external' && has(args.onPrem, site.name)) {
        const host = args.onPrem![site.name]!;
        const path = `onPrem["${site.name}"]`;
        if (typeof host !== 'object' || host === null || host.connection === undefined || host.connection === null) {
          throw new ComponentArgumentError(`${label}: ${path}.connection is required (how to reach the host over SSH)`);
        }
        if (host.privateKey === undefined || host.privateKey === null || host.privateKey === '') {
          throw new ComponentArgumentError(`${label}: ${path}.privateKey is required (the host's WireGuard private key, whose public key is the spec's publicKey)`);
        }
        const matchesSpec = (key: string): string => {
          let derived: string;
          try {
            derived = publicKeyFromPrivateKey(key);
          } catch (error) {
            throw new ComponentArgumentError(`${label}: ${path}.privateKey: ${(error as Error).message}`);
          }
          if (derived !== site.publicKey) {
            throw new ComponentArgumentError(`${label}: ${path}.privateKey belongs to public key ${derived}, but the spec gives site "${site.name}" the public key ${site.publicKey}`);
          }
          return key;
        };
        if (typeof host.privateKey === 'string') matchesSpec(host.privateKey);
        if (typeof host.agentPackage === 'string') {
          try {
            checkAgentPackage(host.agentPackage);
          } catch (error) {
            throw new ComponentArgumentError(`${label}: ${path}.agentPackage: ${(error as Error).message}`);
          }
        }
        const keyPath = host.keyPath ?? DEFAULT_REMOTE_KEY_PATH;
        prepared.push({
          site,
          kind: 'on-prem',
          gatewayIds: [site.name],
          create: () => {
            const agentConfig = externalPlanOutput.output.apply((plan): AgentConfig => ({
              ...planAgentConfig(plan.gateways.find((g) => g.site === site.name)!, {
                interfaceName,
                ...(args.metricsListen !== undefined ? { metricsListen: args.metricsListen } : {}),
                ...(args.dataPlane !== undefined ? { dataPlane: args.dataPlane } : {}),
              }),
              privateKey: { source: 'file', path: keyPath },
            }));
            this.remoteHosts[site.name] = new RemoteHostAgent(
              `${name}-${site.name}`,
              {
                connection: host.connection,
                agentPackage: host.agentPackage ?? args.agentPackage,
                agentConfig,
                privateKey: pulumi.secret(pulumi.output(host.privateKey).apply(matchesSpec)),
                keyPath,
              },
              { parent: this },
            );
          },
        });
      } else {
        prepared.push({ site, kind: 'external', gatewayIds: [], create: () => undefined });
      }
    }

    // 6. Register (with the spec as the component's inputs, so policy packs can check it), then
    // the keys, the gateways, the plan. The spec holds no secrets: public keys only.
    super('wiremesh:mesh:WireGuardMesh', name, { spec }, opts);
    this.spec = spec;

    for (const site of spec.sites) {
      if (!CLOUD.has(site.provider)) continue;
      const key = new WireGuardKey(
        `${name}-${site.name}-key`,
        { ...(args.keyMaxAgeDays !== undefined ? { maxAgeDays: args.keyMaxAgeDays } : {}), ...(args.now !== undefined ? { now: args.now } : {}) },
        { parent: this },
      );
      this.keys[site.name] = key;
      keyOf[site.name]!.privateKey.resolve(key.privateKey);
      keyOf[site.name]!.publicKey.resolve(key.publicKey);
      keyOf[site.name]!.createdAt.resolve(key.createdAt);
    }
    // One preshared key per listed pair, stored once in each cloud of its two sites (the secret of
    // a cloud lives with the first site of the pair on it: its provider, project, KMS key), read
    // by exactly those two sites' gateways. No wiremesh:site tag: the secret belongs to both.
    const pskSources: Record<string, pulumi.Output<PresharedKeySources>> = {};
    pskPairs.forEach(([a, b], k) => {
      const pair = pairKey(a, b);
      const psk = new WireGuardPresharedKey(
        `${name}-${a}-${b}-psk`,
        { ...(args.keyMaxAgeDays !== undefined ? { maxAgeDays: args.keyMaxAgeDays } : {}), ...(args.now !== undefined ? { now: args.now } : {}) },
        { parent: this },
      );
      this.presharedKeys[pair] = psk;
      const sites = [a, b].map((n) => bySite.get(n)!);
      const description = `WireGuard preshared key of the tunnel ${a} <-> ${b} (mesh ${name})`;
      const sources: Record<string, pulumi.Output<SecretSourceConfig | string>> = {};
      const awsSites = sites.filter((s) => s.provider === 'aws');
      if (awsSites.length > 0) {
        const placement = args.aws!.sites[awsSites[0]!.name]!;
        const provider = placement.provider ?? args.aws?.provider;
        const secret = new AwsKeySecret(
          `${name}-${a}-${b}-psk-aws`,
          {
            privateKey: psk.presharedKey,
            createdAt: psk.createdAt,
            role: ROLE_PRESHARED_KEY,
            description,
            ...(placement.kmsKeyId !== undefined ? { kmsKeyId: placement.kmsKeyId } : {}),
            ...(placement.secretRecoveryWindowInDays !== undefined ? { recoveryWindowInDays: placement.secretRecoveryWindowInDays } : {}),
            ...(placement.tags !== undefined ? { tags: placement.tags } : {}),
          },
          { parent: this, ...(provider !== undefined ? { providers: [provider] } : {}) },
        );
        this.presharedKeySecrets[pair] = { ...this.presharedKeySecrets[pair], aws: secret };
        for (const site of awsSites) (awsPskReads[site.name] ??= []).push(secret.readGrant(`PresharedKey${k}`));
        sources.aws = secret.sourceConfig;
        sources.awsRef = pulumi.interpolate`AWS Secrets Manager secret ${secret.arn}`;
      }
      const gcpSites = sites.filter((s) => s.provider === 'gcp');
      if (gcpSites.length > 0) {
        const placement = args.gcp!.sites[gcpSites[0]!.name]!;
        const provider = placement.provider ?? args.gcp?.provider;
        const project = placement.project ?? args.gcp?.project;
        const secret = new GcpKeySecret(
          `${name}-${a}-${b}-psk-gcp`,
          {
            privateKey: psk.presharedKey,
            createdAt: psk.createdAt,
            role: ROLE_PRESHARED_KEY,
            ...(project !== undefined ? { project } : {}),
            ...(placement.labels !== undefined ? { labels: placement.labels } : {}),
            ...(placement.secretReplication !== undefined ? { replication: placement.secretReplication } : {}),
            ...(placement.deletionProtection !== undefined ? { deletionProtection: placement.deletionProtection } : {}),
          },
          { parent: this, ...(provider !== undefined ? { providers: [provider] } : {}) },
        );
        this.presharedKeySecrets[pair] = { ...this.presharedKeySecrets[pair], gcp: secret };
        for (const site of gcpSites) (gcpPskReads[site.name] ??= []).push(secret.secret);
        sources.gcp = secret.sourceConfig;
        sources.gcpRef = pulumi.interpolate`GCP Secret Manager secret ${secret.secretName}`;
      }
      pskSources[pair] = pulumi.all(sources) as pulumi.Output<PresharedKeySources>;
    });
    const allPskSources = pulumi.output(pulumi.all(pskSources)) as pulumi.Output<Record<string, PresharedKeySources>>;
    pskSourcesOutput.resolve(allPskSources);

    for (const site of prepared) site.create();

    const publicKeys = pulumi.all(Object.fromEntries(Object.entries(this.keys).map(([site, key]) => [site, key.publicKey])));
    const endpoints = pulumi.all(Object.fromEntries(Object.entries(endpointOf).map(([site, d]) => [site, d.output])));
    const plans = pulumi.all([publicKeys, endpoints]).apply(([keys, eps]) => ({
      plan: planMesh(planning, { publicKeys: keys, endpoints: eps }),
      external: planForExternalSites(planning, keys, eps),
    }));
    this.plan = plans.apply((p) => p.plan);
    planOutput.resolve(this.plan);
    externalPlanOutput.resolve(plans.apply((p) => p.external));

    this.externalConfigs = pulumi.secret(
      pulumi.all([plans, allPskSources]).apply(([p, sources]) =>
        Object.fromEntries(
          prepared
            .filter((s) => s.kind === 'external')
            .map((s) => [s.site.name, renderExternalSiteConfig(p.external, p.external.gateways.find((g) => g.site === s.site.name)!, spec, sources)]),
        ),
      ),
    );

    const none = pulumi.output([] as string[]);
    this.sites = pulumi
      .all([
        publicKeys,
        endpoints,
        pulumi.all(Object.fromEntries(prepared.map((s) => [s.site.name, instanceIdsOf[s.site.name] ?? none]))),
        pulumi.all(Object.fromEntries(prepared.map((s) => [s.site.name, publicIpsOf[s.site.name] ?? none]))),
      ])
      .apply(([keys, eps, instanceIds, publicIps]) =>
        Object.fromEntries(
          prepared.map((s): [string, MeshSiteSummary] => [
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
    this.registerOutputs({ sites: this.sites, externalConfigs: this.externalConfigs, plan: this.plan });
  }
}

function has(record: Record<string, unknown> | undefined, key: string): boolean {
  return record !== undefined && Object.prototype.hasOwnProperty.call(record, key);
}
