/**
 * Exposure of gateways (resource policies):
 *
 * - `wiremesh-gateway-ingress`: gateway security groups and firewalls open only the WireGuard UDP
 *   port(s) and the agent's TCP health port(s) (`wireguardPorts`, default [51820]; `healthPorts`,
 *   default [9587]). With `allowForwarding` (default true) an all-protocol rule is accepted when
 *   every source is private address space (RFC 1918, 100.64.0.0/10, fc00::/7) or a security group:
 *   that is the gateways' `forwardFromCidrs` rule (security groups filter forwarded packets too).
 *   Checked on `aws.ec2.SecurityGroup` (inline `ingress`), `aws.ec2.SecurityGroupRule` (type
 *   ingress), `aws.vpc.SecurityGroupIngressRule` and `gcp.compute.Firewall` (INGRESS) that are
 *   gateway resources, or, for firewalls, target a gateway network tag. `scope: "all"` applies it to
 *   every security group and firewall.
 * - `wiremesh-no-public-admin-ports`: no security group, rule or firewall, gateway or not, opens
 *   SSH (22) or RDP (3389) (`adminPorts`) to 0.0.0.0/0 or ::/0. A GCP ingress firewall with no
 *   source ranges, tags or service accounts is open to 0.0.0.0/0 and counts.
 * - `wiremesh-gateway-imdsv2`: gateway EC2 instances and launch templates require IMDSv2
 *   (`metadataOptions.httpTokens: "required"`, or the endpoint disabled) with a hop limit of at
 *   most `maxHopLimit` (default 2; 1 unless the agent runs in a container). `scope: "all"` checks
 *   every instance.
 * - `wiremesh-forwarding-only-on-gateways`: `sourceDestCheck: false` (EC2 instances, ENIs) and
 *   `canIpForward: true` (GCP instances, templates) only on gateway resources.
 *
 * How a gateway is recognised (common.ts `gatewayReason`, configurable in each policy): a resource
 * inside one of our gateway components (`wiremesh:aws:AwsGateway`, `wiremesh:aws:AwsGatewayGroup`,
 * `wiremesh:gcp:GcpGateway`, `wiremesh:gcp:GcpGatewayGroup`, read from its URN, which carries the
 * types of all its parents), or tagged `wiremesh:role=gateway` (AWS), labelled
 * `wiremesh-role=wireguard-gateway` (GCP), or carrying the GCP network tag `wiremesh-gateway`.
 * Hand-written gateways get the tag or label; the IMDSv2 policy also treats an instance with
 * `sourceDestCheck: false` as a gateway.
 */
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from '@pulumi/policy';
import {
  arrayOf,
  AWS_TAG_ROLE,
  configWithDefaults,
  DEFAULT_GATEWAY_IDENTIFICATION,
  DEFAULT_HEALTH_PORT,
  DEFAULT_LISTEN_PORT,
  gatewayReason,
  GATEWAY_IDENTIFICATION_SCHEMA,
  GCP_LABEL_ROLE,
  get,
  isAnywhere,
  isPrivateCidr,
  TYPES,
  type GatewayIdentification,
} from './common';

/** One ingress permission, normalised across AWS and GCP. */
export interface IngressRule {
  /** `tcp`, `udp`, `all` or another protocol name/number. */
  protocol: string;
  /** Inclusive port range; `[0, 65535]` for every port. */
  from: number;
  to: number;
  /** Source CIDRs. */
  cidrs: string[];
  /** Sources that are not CIDRs (security groups, prefix lists, tags, service accounts). */
  otherSources: string[];
  /** Where it is, for messages: `ingress[1]`, `allows[0]`. */
  where: string;
}

function normaliseProtocol(value: unknown): string {
  const p = String(value ?? '').toLowerCase();
  if (p === '-1' || p === 'all' || p === '') return 'all';
  if (p === '6') return 'tcp';
  if (p === '17') return 'udp';
  return p;
}

function portRange(protocol: string, from: unknown, to: unknown): [number, number] {
  if (protocol === 'all') return [0, 65535];
  const f = typeof from === 'number' ? from : Number(from);
  const t = typeof to === 'number' ? to : Number(to);
  if (!Number.isFinite(f) || !Number.isFinite(t) || (f <= 0 && t <= 0) || f === -1) return [0, 65535];
  return [f, t];
}

const strs = (value: unknown): string[] => arrayOf(value).filter((v): v is string => typeof v === 'string');

