/**
 * Preview unknowns (issue 14): at the first preview, values computed from resources not created yet
 * are unknown. They must never be read as the worst case (a GCP firewall with unknown sourceRanges
 * as open to 0.0.0.0/0) or an impossible one (a security group rule with unknown CIDRs as "from
 * nowhere"): the policy says, at advisory level, what it could not check; known violations in the
 * same rule are still reported.
 */
import { mandatory, runPolicies, type RunnerResource, type Violation } from '../../policies/run';
import { componentStack, withProps } from './stacks';

/** What the engine sends for a value unknown at preview (`pulumi.runtime.unknownValue`). */
const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

let stack: RunnerResource[];
let now: Date;

beforeAll(async () => ({ stack, now } = await componentStack()), 60_000);

const run = (resources: RunnerResource[]): Violation[] => runPolicies(resources, { now });
const summary = (violations: Violation[]) => violations.map((v) => [v.policyName, v.enforcementLevel, v.resourceName]);

describe('preview unknowns are skipped with an advisory, never read as the worst case', () => {
  test('a recorded GCP gateway firewall whose sourceRanges are unknown is not open to 0.0.0.0/0', () => {
    const preview = withProps(stack, 'site-b-fwd', (p) => ({ ...p, sourceRanges: UNKNOWN }));
    const found = run(preview);
    expect(mandatory(found)).toEqual([]);
    // All traffic from unknown sources: both the gateway rule and "no SSH from anywhere" wait for the update.
    expect(summary(found)).toEqual([
      ['wiremesh-gateway-ingress', 'advisory', 'site-b-fwd'],
      ['wiremesh-no-public-admin-ports', 'advisory', 'site-b-fwd'],
    ]);
    expect(found[0]!.message).toBe(
      'could not check gateway firewall "site-b-fwd" (part of a wiremesh:gcp:GcpGateway component) (allows[0]) at preview: sourceRanges is not known yet ' +
        '(computed from resources not created yet). It is checked during the update, once known.',
    );
  });

  test('a recorded AWS gateway forwarding rule with unknown CIDRs (whole list or one element) is not "from nowhere"', () => {
    const forwarding = (cidrBlocks: unknown) =>
      withProps(stack, 'site-a-sg', (p) => ({
        ...p,
        ingress: p.ingress.map((rule: Record<string, unknown>) =>
          rule.protocol === '-1' ? { ...rule, cidrBlocks } : rule,
        ),
      }));
    for (const cidrBlocks of [UNKNOWN, ['10.0.0.0/16', UNKNOWN]]) {
      const found = run(forwarding(cidrBlocks));
      expect(summary(found)).toEqual([
        ['wiremesh-gateway-ingress', 'advisory', 'site-a-sg'],
        ['wiremesh-no-public-admin-ports', 'advisory', 'site-a-sg'],
      ]);
      expect(found[0]!.message).toMatch(
        /^could not check gateway security group "site-a-sg" .* \(ingress\[\d\]\) at preview: ingress\[\d\]\.cidrBlocks is not known yet/,
      );
    }
    // A known public source next to an unknown one is a violation whatever the unknown turns out to be.
    expect(summary(run(forwarding(['0.0.0.0/0', UNKNOWN])))).toEqual([
      ['wiremesh-gateway-ingress', 'mandatory', 'site-a-sg'],
      ['wiremesh-no-public-admin-ports', 'mandatory', 'site-a-sg'],
    ]);
  });

  test('SSH with unknown sources or ports: an advisory from no-public-admin-ports, not a violation', () => {
    const resources: RunnerResource[] = [
      {
        type: 'gcp:compute/firewall:Firewall',
        name: 'admin',
        props: { network: 'vpc', allows: [{ protocol: 'tcp', ports: ['22'] }], sourceRanges: UNKNOWN },
      },
      {
        type: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
        name: 'ssh',
        props: { ipProtocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: UNKNOWN },
      },
      {
        type: 'aws:ec2/securityGroupRule:SecurityGroupRule',
        name: 'ports',
        props: { type: 'ingress', protocol: 'tcp', fromPort: UNKNOWN, toPort: UNKNOWN, cidrBlocks: ['0.0.0.0/0'] },
      },
      // Unknown ports but a private source: SSH from the internet is ruled out, nothing to say.
      {
        type: 'aws:ec2/securityGroupRule:SecurityGroupRule',
        name: 'private',
        props: { type: 'ingress', protocol: 'tcp', fromPort: UNKNOWN, toPort: UNKNOWN, cidrBlocks: ['10.0.0.0/8'] },
      },
    ];
    const found = run(resources);
    expect(summary(found)).toEqual([
      ['wiremesh-no-public-admin-ports', 'advisory', 'admin'],
      ['wiremesh-no-public-admin-ports', 'advisory', 'ssh'],
      ['wiremesh-no-public-admin-ports', 'advisory', 'ports'],
    ]);
    expect(found[0]!.message).toMatch(
      /^could not check whether "admin" opens SSH \(22\) to the internet \(allows\[0\]\) at preview: sourceRanges is not known yet/,
    );
    // Known: still reported (a source-less GCP rule is open to everyone).
    const known = run([
      {
        type: 'gcp:compute/firewall:Firewall',
        name: 'admin',
        props: { network: 'vpc', allows: [{ protocol: 'tcp', ports: ['22'] }] },
      },
    ]);
    expect(summary(known)).toEqual([['wiremesh-no-public-admin-ports', 'mandatory', 'admin']]);
  });

  test('IMDSv2 and forwarding: unknown httpTokens or tags are not "IMDSv1" or "not a gateway"', () => {
    const instance = withProps(stack, 'site-a-instance-0', (p) => ({
      ...p,
      metadataOptions: { ...p.metadataOptions, httpTokens: UNKNOWN },
    }));
    expect(summary(run(instance))).toEqual([['wiremesh-gateway-imdsv2', 'advisory', 'site-a-instance-0']]);
    const router: RunnerResource = {
      type: 'aws:ec2/instance:Instance',
      name: 'router',
      props: { sourceDestCheck: false, tags: UNKNOWN, metadataOptions: { httpTokens: 'required' } },
    };
    expect(summary(run([router]))).toEqual([['wiremesh-forwarding-only-on-gateways', 'advisory', 'router']]);
  });
});
