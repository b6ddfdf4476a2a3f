/**
 * `wiremesh-gateway-attached-ingress` (stack policy): ingress aimed at a gateway from outside what
 * `wiremesh-gateway-ingress` sees on one resource. A security group rule
 * (`aws.ec2.SecurityGroupRule`, `aws.vpc.SecurityGroupIngressRule`) whose `securityGroupId` is a
 * gateway's security group, a hand-written security group (inline `ingress`) attached to a gateway
 * instance, launch template or network interface, and a GCP firewall whose `targetTags` name a
 * network tag a gateway instance carries or whose `targetServiceAccounts` name a gateway's service
 * account: each is checked with the same rules as the gateway's own (ingress.ts).
 *
 * References are followed by value (ids, names, emails) and, at preview when ids are still
 * unknown, by the engine's property dependencies. Resources that are gateway resources themselves
 * are left to `wiremesh-gateway-ingress` (no double reports). A GCP firewall without targets applies
 * to every instance of its network, gateways included; it is not followed (it names no gateway).
 */
import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from '@pulumi/policy';
import {
  arrayOf,
  configWithDefaults,
  DEFAULT_GATEWAY_IDENTIFICATION,
  gatewayReason,
  GATEWAY_IDENTIFICATION_SCHEMA,
  get,
  known,
  reportAdvisory,
  TYPES,
  type GatewayIdentification,
} from './common';
import { ruleResourceKind } from './exposure';
import {
  describeRule,
  GATEWAY_INGRESS_RULE_DEFAULTS,
  GATEWAY_INGRESS_RULE_SCHEMA,
  gatewayRuleAdvice,
  gatewayRuleVerdict,
  ingressRules,
  uncheckedRuleMessage,
  type GatewayIngressRules,
} from './ingress';
import { idsOf, refersTo } from './key-secrets';

export type AttachedIngressConfig = GatewayIdentification & GatewayIngressRules;

const NAME = 'wiremesh-gateway-attached-ingress';
const DESCRIPTION =
  'Rules and firewalls aimed at a gateway (through its security group, network tag or service account) open only what a gateway may open.';

const strs = (value: unknown): string[] => arrayOf(value).filter((v): v is string => typeof v === 'string');

/** The props through which an AWS machine names its security groups. */
const SG_REFERENCES: Record<string, string[]> = {
  [TYPES.awsInstance]: ['vpcSecurityGroupIds', 'securityGroups'],
  [TYPES.awsLaunchTemplate]: ['vpcSecurityGroupIds', 'securityGroupNames'],
  [TYPES.awsNetworkInterface]: ['securityGroups'],
};

/** A gateway machine's security group references: values and the resources they depend on. */
function securityGroupRefs(machine: PolicyResource): { values: Set<string>; urns: Set<string> } {
  const values = new Set<string>();
  const urns = new Set<string>();
  for (const prop of SG_REFERENCES[machine.type] ?? []) {
    for (const v of strs(get(machine.props, prop))) values.add(v);
    for (const d of machine.propertyDependencies?.[prop] ?? []) urns.add(d.urn);
  }
  // Launch templates also name them per network interface.
  for (const nic of arrayOf(get(machine.props, 'networkInterfaces')))
    for (const v of strs(get(nic, 'securityGroups'))) values.add(v);
  for (const d of machine.propertyDependencies?.networkInterfaces ?? []) urns.add(d.urn);
  return { values, urns };
}

interface Target {
  /** The rule resource and the gateway it is aimed at, for messages. */
  rule: PolicyResource;
  why: string;
}