function awsRule(rule: unknown, where: string): IngressRule {
  const protocol = normaliseProtocol(get(rule, 'protocol') ?? get(rule, 'ipProtocol'));
  const [from, to] = portRange(protocol, get(rule, 'fromPort'), get(rule, 'toPort'));
  const cidrs = [...strs(get(rule, 'cidrBlocks')), ...strs(get(rule, 'ipv6CidrBlocks'))];
  for (const key of ['cidrIpv4', 'cidrIpv6']) {
    const v = get(rule, key);
    if (typeof v === 'string') cidrs.push(v);
  }
  const otherSources = [...strs(get(rule, 'securityGroups')), ...strs(get(rule, 'prefixListIds'))];
  for (const key of ['sourceSecurityGroupId', 'referencedSecurityGroupId', 'prefixListId']) {
    const v = get(rule, key);
    if (typeof v === 'string') otherSources.push(v);
  }
  if (get(rule, 'self') === true) otherSources.push('self');
  return { protocol, from, to, cidrs, otherSources, where };
}

/** GCP port specs: `"22"`, `"1000-2000"`; none means every port. */
function gcpPortRanges(ports: string[]): Array<[number, number]> {
  if (ports.length === 0) return [[0, 65535]];
  return ports.map((p) => {
    const [a, b] = p.split('-');
    return [Number(a), Number(b ?? a)] as [number, number];
  });
}

/** The ingress rules of a resource, or `undefined` when it holds none (not a rule resource, egress). */
export function ingressRules(type: string, props: unknown): IngressRule[] | undefined {
  switch (type) {
    case TYPES.awsSecurityGroup:
      return arrayOf(get(props, 'ingress')).map((rule, i) => awsRule(rule, `ingress[${i}]`));
    case TYPES.awsSecurityGroupRule:
      return get(props, 'type') === 'ingress' ? [awsRule(props, 'rule')] : undefined;
    case TYPES.awsVpcIngressRule:
      return [awsRule(props, 'rule')];
    case TYPES.gcpFirewall: {
      const direction = String(get(props, 'direction') ?? 'INGRESS').toUpperCase();
      if (direction !== 'INGRESS') return undefined;
      const ranges = [...strs(get(props, 'sourceRanges'))];
      const others = [...strs(get(props, 'sourceTags')), ...strs(get(props, 'sourceServiceAccounts'))];
      // An ingress rule without any source applies to 0.0.0.0/0 (GCP firewall documentation).
      if (ranges.length === 0 && others.length === 0) ranges.push('0.0.0.0/0');
      const rules: IngressRule[] = [];
      arrayOf(get(props, 'allows')).forEach((allow, i) => {
        const protocol = normaliseProtocol(get(allow, 'protocol'));
        const ranges_ = protocol === 'all' ? [[0, 65535] as [number, number]] : gcpPortRanges(strs(get(allow, 'ports')));
        for (const [from, to] of ranges_) rules.push({ protocol, from, to, cidrs: ranges, otherSources: others, where: `allows[${i}]` });
      });
      return rules;
    }
    default:
      return undefined;
  }
}

function describeRule(rule: IngressRule): string {
  const ports = rule.protocol === 'all' ? 'all traffic' : rule.from === rule.to ? `${rule.protocol} ${rule.from}` : `${rule.protocol} ${rule.from}-${rule.to}`;
  const sources = [...rule.cidrs, ...rule.otherSources];
  return `${ports} from ${sources.length > 0 ? sources.join(', ') : 'nowhere'}`;
}

type Scope = 'gateways' | 'all';
const SCOPE_SCHEMA = {
  type: 'string' as const,
  enum: ['gateways', 'all'],
  default: 'gateways',
  description: '"gateways": only gateway resources (see the docs for how they are recognised); "all": every resource of the checked types.',
};

// ------------------------------------------------------------------------------------------------
// wiremesh-gateway-ingress

export interface GatewayIngressConfig extends GatewayIdentification {
  wireguardPorts: number[];
  healthPorts: number[];
  allowForwarding: boolean;
  scope: Scope;
}

export const GATEWAY_INGRESS_DEFAULTS: GatewayIngressConfig = {
  ...DEFAULT_GATEWAY_IDENTIFICATION,
  wireguardPorts: [DEFAULT_LISTEN_PORT],
  healthPorts: [DEFAULT_HEALTH_PORT],
  allowForwarding: true,
  scope: 'gateways',
};

