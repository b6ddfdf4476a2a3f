/**
 * Ingress rules, normalised across AWS security groups and rules and GCP firewalls, and the verdicts
 * the exposure policies give them. Preview unknowns are kept apart from known values: a rule whose
 * verdict depends on an unknown gets `unknown` (reported as an advisory saying what could not be
 * checked), never the worst case (an empty source list read as "from nowhere", a GCP firewall whose
 * `sourceRanges` are not known yet read as open to 0.0.0.0/0).
 */
import type { PolicyConfigJSONSchema } from '@pulumi/policy/schema';
import { isAnywhere, isPrivateCidr, prefixWithin } from './cidr';
import { arrayOf, get, HEALTH_PORT, knownStrings, TYPES, unknownAt, WIREGUARD_PORT } from './common';

/** One ingress permission. */
export interface IngressRule {
  /** `tcp`, `udp`, `all` or another protocol name/number. */
  protocol: string;
  /** Inclusive port range; `[0, 65535]` for every port. */
  from: number;
  to: number;
  /** Known source CIDRs. */
  cidrs: string[];
  /** Known sources that are not CIDRs (security groups, prefix lists, tags, service accounts). */
  otherSources: string[];
  /** Props whose values are not known yet (preview): the protocol or ports, the sources. */
  unknownPorts: string[];
  unknownSources: string[];
  /** Where it is, for messages: `ingress[1]`, `allows[0]`, `rule`. */
  where: string;
}

/** Google's range for IAP TCP forwarding (cloud.google.com/iap/docs/using-tcp-forwarding). */
export const IAP_TCP_FORWARDING_RANGE = '35.235.240.0/20';

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

function unknownProps(obj: unknown, keys: string[], prefix: string): string[] {
  return keys.filter((k) => unknownAt(obj, k)).map((k) => `${prefix}${k}`);
}

/** `prefix` names the rule's props in messages (`ingress[0].`), empty for a rule resource. */
function awsRule(rule: unknown, where: string, prefix: string): IngressRule {
  const unknownPorts = unknownProps(rule, ['protocol', 'ipProtocol', 'fromPort', 'toPort'], prefix);
  const protocol = normaliseProtocol(get(rule, 'protocol') ?? get(rule, 'ipProtocol'));
  const [from, to] = portRange(protocol, get(rule, 'fromPort'), get(rule, 'toPort'));
  const unknownSources: string[] = [];
  const read = (key: string) => knownStrings(rule, key, unknownSources, `${prefix}${key}`);
  const cidrs = ['cidrBlocks', 'ipv6CidrBlocks', 'cidrIpv4', 'cidrIpv6'].flatMap(read);
  const otherSources = [
    'securityGroups',
    'prefixListIds',
    'sourceSecurityGroupId',
    'referencedSecurityGroupId',
    'prefixListId',
  ].flatMap(read);
  if (unknownAt(rule, 'self')) unknownSources.push(`${prefix}self`);
  if (get(rule, 'self') === true) otherSources.push('self');
  return { protocol, from, to, cidrs, otherSources, unknownPorts, unknownSources, where };
}

/** GCP port specs: `"22"`, `"1000-2000"`; none means every port. */
function gcpPortRanges(ports: string[]): Array<[number, number]> {
  if (ports.length === 0) return [[0, 65535]];
  return ports.map((p) => {
    const [a, b] = p.split('-');
    return [Number(a), Number(b ?? a)] as [number, number];
  });
}

function gcpRules(props: unknown): IngressRule[] | undefined {
  if (unknownAt(props, 'direction')) return [unknownRule('direction', 'direction')];
  if (String(get(props, 'direction') ?? 'INGRESS').toUpperCase() !== 'INGRESS') return undefined;
  if (unknownAt(props, 'allows')) return [unknownRule('allows', 'allows')];
  const unknownSources: string[] = [];
  const ranges = knownStrings(props, 'sourceRanges', unknownSources);
  const others = [
    ...knownStrings(props, 'sourceTags', unknownSources),
    ...knownStrings(props, 'sourceServiceAccounts', unknownSources),
  ];
  // An ingress rule without any source applies to 0.0.0.0/0 (GCP firewall documentation) - but only
  // when the sources are known to be empty, not while they are still unknown.
  if (ranges.length === 0 && others.length === 0 && unknownSources.length === 0) ranges.push('0.0.0.0/0');
  const rules: IngressRule[] = [];
  arrayOf(get(props, 'allows')).forEach((allow, i) => {
    const where = `allows[${i}]`;
    const unknownPorts = unknownProps(allow, ['protocol', 'ports'], `${where}.`);
    const protocol = normaliseProtocol(get(allow, 'protocol'));
    const portSpecs = knownStrings(allow, 'ports', unknownPorts, `${where}.ports`);
    const ranges_ = protocol === 'all' ? [[0, 65535] as [number, number]] : gcpPortRanges(portSpecs);
    for (const [from, to] of ranges_)
      rules.push({
        protocol,
        from,
        to,
        cidrs: ranges,
        otherSources: others,
        unknownPorts: [...new Set(unknownPorts)],
        unknownSources,
        where,
      });
  });
  return rules;
}

