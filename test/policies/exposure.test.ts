/**
 * Exposure: wiremesh-gateway-ingress, wiremesh-no-public-admin-ports, wiremesh-gateway-imdsv2 and
 * wiremesh-forwarding-only-on-gateways on the recorded component stack (compliant) and on
 * violating variants, recorded and hand-written.
 */
import { runPolicies, type RunnerResource, type Violation } from '../../policies/run';
import { dayAfterFirstKey, recordComponentStack, withProps } from './stacks';

let stack: RunnerResource[];
let now: Date;

beforeAll(async () => {
  ({ resources: stack } = await recordComponentStack());
  now = dayAfterFirstKey(stack);
}, 60_000);

function run(resources: RunnerResource[], policy: string, config: Record<string, unknown> = {}): Violation[] {
  return runPolicies(resources, { now, config }).filter((v) => v.policyName === policy);
}
const messages = (violations: Violation[]) => violations.map((v) => v.message);
const sg = (name: string, ingress: unknown[], tags: Record<string, string> = {}): RunnerResource => ({ type: 'aws:ec2/securityGroup:SecurityGroup', name, props: { ingress, tags } });
const firewall = (name: string, props: Record<string, unknown>): RunnerResource => ({ type: 'gcp:compute/firewall:Firewall', name, props: { network: 'vpc', ...props } });

describe('wiremesh-gateway-ingress', () => {
  const P = 'wiremesh-gateway-ingress';

  test('the component stack passes: WireGuard, health and private forwarding rules only', () => {
    expect(run(stack, P)).toEqual([]);
  });

  test('an extra port on a recorded gateway security group and firewall is reported, with what to change', () => {
    const variant = withProps(
      withProps(stack, 'site-a-sg', (p) => ({ ...p, ingress: [...p.ingress, { protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['10.0.0.0/8'] }] })),
      'site-b-wg',
      (p) => ({ ...p, allows: [...p.allows, { protocol: 'tcp', ports: ['8080-8090'] }] }),
    );
    expect(messages(run(variant, P))).toEqual([
      'gateway security group "site-a-sg" (part of a wiremesh:aws:AwsGateway component) ingress[3] opens tcp 443 from 10.0.0.0/8: a gateway opens only WireGuard (udp 51820) ' +
        'and the agent health port (tcp 9587), plus all traffic from private ranges it forwards. Remove the rule (administer through SSM Session Manager, which needs no inbound rule), ' +
        'list your own admin ranges in allowedAdminRanges, or, if it is the WireGuard or health port moved elsewhere, list the port in wireguardPorts/healthPorts.',
      expect.stringMatching(/^gateway firewall "site-b-wg" \(part of a wiremesh:gcp:GcpGateway component\) allows\[1\] opens tcp 8080-8090 from 198\.51\.100\.7\/32/),
    ]);
  });

  test('hand-written gateway rules (tag, network tag): a moved WireGuard port, public forwarding; ports are configurable', () => {
    const resources = [
      sg('manual-gw', [{ protocol: 'udp', fromPort: 51821, toPort: 51821, cidrBlocks: ['0.0.0.0/0'] }, { protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }], { 'wiremesh:role': 'gateway' }),
      firewall('manual-fw', { targetTags: ['wiremesh-gateway'], allows: [{ protocol: 'udp', ports: ['51820'] }, { protocol: 'tcp', ports: ['9587'] }], sourceRanges: ['203.0.113.0/24'] }),
      sg('not-a-gateway', [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }]),
      { type: 'aws:ec2/securityGroupRule:SecurityGroupRule', name: 'rule', props: { type: 'ingress', protocol: 'tcp', fromPort: 80, toPort: 80, cidrBlocks: ['10.0.0.0/8'], tags: { 'wiremesh:role': 'gateway' } } },
    ] as RunnerResource[];
    expect(run(resources, P).map((v) => [v.resourceName, v.message.match(/opens ([^:]+):/)![1]])).toEqual([
      ['manual-gw', 'udp 51821 from 0.0.0.0/0'],
      ['manual-gw', 'all traffic from 0.0.0.0/0'],
      ['rule', 'tcp 80 from 10.0.0.0/8'],
    ]);
    // Port 51821 allowed instead of 51820: manual-gw keeps only its public all-traffic rule, manual-fw's 51820 is now refused.
    expect(run(resources, P, { [P]: { wireguardPorts: [51821], allowForwarding: false } }).map((v) => v.resourceName)).toEqual(['manual-gw', 'manual-fw', 'rule']);
    expect(run(resources, P, { [P]: { scope: 'all' } }).map((v) => v.resourceName)).toContain('not-a-gateway');
  });
});