function gatewayOf(args: ResourceValidationArgs, ids: GatewayIdentification): string | undefined {
  const reason = gatewayReason(args.urn, args.props, ids);
  if (reason) return reason;
  if (args.type === TYPES.gcpFirewall) {
    const tag = strs(get(args.props, 'targetTags')).find((t) => ids.gatewayNetworkTags.includes(t));
    if (tag) return `targets the gateway network tag ${tag}`;
  }
  return undefined;
}

export const gatewayIngress: ResourceValidationPolicy = {
  name: 'wiremesh-gateway-ingress',
  description: 'Gateway security groups and firewalls open only the WireGuard UDP port and the agent health port.',
  enforcementLevel: 'mandatory',
  severity: 'high',
  configSchema: {
    properties: {
      ...GATEWAY_IDENTIFICATION_SCHEMA,
      wireguardPorts: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, default: [DEFAULT_LISTEN_PORT], description: 'WireGuard UDP ports gateways may open.' },
      healthPorts: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, default: [DEFAULT_HEALTH_PORT], description: 'Agent TCP health ports gateways may open.' },
      allowForwarding: {
        type: 'boolean',
        default: true,
        description: 'Accept all-protocol rules whose sources are all private ranges or security groups (local traffic the gateway forwards).',
      },
      scope: SCOPE_SCHEMA,
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const rules = ingressRules(args.type, args.props);
    if (rules === undefined) args.notApplicable('not an ingress rule resource');
    const config = configWithDefaults(GATEWAY_INGRESS_DEFAULTS, args.getConfig<Record<string, unknown>>());
    const reason = gatewayOf(args, config);
    if (config.scope !== 'all' && !reason) args.notApplicable('not a gateway security group or firewall');
    const what = args.type === TYPES.gcpFirewall ? 'firewall' : args.type === TYPES.awsSecurityGroup ? 'security group' : 'security group rule';
    for (const rule of rules) {
      const single = rule.from === rule.to;
      if (rule.protocol === 'udp' && single && config.wireguardPorts.includes(rule.from)) continue;
      if (rule.protocol === 'tcp' && single && config.healthPorts.includes(rule.from)) continue;
      if (config.allowForwarding && rule.protocol === 'all' && rule.cidrs.every((c) => isPrivateCidr(c) && !isAnywhere(c)) && (rule.cidrs.length > 0 || rule.otherSources.length > 0)) continue;
      reportViolation(
        `gateway ${what} "${args.name}"${reason ? ` (${reason})` : ''} ${rule.where} opens ${describeRule(rule)}: a gateway opens only WireGuard ` +
          `(udp ${config.wireguardPorts.join(', ')}) and the agent health port (tcp ${config.healthPorts.join(', ')})` +
          `${config.allowForwarding ? ', plus all traffic from private ranges it forwards' : ''}. Remove the rule (administer through SSM Session Manager or IAP), ` +
          'or, if it is the WireGuard or health port moved elsewhere, list the port in wireguardPorts/healthPorts.',
      );
    }
  },
};

// ------------------------------------------------------------------------------------------------
// wiremesh-no-public-admin-ports

export interface AdminPortsConfig {
  adminPorts: number[];
}

export const ADMIN_PORTS_DEFAULTS: AdminPortsConfig = { adminPorts: [22, 3389] };

export const noPublicAdminPorts: ResourceValidationPolicy = {
  name: 'wiremesh-no-public-admin-ports',
  description: 'No security group or firewall opens SSH (22) or RDP (3389) to the whole internet (0.0.0.0/0 or ::/0).',
  enforcementLevel: 'mandatory',
  severity: 'critical',
  configSchema: {
    properties: {
      adminPorts: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, default: [22, 3389], description: 'TCP ports never open to 0.0.0.0/0 or ::/0.' },
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const rules = ingressRules(args.type, args.props);
    if (rules === undefined) args.notApplicable('not an ingress rule resource');
    const config = configWithDefaults(ADMIN_PORTS_DEFAULTS, args.getConfig<Record<string, unknown>>());
    for (const rule of rules) {
      if (rule.protocol !== 'tcp' && rule.protocol !== 'all') continue;
      const open = rule.cidrs.filter(isAnywhere);
      if (open.length === 0) continue;
      const ports = config.adminPorts.filter((p) => rule.from <= p && p <= rule.to);
      if (ports.length === 0) continue;
      const names = ports.map((p) => (p === 22 ? 'SSH (22)' : p === 3389 ? 'RDP (3389)' : `port ${p}`)).join(' and ');
      reportViolation(
        `"${args.name}" ${rule.where} opens ${names} to ${open.join(' and ')}: remove the rule, or allow only your admin ranges ` +
          '(better: no SSH at all, through SSM Session Manager on AWS or IAP TCP forwarding on GCP).',
      );
    }
  },
};