/** A rule about which nothing can be said yet (its whole list, or its direction, is unknown). */
function unknownRule(where: string, prop: string): IngressRule {
  return {
    protocol: 'all',
    from: 0,
    to: 65535,
    cidrs: [],
    otherSources: [],
    unknownPorts: [prop],
    unknownSources: [prop],
    where,
  };
}

/** The ingress rules of a resource, or `undefined` when it holds none (not a rule resource, egress). */
export function ingressRules(type: string, props: unknown): IngressRule[] | undefined {
  switch (type) {
    case TYPES.awsSecurityGroup:
      if (unknownAt(props, 'ingress')) return [unknownRule('ingress', 'ingress')];
      return arrayOf(get(props, 'ingress')).map((rule, i) => awsRule(rule, `ingress[${i}]`, `ingress[${i}].`));
    case TYPES.awsSecurityGroupRule:
      if (unknownAt(props, 'type')) return [unknownRule('rule', 'type')];
      return get(props, 'type') === 'ingress' ? [awsRule(props, 'rule', '')] : undefined;
    case TYPES.awsVpcIngressRule:
      return [awsRule(props, 'rule', '')];
    case TYPES.gcpFirewall:
      return gcpRules(props);
    default:
      return undefined;
  }
}

export function describeRule(rule: IngressRule): string {
  const ports =
    rule.protocol === 'all'
      ? 'all traffic'
      : rule.from === rule.to
        ? `${rule.protocol} ${rule.from}`
        : `${rule.protocol} ${rule.from}-${rule.to}`;
  const sources = [...rule.cidrs, ...rule.otherSources];
  return `${ports} from ${sources.length > 0 ? sources.join(', ') : 'nowhere'}`;
}

/** What a policy concluded about one rule. */
export type Verdict = { kind: 'ok' } | { kind: 'violation' } | { kind: 'unknown'; props: string[] };

const OK: Verdict = { kind: 'ok' };
const VIOLATION: Verdict = { kind: 'violation' };

/**
 * The verdict on a rule whose sources must all satisfy `allowed`: a known source that does not is a
 * violation whatever the unknown ones turn out to be; otherwise unknown sources leave it open.
 */
function sourcesVerdict(rule: IngressRule, allowed: (cidr: string) => boolean, othersAllowed: boolean): Verdict {
  if (rule.cidrs.some((c) => !allowed(c)) || (!othersAllowed && rule.otherSources.length > 0)) return VIOLATION;
  if (rule.unknownSources.length > 0) return { kind: 'unknown', props: rule.unknownSources };
  return rule.cidrs.length > 0 || rule.otherSources.length > 0 ? OK : VIOLATION;
}

// ------------------------------------------------------------------------------------------------
// What a gateway may open.

export interface GatewayIngressRules {
  wireguardPorts: number[];
  healthPorts: number[];
  allowForwarding: boolean;
  adminPorts: number[];
  allowedAdminRanges: string[];
  allowIapTcpForwarding: boolean;
}

export const GATEWAY_INGRESS_RULE_DEFAULTS: GatewayIngressRules = {
  wireguardPorts: [WIREGUARD_PORT],
  healthPorts: [HEALTH_PORT],
  allowForwarding: true,
  adminPorts: [22, 3389],
  allowedAdminRanges: [],
  allowIapTcpForwarding: true,
};

const PORTS = { type: 'array' as const, items: { type: 'integer' as const, minimum: 1, maximum: 65535 } };

export const GATEWAY_INGRESS_RULE_SCHEMA: Record<keyof GatewayIngressRules, PolicyConfigJSONSchema> = {
  wireguardPorts: { ...PORTS, default: [WIREGUARD_PORT], description: 'WireGuard UDP ports gateways may open.' },
  healthPorts: { ...PORTS, default: [HEALTH_PORT], description: 'Agent TCP health ports gateways may open.' },
  allowForwarding: {
    type: 'boolean',
    default: true,
    description:
      'Accept all-protocol rules whose sources are all private ranges or security groups (local traffic the gateway forwards).',
  },
  adminPorts: {
    ...PORTS,
    default: [22, 3389],
    description: 'Administration TCP ports (SSH, RDP) that may be opened to allowedAdminRanges only.',
  },
  allowedAdminRanges: {
    type: 'array',
    items: { type: 'string' },
    default: [],
    description: 'CIDRs (your bastion or VPN ranges) from which a gateway may open its adminPorts, on AWS and GCP.',
  },
  allowIapTcpForwarding: {
    type: 'boolean',
    default: true,
    description: `Let GCP gateway firewalls open adminPorts to Google's IAP TCP forwarding range ${IAP_TCP_FORWARDING_RANGE} (SSH through IAP, no public SSH).`,
  },
};