function targets(resources: PolicyResource[], config: AttachedIngressConfig): Target[] {
  const isGateway = (r: PolicyResource) => known(() => gatewayReason(r.urn, r.props, config) !== undefined, false);
  const machines = resources.filter((r) => SG_REFERENCES[r.type] !== undefined && isGateway(r));
  const refs = machines.map((m) => ({ machine: m, ...securityGroupRefs(m) }));
  const securityGroups = resources.filter((r) => r.type === TYPES.awsSecurityGroup);
  /** Why a security group is a gateway's, or undefined. */
  const gatewaySg = (sg: PolicyResource): string | undefined => {
    if (isGateway(sg)) return `the gateway security group "${sg.name}"`;
    const ids = idsOf(sg);
    const user = refs.find((r) => r.urns.has(sg.urn) || ids.some((id) => r.values.has(id)));
    return user ? `security group "${sg.name}" of the gateway "${user.machine.name}"` : undefined;
  };

  const gcpGateways = resources.filter(
    (r) => (r.type === TYPES.gcpInstance || r.type === TYPES.gcpInstanceTemplate) && isGateway(r),
  );
  const gatewayTags = new Map<string, string>();
  const gatewayAccounts = new Map<string, string>();
  const gatewayAccountUrns = new Map<string, string>();
  for (const g of gcpGateways) {
    for (const tag of strs(get(g.props, 'tags'))) if (!gatewayTags.has(tag)) gatewayTags.set(tag, g.name);
    const accounts = [get(g.props, 'serviceAccount'), ...arrayOf(get(g.props, 'serviceAccounts'))];
    for (const a of accounts) {
      const email = get(a, 'email');
      if (typeof email === 'string' && !gatewayAccounts.has(email)) gatewayAccounts.set(email, g.name);
    }
    for (const d of [
      ...(g.propertyDependencies?.serviceAccount ?? []),
      ...(g.propertyDependencies?.serviceAccounts ?? []),
    ])
      if (!gatewayAccountUrns.has(d.urn)) gatewayAccountUrns.set(d.urn, g.name);
  }

  const out: Target[] = [];
  for (const r of resources) {
    if (isGateway(r)) continue; // wiremesh-gateway-ingress checks it
    known(() => {
      if (r.type === TYPES.awsSecurityGroup) {
        const why = gatewaySg(r);
        if (why) out.push({ rule: r, why: `attached to a gateway as ${why}` });
      } else if (r.type === TYPES.awsSecurityGroupRule || r.type === TYPES.awsVpcIngressRule) {
        const sg = securityGroups
          .map((s) => ({ s, why: refersTo(r, 'securityGroupId', s) ? gatewaySg(s) : undefined }))
          .find((x) => x.why);
        if (sg) out.push({ rule: r, why: `a rule of ${sg.why}` });
      } else if (r.type === TYPES.gcpFirewall) {
        if (strs(get(r.props, 'targetTags')).some((t) => config.gatewayNetworkTags.includes(t))) return; // wiremesh-gateway-ingress checks it
        const tag = strs(get(r.props, 'targetTags')).find((t) => gatewayTags.has(t));
        if (tag) {
          out.push({ rule: r, why: `targets the network tag ${tag} of the gateway "${gatewayTags.get(tag)}"` });
          return;
        }
        const email = strs(get(r.props, 'targetServiceAccounts')).find((e) => gatewayAccounts.has(e));
        const dep = (r.propertyDependencies?.targetServiceAccounts ?? []).find((d) => gatewayAccountUrns.has(d.urn));
        if (email)
          out.push({
            rule: r,
            why: `targets the service account ${email} of the gateway "${gatewayAccounts.get(email)}"`,
          });
        else if (dep)
          out.push({ rule: r, why: `targets the service account of the gateway "${gatewayAccountUrns.get(dep.urn)}"` });
      }
    }, undefined);
  }
  return out;
}

export const gatewayAttachedIngress: StackValidationPolicy = {
  name: NAME,
  description: DESCRIPTION,
  enforcementLevel: 'mandatory',
  severity: 'high',
  configSchema: { properties: { ...GATEWAY_IDENTIFICATION_SCHEMA, ...GATEWAY_INGRESS_RULE_SCHEMA } },
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const config = configWithDefaults<AttachedIngressConfig>(
      { ...DEFAULT_GATEWAY_IDENTIFICATION, ...GATEWAY_INGRESS_RULE_DEFAULTS },
      args.getConfig<Record<string, unknown>>(),
    );
    for (const { rule: resource, why } of targets(args.resources, config)) {
      const rules = known(() => ingressRules(resource.type, resource.props), undefined) ?? [];
      const gcp = resource.type === TYPES.gcpFirewall;
      const what = `${ruleResourceKind(resource.type)} "${resource.name}" (${why})`;
      for (const rule of rules) {
        const verdict = gatewayRuleVerdict(rule, config, gcp);
        if (verdict.kind === 'unknown')
          reportAdvisory(
            reportViolation,
            { name: NAME, description: DESCRIPTION },
            uncheckedRuleMessage(what, rule, verdict.props),
            resource.urn,
          );
        else if (verdict.kind === 'violation')
          reportViolation(
            `${what} ${rule.where} opens ${describeRule(rule)}: ${gatewayRuleAdvice(config, gcp)}`,
            resource.urn,
          );
      }
    }
  },
};