// ------------------------------------------------------------------------------------------------
// wiremesh-gateway-imdsv2

export interface Imdsv2Config extends GatewayIdentification {
  maxHopLimit: number;
  scope: Scope;
}

export const IMDSV2_DEFAULTS: Imdsv2Config = { ...DEFAULT_GATEWAY_IDENTIFICATION, maxHopLimit: 2, scope: 'gateways' };

export const gatewayImdsv2: ResourceValidationPolicy = {
  name: 'wiremesh-gateway-imdsv2',
  description: 'Gateway EC2 instances require IMDSv2 (metadataOptions.httpTokens "required").',
  enforcementLevel: 'mandatory',
  severity: 'high',
  configSchema: {
    properties: {
      ...GATEWAY_IDENTIFICATION_SCHEMA,
      maxHopLimit: { type: 'integer', minimum: 1, maximum: 64, default: 2, description: 'Largest httpPutResponseHopLimit allowed (1 on the host, 2 for an agent in a container).' },
      scope: SCOPE_SCHEMA,
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== TYPES.awsInstance && args.type !== TYPES.awsLaunchTemplate) args.notApplicable('only EC2 instances and launch templates');
    const config = configWithDefaults(IMDSV2_DEFAULTS, args.getConfig<Record<string, unknown>>());
    const reason = gatewayReason(args.urn, args.props, config) ?? (args.props.sourceDestCheck === false ? 'sourceDestCheck false' : undefined);
    if (config.scope !== 'all' && !reason) args.notApplicable('not a gateway instance');
    const options = args.props.metadataOptions;
    const tokens = get(options, 'httpTokens');
    const endpoint = get(options, 'httpEndpoint');
    const what = `${args.type === TYPES.awsInstance ? 'instance' : 'launch template'} "${args.name}"${reason ? ` (gateway: ${reason})` : ''}`;
    if (endpoint === 'disabled') return;
    if (tokens !== 'required') {
      reportViolation(
        `${what} allows IMDSv1 (metadataOptions.httpTokens is ${tokens === undefined ? 'not set' : JSON.stringify(tokens)}): ` +
          'set metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 } so that a forged request cannot read the instance role\'s credentials.',
      );
    }
    const hops = get(options, 'httpPutResponseHopLimit');
    if (typeof hops === 'number' && hops > config.maxHopLimit) {
      reportViolation(`${what} has metadataOptions.httpPutResponseHopLimit ${hops}: set it to at most ${config.maxHopLimit} (1 unless the agent runs in a container).`);
    }
  },
};

// ------------------------------------------------------------------------------------------------
// wiremesh-forwarding-only-on-gateways

export type ForwardingConfig = GatewayIdentification;

export const forwardingOnlyOnGateways: ResourceValidationPolicy = {
  name: 'wiremesh-forwarding-only-on-gateways',
  description: 'Only WireGuard gateways forward packets: sourceDestCheck false (EC2) and canIpForward true (GCP) are set on gateway resources only.',
  enforcementLevel: 'mandatory',
  severity: 'medium',
  configSchema: { properties: { ...GATEWAY_IDENTIFICATION_SCHEMA } },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const aws = args.type === TYPES.awsInstance || args.type === TYPES.awsNetworkInterface;
    const gcp = args.type === TYPES.gcpInstance || args.type === TYPES.gcpInstanceTemplate;
    if (!aws && !gcp) args.notApplicable('only EC2 instances/ENIs and GCP instances/templates');
    const forwards = aws ? args.props.sourceDestCheck === false : args.props.canIpForward === true;
    if (!forwards) return;
    const config = configWithDefaults(DEFAULT_GATEWAY_IDENTIFICATION, args.getConfig<Record<string, unknown>>());
    if (gatewayReason(args.urn, args.props, config)) return;
    const setting = aws ? 'sourceDestCheck: false' : 'canIpForward: true';
    reportViolation(
      `${args.type.split(':').pop()} "${args.name}" sets ${setting} but is not a WireGuard gateway: remove ${setting} ` +
        '(it lets the machine send and receive packets for other addresses), or, if it is a gateway, create it with our gateway components ' +
        `or mark it (AWS tag ${AWS_TAG_ROLE}=gateway, GCP label ${GCP_LABEL_ROLE}=wireguard-gateway or network tag wiremesh-gateway).`,
    );
  },
};
