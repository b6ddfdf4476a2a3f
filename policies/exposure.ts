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
 *   every security group and firewall. Admin ports (`adminPorts`) may be opened to
 *   `allowedAdminRanges`, and on GCP (`allowIapTcpForwarding`, default true) to IAP's
 *   35.235.240.0/20, which is how the pack tells operators to reach a gateway. Ingress aimed at a
 *   gateway from another resource is `wiremesh-gateway-attached-ingress` (attached-ingress.ts).
 *   Preview unknowns: see ingress.ts.
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
  gatewayReason,
  GATEWAY_IDENTIFICATION_SCHEMA,
  GCP_LABEL_ROLE,
  get,
  reportAdvisory,
  TYPES,
  unknownAt,
  type GatewayIdentification,
} from './common';
import {
  describeRule,
  GATEWAY_INGRESS_RULE_DEFAULTS,
  GATEWAY_INGRESS_RULE_SCHEMA,
  gatewayRuleAdvice,
  gatewayRuleVerdict,
  IAP_TCP_FORWARDING_RANGE,
  ingressRules,
  publicAdminVerdict,
  uncheckedRuleMessage,
  type GatewayIngressRules,
} from './ingress';

const strs = (value: unknown): string[] => arrayOf(value).filter((v): v is string => typeof v === 'string');

/** "firewall", "security group" or "security group rule", for messages. */
export function ruleResourceKind(type: string): string {
  return type === TYPES.gcpFirewall
    ? 'firewall'
    : type === TYPES.awsSecurityGroup
      ? 'security group'
      : 'security group rule';
}

type Scope = 'gateways' | 'all';
const SCOPE_SCHEMA = {
  type: 'string' as const,
  enum: ['gateways', 'all'],
  default: 'gateways',
  description:
    '"gateways": only gateway resources (see the docs for how they are recognised); "all": every resource of the checked types.',
};

// ------------------------------------------------------------------------------------------------
// wiremesh-gateway-ingress

export interface GatewayIngressConfig extends GatewayIdentification, GatewayIngressRules {
  scope: Scope;
}