/** The ranges admin ports may come from on a gateway of this cloud. */
export function adminRanges(config: GatewayIngressRules, gcp: boolean): string[] {
  return [...config.allowedAdminRanges, ...(gcp && config.allowIapTcpForwarding ? [IAP_TCP_FORWARDING_RANGE] : [])];
}

/** The verdict of the gateway ingress rules on one rule of a gateway's security group or firewall. */
export function gatewayRuleVerdict(rule: IngressRule, config: GatewayIngressRules, gcp: boolean): Verdict {
  if (rule.unknownPorts.length > 0) return { kind: 'unknown', props: rule.unknownPorts };
  const single = rule.from === rule.to;
  if (rule.protocol === 'udp' && single && config.wireguardPorts.includes(rule.from)) return OK;
  if (rule.protocol === 'tcp' && single && config.healthPorts.includes(rule.from)) return OK;
  const ranges = adminRanges(config, gcp);
  const onlyAdminPorts =
    rule.protocol === 'tcp' &&
    rule.to - rule.from < 16 &&
    Array.from({ length: rule.to - rule.from + 1 }, (_, i) => rule.from + i).every((p) =>
      config.adminPorts.includes(p),
    );
  if (onlyAdminPorts && ranges.length > 0)
    return sourcesVerdict(rule, (c) => ranges.some((r) => prefixWithin(c, r)), false);
  if (config.allowForwarding && rule.protocol === 'all')
    return sourcesVerdict(rule, (c) => isPrivateCidr(c) && !isAnywhere(c), true);
  return VIOLATION;
}

/** What to do about a gateway rule the verdict refused. */
export function gatewayRuleAdvice(config: GatewayIngressRules, gcp: boolean): string {
  const ranges = adminRanges(config, gcp);
  return (
    `a gateway opens only WireGuard (udp ${config.wireguardPorts.join(', ')}) and the agent health port (tcp ${config.healthPorts.join(', ')})` +
    `${config.allowForwarding ? ', plus all traffic from private ranges it forwards' : ''}` +
    `${ranges.length > 0 ? `, plus admin ports (tcp ${config.adminPorts.join(', ')}) from ${ranges.join(', ')}` : ''}. ` +
    `Remove the rule (administer through ${gcp ? `IAP TCP forwarding, whose rule allows only ${IAP_TCP_FORWARDING_RANGE}` : 'SSM Session Manager, which needs no inbound rule'}), ` +
    'list your own admin ranges in allowedAdminRanges, or, if it is the WireGuard or health port moved elsewhere, list the port in wireguardPorts/healthPorts.'
  );
}

/** The message of an advisory about a rule that could not be checked at preview. */
export function uncheckedRuleMessage(subject: string, rule: IngressRule, props: string[]): string {
  return (
    `could not check ${subject} (${rule.where}) at preview: ${[...new Set(props)].join(', ')} ${props.length > 1 ? 'are' : 'is'} not known yet ` +
    '(computed from resources not created yet). It is checked during the update, once known.'
  );
}

/** The verdict of the no-public-admin-ports rule: the admin ports a rule opens to anywhere, if any. */
export function publicAdminVerdict(
  rule: IngressRule,
  adminPorts: number[],
): { verdict: Verdict; ports: number[]; open: string[] } {
  const none = { verdict: OK, ports: [], open: [] };
  if (rule.unknownPorts.length > 0) {
    const couldBeOpen = rule.cidrs.some(isAnywhere) || rule.unknownSources.length > 0;
    return couldBeOpen
      ? {
          verdict: { kind: 'unknown', props: [...rule.unknownPorts, ...rule.unknownSources] },
          ports: adminPorts,
          open: [],
        }
      : none;
  }
  if (rule.protocol !== 'tcp' && rule.protocol !== 'all') return none;
  const ports = adminPorts.filter((p) => rule.from <= p && p <= rule.to);
  if (ports.length === 0) return none;
  const open = rule.cidrs.filter(isAnywhere);
  if (open.length > 0) return { verdict: VIOLATION, ports, open };
  if (rule.unknownSources.length > 0) return { verdict: { kind: 'unknown', props: rule.unknownSources }, ports, open };
  return none;
}