describe('wiremesh-no-public-admin-ports', () => {
  const P = 'wiremesh-no-public-admin-ports';

  test('the component stack passes', () => {
    expect(run(stack, P)).toEqual([]);
  });

  test('SSH/RDP from anywhere on any security group, rule or firewall (including a source-less GCP rule)', () => {
    const resources = [
      sg('bastion', [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] }, { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['198.51.100.0/24'] }]),
      sg('windows', [{ protocol: '-1', fromPort: 0, toPort: 0, ipv6CidrBlocks: ['::/0'] }]),
      { type: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule', name: 'range', props: { ipProtocol: 'tcp', fromPort: 20, toPort: 25, cidrIpv4: '0.0.0.0/0' } },
      firewall('no-source', { allows: [{ protocol: 'tcp', ports: ['22', '3389'] }] }),
      firewall('scoped', { allows: [{ protocol: 'tcp', ports: ['22'] }], sourceRanges: ['35.235.240.0/20'] }),
      firewall('egress', { direction: 'EGRESS', allows: [{ protocol: 'tcp', ports: ['22'] }], destinationRanges: ['0.0.0.0/0'] }),
    ] as RunnerResource[];
    expect(messages(run(resources, P))).toEqual([
      '"bastion" ingress[0] opens SSH (22) to 0.0.0.0/0: remove the rule, or allow only your admin ranges ' +
        '(better: no inbound SSH at all, through SSM Session Manager on AWS, or IAP TCP forwarding on GCP, which needs only 35.235.240.0/20).',
      expect.stringMatching(/^"windows" ingress\[0\] opens SSH \(22\) and RDP \(3389\) to ::\/0:/),
      expect.stringMatching(/^"range" rule opens SSH \(22\) to 0\.0\.0\.0\/0/),
      expect.stringMatching(/^"no-source" allows\[0\] opens SSH \(22\) to 0\.0\.0\.0\/0/),
      expect.stringMatching(/^"no-source" allows\[0\] opens RDP \(3389\) to 0\.0\.0\.0\/0/),
    ]);
  });
});

describe('wiremesh-gateway-imdsv2', () => {
  const P = 'wiremesh-gateway-imdsv2';

  test('the component stack passes (httpTokens required, hop limit 1)', () => {
    expect(run(stack, P)).toEqual([]);
  });

  test('a recorded gateway instance with IMDSv1 or a large hop limit, and a hand-written forwarding instance', () => {
    const variant = withProps(stack, 'site-a-instance-1', (p) => ({ ...p, metadataOptions: { ...p.metadataOptions, httpTokens: 'optional', httpPutResponseHopLimit: 5 } }));
    expect(messages(run(variant, P))).toEqual([
      'instance "site-a-instance-1" (gateway: part of a wiremesh:aws:AwsGateway component) allows IMDSv1 (metadataOptions.httpTokens is "optional"): ' +
        'set metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 } so that a forged request cannot read the instance role\'s credentials.',
      'instance "site-a-instance-1" (gateway: part of a wiremesh:aws:AwsGateway component) has metadataOptions.httpPutResponseHopLimit 5: set it to at most 2 (1 unless the agent runs in a container).',
    ]);
    const handWritten: RunnerResource[] = [
      { type: 'aws:ec2/instance:Instance', name: 'router', props: { sourceDestCheck: false, tags: { 'wiremesh:role': 'gateway' } } },
      { type: 'aws:ec2/launchTemplate:LaunchTemplate', name: 'gw-template', props: { tags: { 'wiremesh:role': 'gateway' }, metadataOptions: { httpTokens: 'required' } } },
      { type: 'aws:ec2/instance:Instance', name: 'web', props: {} },
    ];
    expect(run(handWritten, P).map((v) => [v.resourceName, v.message.split(': set')[0]])).toEqual([
      ['router', 'instance "router" (gateway: tagged wiremesh:role=gateway) allows IMDSv1 (metadataOptions.httpTokens is not set)'],
    ]);
    expect(run(handWritten, P, { [P]: { scope: 'all' } }).map((v) => v.resourceName)).toEqual(['router', 'web']);
  });
});

describe('wiremesh-forwarding-only-on-gateways', () => {
  const P = 'wiremesh-forwarding-only-on-gateways';

  test('the component stack passes (forwarding on its gateway instances and ENIs only)', () => {
    expect(run(stack, P)).toEqual([]);
    expect(stack.filter((r) => r.props.sourceDestCheck === false || r.props.canIpForward === true).length).toBeGreaterThanOrEqual(8);
  });

  test('forwarding on hand-written machines that are not gateways is reported; marked ones pass', () => {
    const resources: RunnerResource[] = [
      { type: 'aws:ec2/instance:Instance', name: 'nat', props: { sourceDestCheck: false } },
      { type: 'aws:ec2/networkInterface:NetworkInterface', name: 'eni', props: { sourceDestCheck: false } },
      { type: 'gcp:compute/instance:Instance', name: 'router', props: { canIpForward: true, tags: ['web'] } },
      { type: 'gcp:compute/instanceTemplate:InstanceTemplate', name: 'tpl', props: { canIpForward: true, labels: { 'wiremesh-role': 'wireguard-gateway' } } },
      { type: 'gcp:compute/instance:Instance', name: 'gw', props: { canIpForward: true, tags: ['wiremesh-gateway'] } },
    ];
    const found = run(resources, P);
    expect(found.map((v) => v.resourceName)).toEqual(['nat', 'eni', 'router']);
    expect(found[0]!.message).toBe(
      'Instance "nat" sets sourceDestCheck: false but is not a WireGuard gateway: remove sourceDestCheck: false (it lets the machine send and receive packets for other addresses), ' +
        'or, if it is a gateway, create it with our gateway components or mark it (AWS tag wiremesh:role=gateway, GCP label wiremesh-role=wireguard-gateway or network tag wiremesh-gateway).',
    );
  });

  test('a recorded gateway instance moved out of its component (no tag, no parent) is reported', () => {
    const moved = stack
      .filter((r) => r.name === 'site-b-0')
      .map((r) => ({ type: r.type, name: r.name, props: { ...r.props, tags: [], labels: {} } }));
    expect(run(moved, P).map((v) => v.resourceName)).toEqual(['site-b-0']);
  });
});