export const GATEWAY_INGRESS_DEFAULTS: GatewayIngressConfig = {
  ...DEFAULT_GATEWAY_IDENTIFICATION,
  ...GATEWAY_INGRESS_RULE_DEFAULTS,
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

export const GATEWAY_INGRESS_NAME = 'wiremesh-gateway-ingress';
const GATEWAY_INGRESS_DESCRIPTION =
  'Gateway security groups and firewalls open only the WireGuard UDP port and the agent health port.';

export const gatewayIngress: ResourceValidationPolicy = {
  name: GATEWAY_INGRESS_NAME,
  description: GATEWAY_INGRESS_DESCRIPTION,
  enforcementLevel: 'mandatory',
  severity: 'high',
  configSchema: {
    properties: {
      ...GATEWAY_IDENTIFICATION_SCHEMA,
      ...GATEWAY_INGRESS_RULE_SCHEMA,
      scope: SCOPE_SCHEMA,
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const rules = ingressRules(args.type, args.props);
    if (rules === undefined) args.notApplicable('not an ingress rule resource');
    const config = configWithDefaults(GATEWAY_INGRESS_DEFAULTS, args.getConfig<Record<string, unknown>>());
    const reason = gatewayOf(args, config);
    if (config.scope !== 'all' && !reason) args.notApplicable('not a gateway security group or firewall');
    const gcp = args.type === TYPES.gcpFirewall;
    const what = `gateway ${ruleResourceKind(args.type)} "${args.name}"${reason ? ` (${reason})` : ''}`;
    for (const rule of rules) {
      const verdict = gatewayRuleVerdict(rule, config, gcp);
      if (verdict.kind === 'unknown') {
        reportAdvisory(
          reportViolation,
          { name: GATEWAY_INGRESS_NAME, description: GATEWAY_INGRESS_DESCRIPTION },
          uncheckedRuleMessage(what, rule, verdict.props),
        );
      } else if (verdict.kind === 'violation') {
        reportViolation(`${what} ${rule.where} opens ${describeRule(rule)}: ${gatewayRuleAdvice(config, gcp)}`);
      }
    }
  },
};

// ------------------------------------------------------------------------------------------------
// wiremesh-no-public-admin-ports

export interface AdminPortsConfig {
  adminPorts: number[];
}

export const ADMIN_PORTS_DEFAULTS: AdminPortsConfig = { adminPorts: [22, 3389] };

const ADMIN_PORTS_NAME = 'wiremesh-no-public-admin-ports';
const ADMIN_PORTS_DESCRIPTION =
  'No security group or firewall opens SSH (22) or RDP (3389) to the whole internet (0.0.0.0/0 or ::/0).';

export const noPublicAdminPorts: ResourceValidationPolicy = {
  name: ADMIN_PORTS_NAME,
  description: ADMIN_PORTS_DESCRIPTION,
  enforcementLevel: 'mandatory',
  severity: 'critical',
  configSchema: {
    properties: {
      adminPorts: {
        type: 'array',
        items: { type: 'integer', minimum: 1, maximum: 65535 },
        default: [22, 3389],
        description: 'TCP ports never open to 0.0.0.0/0 or ::/0.',
      },
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const rules = ingressRules(args.type, args.props);
    if (rules === undefined) args.notApplicable('not an ingress rule resource');
    const config = configWithDefaults(ADMIN_PORTS_DEFAULTS, args.getConfig<Record<string, unknown>>());
    for (const rule of rules) {
      const { verdict, ports, open } = publicAdminVerdict(rule, config.adminPorts);
      const names = ports.map((p) => (p === 22 ? 'SSH (22)' : p === 3389 ? 'RDP (3389)' : `port ${p}`)).join(' and ');
      if (verdict.kind === 'unknown') {
        reportAdvisory(
          reportViolation,
          { name: ADMIN_PORTS_NAME, description: ADMIN_PORTS_DESCRIPTION },
          uncheckedRuleMessage(`whether "${args.name}" opens ${names} to the internet`, rule, verdict.props),
        );
      } else if (verdict.kind === 'violation') {
        reportViolation(
          `"${args.name}" ${rule.where} opens ${names} to ${open.join(' and ')}: remove the rule, or allow only your admin ranges ` +
            `(better: no inbound SSH at all, through SSM Session Manager on AWS, or IAP TCP forwarding on GCP, which needs only ${IAP_TCP_FORWARDING_RANGE}).`,
        );
      }
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
      maxHopLimit: {
        type: 'integer',
        minimum: 1,
        maximum: 64,
        default: 2,
        description: 'Largest httpPutResponseHopLimit allowed (1 on the host, 2 for an agent in a container).',
      },
      scope: SCOPE_SCHEMA,
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== TYPES.awsInstance && args.type !== TYPES.awsLaunchTemplate)
      args.notApplicable('only EC2 instances and launch templates');
    const config = configWithDefaults(IMDSV2_DEFAULTS, args.getConfig<Record<string, unknown>>());
    const reason =
      gatewayReason(args.urn, args.props, config) ??
      (args.props.sourceDestCheck === false ? 'sourceDestCheck false' : undefined);
    if (config.scope !== 'all' && !reason) args.notApplicable('not a gateway instance');
    const options = args.props.metadataOptions;
    const tokens = get(options, 'httpTokens');
    const endpoint = get(options, 'httpEndpoint');
    const what = `${args.type === TYPES.awsInstance ? 'instance' : 'launch template'} "${args.name}"${reason ? ` (gateway: ${reason})` : ''}`;
    const pending = ['httpTokens', 'httpEndpoint', 'httpPutResponseHopLimit'].filter((k) => unknownAt(options, k));
    if (pending.length > 0) {
      reportAdvisory(
        reportViolation,
        { name: gatewayImdsv2.name, description: gatewayImdsv2.description },
        `could not check ${what} at preview: metadataOptions.${pending.join(', metadataOptions.')} not known yet; it is checked during the update, once known.`,
      );
      return;
    }
    if (endpoint === 'disabled') return;
    if (tokens !== 'required') {
      reportViolation(
        `${what} allows IMDSv1 (metadataOptions.httpTokens is ${tokens === undefined ? 'not set' : JSON.stringify(tokens)}): ` +
          'set metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 } so that a forged request cannot read the instance role\'s credentials.',
      );
    }
    const hops = get(options, 'httpPutResponseHopLimit');
    if (typeof hops === 'number' && hops > config.maxHopLimit) {
      reportViolation(
        `${what} has metadataOptions.httpPutResponseHopLimit ${hops}: set it to at most ${config.maxHopLimit} (1 unless the agent runs in a container).`,
      );
    }
  },
};

// ------------------------------------------------------------------------------------------------
// wiremesh-forwarding-only-on-gateways

export type ForwardingConfig = GatewayIdentification;

export const forwardingOnlyOnGateways: ResourceValidationPolicy = {
  name: 'wiremesh-forwarding-only-on-gateways',
  description:
    'Only WireGuard gateways forward packets: sourceDestCheck false (EC2) and canIpForward true (GCP) are set on gateway resources only.',
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
    const pending = ['tags', 'labels'].filter((k) => unknownAt(args.props, k));
    if (pending.length > 0) {
      // The marks that make it a gateway may be among them: not known yet is not "not a gateway".
      reportAdvisory(
        reportViolation,
        { name: forwardingOnlyOnGateways.name, description: forwardingOnlyOnGateways.description },
        `could not check whether "${args.name}" (${setting}) is a gateway at preview: its ${pending.join(' and ')} ${pending.length > 1 ? 'are' : 'is'} not known yet; it is checked during the update, once known.`,
      );
      return;
    }
    reportViolation(
      `${args.type.split(':').pop()} "${args.name}" sets ${setting} but is not a WireGuard gateway: remove ${setting} ` +
        '(it lets the machine send and receive packets for other addresses), or, if it is a gateway, create it with our gateway components ' +
        `or mark it (AWS tag ${AWS_TAG_ROLE}=gateway, GCP label ${GCP_LABEL_ROLE}=wireguard-gateway or network tag wiremesh-gateway).`,
    );
  },
};
